/**
 * A `gapmap worker` process for the killed-worker test: the real workers and processors, with a
 * classifier that stops forever inside the batch number HANG_AT_BATCH (after saying so), so the
 * test can SIGKILL it mid-batch.
 */
import { loadConfig } from '../../app/env.ts';
import { openDb } from '../../db/client.ts';
import { startWorkers } from '../../workers/worker.ts';
import { createLexicalClassifier } from '../../classifiers/lexical.ts';
import type { Classifier } from '../../classifiers/types.ts';

const config = loadConfig();
const hangAt = Number(process.env.HANG_AT_BATCH ?? '2');
const lexical = createLexicalClassifier();
let batches = 0;
const classifier: Classifier = {
  name: lexical.name,
  version: lexical.version,
  async classify(units, context) {
    batches++;
    if (batches === hangAt) {
      process.stdout.write(`HANG ${units.map((u) => u.id).join(',')}\n`);
      await new Promise(() => {});
    }
    return lexical.classify(units, context);
  },
};
const handle = await openDb({ databaseUrl: config.databaseUrl, home: config.home });
await startWorkers(config, handle, { port: 0, classifier, log: () => {} });
process.stdout.write('READY\n');
