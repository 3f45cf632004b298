/**
 * The `gapmap` command. Every subcommand parses the environment once (app/env.ts), opens only
 * what it needs, and prints people-readable text, or stable JSON with --json (see README.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from './env.ts';
import { GapmapError, errorMessage, issueLines } from './errors.ts';
import { CONFIRM_FIELDS, type ConfirmField } from '../classifiers/types.ts';
import { openDatabase, queueMode, withDb } from './context.ts';
import type { ImportOptions } from './importer.ts';
import { importInProcess } from './pipeline.ts';
import { createProgress } from './progress.ts';
import { loadClassifier } from './classifier.ts';
import { createQueueClient } from '../workers/queues.ts';
import {
  createImportRun,
  getCustomerByKey,
  listCustomers,
  listImportRuns,
  unitsWithTags,
} from '../db/queries.ts';
import { mapJson } from './map.ts';
import { renderMap, truncate } from './render.ts';
import { waitForRun } from './wait.ts';
import { runJson, unitJson, type RunRow } from './json.ts';
import { formatRunLlm, llmByRun, type RunLlm } from './llm.ts';
import { registerLlmCommands } from './cli-llm.ts';
import type { DbHandle } from '../db/client.ts';
import type { SurveyColumns } from '../ingest/surveys.ts';
import { registerConnectorCommands } from './cli-connectors.ts';
import { registerUserCommands } from './cli-users.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_BUNDLE = path.join(ROOT, 'demo', 'bundle');

const program = new Command('gapmap')
  .description(
    'Tag customer feedback with jobs, kinds and sentiment, and build a Value Gap Map per customer.',
  )
  .showHelpAfterError()
  // Usage errors (an unknown flag or command, a missing value) are bad input: exit code 2, as every
  // other; commander prints its message and throws instead of exiting (main).
  .exitOverride();

/** A flag's whole number from `min` to `max`, or bad input naming the flag. */
function wholeNumber(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || n < min || n > max)
      throw new GapmapError(
        'bad_input',
        `${flag}: expected a whole number from ${min} to ${max}, got "${value}"`,
      );
    return n;
  };
}

const print = (s: string) => process.stdout.write(s + '\n');

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

interface ImportFlags {
  customer?: string;
  speakers?: string[];
  author?: string;
  wait?: boolean;
  json?: boolean;
  colResponseId?: string;
  colCustomer?: string;
  colSubmittedAt?: string;
  colQuestion?: string;
  colAnswer?: string;
  colScore?: string;
}

program
  .command('import')
  .description(
    'import a bundle folder (BUNDLE.md) or one file: customers.json, surveys CSV, tickets JSONL, Zendesk JSON export, transcript, notes',
  )
  .argument('<path>', 'bundle folder or file')
  .option('--customer <key>', 'customer of a file that does not name one')
  .option('--speakers <names>', 'customer speakers of a transcript, comma-separated', list)
  .option('--author <name>', 'author of a notes file')
  .option('--wait', 'with queues: return once every unit is classified and the maps are updated')
  .option('--json', 'print the import run as JSON')
  .addOption(new Option('--col-response-id <header>', 'survey CSV column holding the response id'))
  .addOption(new Option('--col-customer <header>', 'survey CSV column holding the customer key'))
  .addOption(new Option('--col-submitted-at <header>', 'survey CSV column holding the submission time'))
  .addOption(new Option('--col-question <header>', 'survey CSV column holding the question'))
  .addOption(new Option('--col-answer <header>', 'survey CSV column holding the answer'))
  .addOption(new Option('--col-score <header>', 'survey CSV column holding the 0-10 score'))
  .action(async (p: string, flags: ImportFlags) => {
    const columns: SurveyColumns = {};
    if (flags.colResponseId) columns.response_id = flags.colResponseId;
    if (flags.colCustomer) columns.customer = flags.colCustomer;
    if (flags.colSubmittedAt) columns.submitted_at = flags.colSubmittedAt;
    if (flags.colQuestion) columns.question = flags.colQuestion;
    if (flags.colAnswer) columns.answer = flags.colAnswer;
    if (flags.colScore) columns.score = flags.colScore;
    const opts: ImportOptions = {
      path: path.resolve(p),
      customer: flags.customer,
      speakers: flags.speakers,
      author: flags.author,
      columns: Object.keys(columns).length ? columns : undefined,
    };
    await withDb(async (handle, config) => {
      if (queueMode(config)) {
        // The worker reads the path (a shared disk): one that is not there now is said now, not
        // found later as a failed run by whoever looks at `gapmap imports`.
        if (!fs.existsSync(opts.path))
          throw new GapmapError('not_found', `${opts.path}: no such file or folder`);
        const queue = await createQueueClient(config);
        try {
          const run = await createImportRun(handle.db, { source: opts.path, kind: 'file', status: 'queued' });
          await queue.enqueue('ingest', {
            runId: run.id,
            path: opts.path,
            customer: opts.customer,
            speakers: opts.speakers,
            author: opts.author,
            columns: opts.columns,
          });
          // A queued import with no worker to take it waits for good: say so (CLIENT LIST, which
          // some hosted Redis refuse: then nothing is said).
          const workers = await queue.queues.ingest.getWorkersCount().catch(() => undefined);
          if (workers === 0)
            console.error(
              `gapmap: no worker is connected to this Redis (queue prefix "${config.queuePrefix}"): import run ${run.id} waits in the queue until one runs (gapmap worker)`,
            );
          if (!flags.wait) {
            if (flags.json) print(JSON.stringify({ run_id: run.id, status: 'queued' }));
            else print(`import run ${run.id} queued; \`gapmap imports\` shows its progress (or pass --wait)`);
            return;
          }
          const done = await waitForRun(handle.db, run.id, { progress: !flags.json });
          printRun(done, Boolean(flags.json));
        } finally {
          await queue.close();
        }
        return;
      }
      const result = await importInProcess(handle, config, opts, !flags.json);
      const [run] = (await listImportRuns(handle.db, { limit: 50 })).filter((r) => r.id === result.runId);
      printRun(run!, Boolean(flags.json), (await llmByRun(handle.db, [result.runId])).get(result.runId));
    });
  });

