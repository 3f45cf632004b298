/**
 * The embedded mode's whole pipeline in this process: import, classify what changed, rebuild the
 * maps of the customers it touched, with progress on a terminal.
 */
import type { Config } from './env.ts';
import type { DbHandle } from '../db/client.ts';
import type { Classifier } from '../classifiers/types.ts';
import { runImport, type ImportOptions, type ImportResult } from './importer.ts';
import { createProgress } from './progress.ts';
import { loadClassifier } from './classifier.ts';
import { pendingUnitIds } from '../db/queries.ts';
import { createInProcessRuntime } from '../workers/inprocess.ts';
import { enqueueClassification } from '../workers/processors.ts';

export async function importInProcess(
  handle: DbHandle,
  config: Config,
  opts: ImportOptions,
  showProgress = true,
): Promise<ImportResult> {
  const reading = showProgress ? createProgress('reading items', 0) : null;
  const result = await runImport(handle.db, {
    ...opts,
    onProgress: (n) => {
      reading?.set(n, n);
      opts.onProgress?.(n);
    },
  });
  reading?.done(
    `read ${result.counts.itemsNew + result.counts.itemsUpdated + result.counts.itemsUnchanged} items, ${result.counts.errors} errors`,
  );
  const model: { classifier?: Promise<Classifier> } = {};
  const pending = (await pendingUnitIds(handle.db)).length;
  const bar = showProgress && pending > 0 ? createProgress('classifying units', pending) : null;
  const rt = createInProcessRuntime({
    db: handle.db,
    config,
    classifier: () => (model.classifier ??= loadClassifier(config)),
    onClassified: (n) => bar?.tick(n),
  });
  await enqueueClassification(rt, result.touchedCustomers);
  await rt.drain();
  bar?.done();
  if (model.classifier) await (await model.classifier).close?.();
  return result;
}
