/**
 * customers.json: `[{ key, name, jobs: [{ key, statement, desired_outcome, examples? }] }]`.
 * A bad customer or job is reported with its index and field and left out; the rest still loads:
 * a bad job leaves out that job only, not its customer (whose feedback would then be refused as
 * from an unknown customer). A desired outcome may be empty (not written yet), as on the jobs page.
 */
import { z } from 'zod';
import { arrayElementLines, parseJson, readTextFile } from './text.ts';
import { JOB_TEXT_MAX, jobTextTooLong, type CustomerDef, type ImportIssue } from './types.ts';

const text = z.string({ error: 'expected a non-empty string' }).trim().min(1, 'expected a non-empty string');

// As on the jobs page (saveJob): a longer one could not be edited there.
const sentence = (t: z.ZodString) =>
  t.max(JOB_TEXT_MAX, {
    error: (issue) => jobTextTooLong((issue.input as string).length),
  });
const jobSchema = z.object({
  key: text,
  statement: sentence(text),
  desired_outcome: sentence(z.string({ error: 'expected a string (it may be empty)' }).trim()),
  examples: z.array(text, { error: 'expected a list of sentences' }).optional(),
});

const customerSchema = z.object({
  key: text,
  name: text,
  // Each job is checked on its own (below).
  jobs: z.array(z.unknown(), { error: 'expected a list of jobs' }),
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
  const lines = arrayElementLines(read.text);
  data.forEach((entry: unknown, index) => {
    // Where the customer's entry starts: its errors, and its jobs', name that line.
    const line = lines[index] ?? null;
    const parsed = customerSchema.safeParse(entry);
    if (!parsed.success) {
      errors.push(...zodIssues(file, line, `[${index}]`, parsed.error));
      return;
    }
    const c = parsed.data;
    const seen = firstIndexOfKey.get(c.key);
    if (seen !== undefined) {
      errors.push({
        file,
        line,
        field: `[${index}].key`,
        message: `[${index}].key: customer key "${c.key}" is already used by entry [${seen}]: expected unique keys`,
      });
      return;
    }
    const jobs: CustomerDef['jobs'] = [];
    c.jobs.forEach((raw, j) => {
      const prefix = `[${index}].jobs[${j}]`;
      const job = jobSchema.safeParse(raw);
      if (!job.success) {
        errors.push(...zodIssues(file, line, prefix, job.error));
        return;
      }
      if (jobs.some((known) => known.key === job.data.key)) {
        const field = `${prefix}.key`;
        errors.push({
          file,
          line,
          field,
          message: `${field}: job key "${job.data.key}" appears twice in customer "${c.key}": expected unique job keys`,
        });
        return;
      }
      jobs.push({
        key: job.data.key,
        statement: job.data.statement,
        desiredOutcome: job.data.desired_outcome,
        examples: job.data.examples ?? [],
      });
    });
    firstIndexOfKey.set(c.key, index);
    customers.push({ key: c.key, name: c.name, jobs });
  });
  return { customers, errors };
}