function printRun(r: RunRow, json: boolean, llm?: RunLlm) {
  if (json) {
    print(JSON.stringify(runJson(r, llm)));
    return;
  }
  const c = r.counts;
  print(
    `import run ${r.id} ${r.status}${r.kind === 'connector' ? ` (${r.source}${r.finishedAt ? `, ${((r.finishedAt.getTime() - r.startedAt.getTime()) / 1000).toFixed(1)} s` : ''})` : ''}: items ${c.itemsNew} new, ${c.itemsUpdated} updated, ${c.itemsUnchanged} unchanged; ` +
      `units ${c.unitsNew} new, ${c.unitsUpdated} updated, ${c.unitsUnchanged} unchanged, ${c.unitsRemoved} removed; ${c.errors} errors`,
  );
  if (llm) print(`  ${formatRunLlm(llm)}`);
  if (r.error) print(`  failed: ${r.error}`);
  for (const line of issueLines(r.errors, 'gapmap imports --json lists them all')) print(line);
}

program
  .command('imports')
  .description('list import runs with their counts and errors')
  .option('--json', 'one JSON object per line')
  .option('--limit <n>', 'how many runs', wholeNumber('--limit', 1, 1_000_000), 20)
  .action(async (flags: { json?: boolean; limit: number }) => {
    await withDb(async (handle) => {
      const runs = await listImportRuns(handle.db, { limit: flags.limit });
      const llm = await llmByRun(
        handle.db,
        runs.map((r) => r.id),
      );
      if (flags.json) {
        for (const r of runs) print(JSON.stringify(runJson(r, llm.get(r.id))));
        return;
      }
      if (runs.length === 0) return print('no import runs yet: gapmap import <folder or file>');
      for (const r of runs) printRun(r, false, llm.get(r.id));
    });
  });

program
  .command('customers')
  .description('list customers with their jobs')
  .option('--json', 'JSON array')
  .action(async (flags: { json?: boolean }) => {
    await withDb(async (handle) => {
      const rows = await listCustomers(handle.db);
      const out = rows.map((c) => ({
        key: c.key,
        name: c.name,
        units: c.units,
        jobs: c.jobs.map((j) => ({
          key: j.key,
          statement: j.statement,
          desired_outcome: j.desiredOutcome,
          examples: j.examples,
        })),
      }));
      if (flags.json) return print(JSON.stringify(out));
      if (out.length === 0) return print('no customers yet: import a customers.json or a bundle folder');
      for (const c of out) {
        print(`${c.key}  ${c.name}  (${c.units} units)`);
        for (const j of c.jobs) print(`  - ${j.key}: ${j.statement}`);
      }
    });
  });

async function customerOrFail(handle: DbHandle, key: string | undefined) {
  if (!key)
    throw new GapmapError('bad_input', '--customer KEY is required (gapmap customers lists the keys)');
  const c = await getCustomerByKey(handle.db, key);
  if (!c) throw new GapmapError('not_found', `no customer "${key}" (gapmap customers lists the keys)`);
  return c;
}

