/**
 * customers.json: `[{ key, name, jobs: [{ key, statement, desired_outcome, examples? }] }]`.
 * A bad entry is reported with its index and field and left out; the good ones still load.
 */
import { z } from 'zod';
import { parseJson, readTextFile } from './text.ts';
import type { CustomerDef, ImportIssue } from './types.ts';

const text = z.string({ error: 'expected a non-empty string' }).trim().min(1, 'expected a non-empty string');

const jobSchema = z.object({
  key: text,
  statement: text,
  desired_outcome: text,
  examples: z.array(text, { error: 'expected a list of sentences' }).optional(),
});

const customerSchema = z.object({
  key: text,
  name: text,
  jobs: z.array(jobSchema, { error: 'expected a list of jobs' }),
});

/** `[3].jobs[0].statement` from zod's path. */
export function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, part) => (typeof part === 'number' ? `${out}[${part}]` : `${out}${out ? '.' : ''}${String(part)}`),
    prefix,
  );
}

export function zodIssues(
  file: string,
  line: number | null,
  prefix: string,
  error: z.ZodError,
): ImportIssue[] {
  return error.issues.map((i) => {
    const field = fieldPath(prefix, i.path);
    return { file, line, field, message: `${field}: ${i.message}` };
  });
}

export async function parseCustomers(
  file: string,
): Promise<{ customers: CustomerDef[]; errors: ImportIssue[] }> {
  const read = await readTextFile(file);
  if ('error' in read) return { customers: [], errors: [read.error] };
  const json = parseJson(file, read.text, 'a list of customers');
  if ('error' in json) return { customers: [], errors: [json.error] };
  const data = json.value;
  if (!Array.isArray(data)) {
    return {
      customers: [],
      errors: [
        {
          file,
          line: null,
          message: 'expected a JSON list of customers: [{ "key", "name", "jobs": [...] }]',
        },
      ],
    };
  }

  const customers: CustomerDef[] = [];
  const errors: ImportIssue[] = [];
  const firstIndexOfKey = new Map<string, number>();
  data.forEach((entry: unknown, index) => {
    const parsed = customerSchema.safeParse(entry);
    if (!parsed.success) {
      errors.push(...zodIssues(file, null, `[${index}]`, parsed.error));
      return;
    }
    const c = parsed.data;
    const seen = firstIndexOfKey.get(c.key);
    if (seen !== undefined) {
      errors.push({
        file,
        line: null,
        field: `[${index}].key`,
        message: `[${index}].key: customer key "${c.key}" is already used by entry [${seen}]: expected unique keys`,
      });
      return;
    }
    const jobKeys = new Set<string>();
    const dupJob = c.jobs.findIndex((j) => jobKeys.size === jobKeys.add(j.key).size);
    if (dupJob !== -1) {
      const field = `[${index}].jobs[${dupJob}].key`;
      errors.push({
        file,
        line: null,
        field,
        message: `${field}: job key "${c.jobs[dupJob]?.key}" appears twice in customer "${c.key}": expected unique job keys`,
      });
      return;
    }
    firstIndexOfKey.set(c.key, index);
    customers.push({
      key: c.key,
      name: c.name,
      jobs: c.jobs.map((j) => ({
        key: j.key,
        statement: j.statement,
        desiredOutcome: j.desired_outcome,
        examples: j.examples ?? [],
      })),
    });
  });
  return { customers, errors };
}
