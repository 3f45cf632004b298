/** The embedded pipeline (import, classify, build maps) in this process, quiet, for tests. */
import type { DbHandle } from '../../db/client.ts';
import type { Config } from '../../app/env.ts';
import type { ImportOptions } from '../../app/importer.ts';
import { importInProcess } from '../../app/pipeline.ts';

export function importInProcessForTest(handle: DbHandle, config: Config, opts: ImportOptions) {
  return importInProcess(handle, config, opts, false);
}