program
  .command('units')
  .description("a customer's units with their references and current tags")
  .requiredOption('--customer <key>', 'customer key')
  .option('--json', 'JSON lines, one unit per line')
  .action(async (flags: { customer: string; json?: boolean }) => {
    await withDb(async (handle) => {
      const c = await customerOrFail(handle, flags.customer);
      const units = await unitsWithTags(handle.db, c.id);
      for (const u of units) {
        const j = unitJson(u);
        if (flags.json) print(JSON.stringify(j));
        else
          print(
            `${u.ref}  ${u.job ?? '-'} ${u.kind ?? '?'} ${u.sentiment ?? '?'}  ${truncate(u.text.replace(/\s+/g, ' '), 90)}`,
          );
      }
    });
  });

program
  .command('map')
  .description("print a customer's Value Gap Map")
  .requiredOption('--customer <key>', 'customer key')
  .option('--json', 'the map as JSON')
  .action(async (flags: { customer: string; json?: boolean }) => {
    await withDb(async (handle) => {
      const c = await customerOrFail(handle, flags.customer);
      const map = await mapJson(handle.db, c.id);
      print(flags.json ? JSON.stringify(map) : renderMap(map));
    });
  });

program
  .command('migrate')
  .description('apply database migrations (the other commands do this on start too)')
  .action(async () => {
    await withDb(async (handle) => print(`database is up to date (${handle.kind})`));
  });

