/**
 * Opening the parts a command needs: the database (migrated), and in queue mode the producer side
 * of the queues. Embedded mode (no DATABASE_URL, no REDIS_URL) needs no service at all.
 */
import { loadConfig, type Config } from './env.ts';
import { openDb, type DbHandle } from '../db/client.ts';
import { GapmapError } from './errors.ts';

export function queueMode(config: Config): boolean {
  if (config.redisUrl && !config.databaseUrl) {
    throw new GapmapError(
      'config',
      'REDIS_URL is set but DATABASE_URL is not: workers on Redis need a shared PostgreSQL database (set DATABASE_URL), or unset REDIS_URL for the embedded mode',
    );
  }
  return Boolean(config.redisUrl);
}

export async function openDatabase(config: Config): Promise<DbHandle> {
  return openDb({ databaseUrl: config.databaseUrl, home: config.home });
}

/** For one CLI command: parse the environment, open the database, run, close. */
export async function withDb<T>(fn: (handle: DbHandle, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  queueMode(config);
  const handle = await openDatabase(config);
  try {
    return await fn(handle, config);
  } finally {
    await handle.close();
  }
}