program
  .command('worker')
  .description('run BullMQ workers for every stage (needs DATABASE_URL and REDIS_URL)')
  .option('--port <n>', 'port for /health and /ready (0: any free one)', wholeNumber('--port', 0, 65535))
  .action(async (flags: { port?: number }) => {
    const config = loadConfig();
    if (!queueMode(config)) throw new GapmapError('config', 'gapmap worker needs REDIS_URL and DATABASE_URL');
    const handle = await openDatabase(config);
    const { startWorkers } = await import('../workers/worker.ts');
    const workers = await startWorkers(config, handle, { port: flags.port });
    console.error(`gapmap worker ready; health on http://127.0.0.1:${workers.port}/health`);
    const stop = async (signal: string) => {
      console.error(`${signal}: finishing the jobs in hand`);
      await workers.close();
      await handle.close();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });

program
  .command('serve')
  .description('serve the dashboard and the JSON API')
  .option('--port <n>', 'port (0: any free one)', wholeNumber('--port', 0, 65535))
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .action(async (flags: { port?: number; host: string }) => {
    const config = loadConfig();
    queueMode(config);
    const handle = await openDatabase(config);
    const { startServer } = await import('../dashboard/server.ts');
    const server = await startServer({ config, handle, port: flags.port ?? config.port, host: flags.host });
    console.error(`gapmap dashboard on ${server.url}`);
    const stop = async () => {
      await server.close();
      await handle.close();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop());
    process.once('SIGINT', () => void stop());
  });

program
  .command('demo')
  .description(
    'import the bundled demo feedback, classify it and print every customer’s Value Gap Map (no services needed)',
  )
  .action(async () => {
    const config = loadConfig({ ...process.env, DATABASE_URL: '', REDIS_URL: '' });
    const handle = await openDatabase(config);
    try {
      print(
        `Importing the demo bundle (${path.relative(process.cwd(), DEMO_BUNDLE) || DEMO_BUNDLE}) into ${config.home} ...`,
      );
      const result = await importInProcess(handle, config, { path: DEMO_BUNDLE });
      const c = result.counts;
      print(
        `${c.unitsNew} new units, ${c.unitsUpdated} updated, ${c.unitsUnchanged} unchanged, ${c.errors} errors`,
      );
      for (const customer of await listCustomers(handle.db)) {
        print('');
        print(renderMap(await mapJson(handle.db, customer.id)));
      }
      print('');
      print('Open the dashboard: npx gapmap serve   (then http://127.0.0.1:3000)');
      print('Every unit and its tags: npx gapmap units --customer <key>; as JSON: add --json');
    } finally {
      await handle.close();
    }
  });

program
  .command('eval')
  .description("score the classifiers against a bundle's labels.jsonl")
  .argument('<folder>', 'bundle folder with customers.json and labels.jsonl')
  .option('--json', 'the scores as JSON')
  .option('--job-names-only', 'ignore the jobs’ example sentences')
  .option(
    '--confirm <n>',
    'treat the first n labelled units of each job as confirmed by a person and score the rest',
  )
  .option(
    '--confirm-fields <fields>',
    'which labels of the confirmed units the classifier is given: job, kind, sentiment, comma-separated (default: all three)',
  )
  .option('--misses', 'also list every unit whose tag differs from its label, with its text and context')
  .option(
    '--batch <n>',
    "units per classify call, per customer (default: GAPMAP_CLASSIFY_BATCH, the classify stage's batch)",
  )
  .action(
    async (
      folder: string,
      flags: {
        json?: boolean;
        jobNamesOnly?: boolean;
        confirm?: string;
        confirmFields?: string;
        misses?: boolean;
        batch?: string;
      },
    ) => {
      const confirmFields = (flags.confirmFields ?? 'job,kind,sentiment').split(',').map((f) => f.trim());
      const unknown = confirmFields.filter((f) => !CONFIRM_FIELDS.includes(f as ConfirmField));
      if (flags.confirmFields?.startsWith('--')) {
        throw new GapmapError(
          'bad_input',
          `--confirm-fields needs a value (some of job, kind, sentiment separated by commas), not the flag ${flags.confirmFields}`,
        );
      }
      if (unknown.length > 0) {
        throw new GapmapError(
          'bad_input',
          `--confirm-fields: expected some of job, kind, sentiment separated by commas, got "${flags.confirmFields}"`,
        );
      }
      if (flags.confirmFields !== undefined && flags.confirm === undefined) {
        throw new GapmapError(
          'bad_input',
          '--confirm-fields says which labels of the confirmed units are given: it needs --confirm <n>',
        );
      }
      const confirm = flags.confirm === undefined ? 0 : Number(flags.confirm);
      if (!Number.isInteger(confirm) || confirm < 0) {
        throw new GapmapError(
          'bad_input',
          `--confirm: expected a whole number of units, got "${flags.confirm}"`,
        );
      }
      const config = loadConfig();
      const batch = flags.batch === undefined ? config.classifyBatch : Number(flags.batch);
      if (!Number.isInteger(batch) || batch < 1) {
        throw new GapmapError(
          'bad_input',
          `--batch: expected a whole number of units above 0, got "${flags.batch}"`,
        );
      }
      const { evaluateBundle, formatEvalReport } = await import('../classifiers/eval.ts');
      const classifier = await loadClassifier(config);
      try {
        const bar = flags.json ? null : createProgress('classifying', 0);
        const report = await evaluateBundle(path.resolve(folder), classifier, {
          jobNamesOnly: flags.jobNamesOnly,
          confirm,
          confirmFields: confirmFields as ConfirmField[],
          misses: flags.misses,
          batch,
          onProgress: (done: number, total: number) => bar?.set(done, total),
        });
        bar?.done();
        print(flags.json ? JSON.stringify(report) : formatEvalReport(report));
      } finally {
        await classifier.close?.();
      }
    },
  );

const models = program.command('models').description('local models for air-gapped machines');
models
  .command('download')
  .description('download a Hugging Face feature-extraction model into GAPMAP_MODEL_DIR (or --dir)')
  .argument('<id>', 'model id, e.g. Xenova/all-MiniLM-L6-v2')
  .option('--dir <folder>', 'where to put it')
  .action(async (id: string, flags: { dir?: string }) => {
    const config = loadConfig();
    const dir = flags.dir ?? config.modelDir;
    if (!dir) throw new GapmapError('bad_input', 'set GAPMAP_MODEL_DIR or pass --dir: where the model goes');
    const { downloadModel } = await import('../classifiers/embed-hf.ts');
    await downloadModel(id, dir);
    print(`downloaded ${id} into ${dir}; use it with GAPMAP_EMBEDDER=hf:${id} GAPMAP_MODEL_DIR=${dir}`);
  });

registerLlmCommands(program);

registerConnectorCommands(program);

registerUserCommands(program);

export async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    // Help and --version end with 0; a usage error with 2 (commander has said what was wrong).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof GapmapError) {
      console.error(`gapmap: ${err.message}`);
      return err.status >= 500 && err.code !== 'config' && err.code !== 'service_unavailable' ? 1 : 2;
    }
    console.error(`gapmap: ${errorMessage(err)}`);
    if (process.env.GAPMAP_DEBUG) console.error(err);
    return 1;
  }
}

/**
 * Resolves once what was written to the stream has left this process. A pipe whose reader is slower
 * than the output (`gapmap units --json | jq`) fills, and Node keeps the rest queued here: exiting
 * then lost the output's tail (the last unit of 101, measured).
 */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) resolve();
    // Called once the writes before it are done, or with the error of a reader that went away.
    else stream.write('', () => resolve());
  });
}

// A reader that stops early (`gapmap units --json | head`) closes the pipe: the rest of the output
// has nowhere to go, and the command ends as it would have.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
}

const code = await main(process.argv);
// worker and serve keep running; every other command is done here, whatever handles a library left open.
const longRunning = ['worker', 'serve'].includes(process.argv[2] ?? '');
if (code !== 0 || !longRunning) {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}
