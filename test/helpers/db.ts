/**
 * A fresh database per test file, cloned from the migrated template (global-setup.ts), dropped at
 * the end. `testConfig` gives the typed config the code under test expects, pointing at it.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { inject } from 'vitest';
import { openDb, runAsAdmin, type DbHandle } from '../../db/client.ts';
import { loadConfig, type Config } from '../../app/env.ts';
import { ADMIN_URL, REDIS_URL, dbUrl } from './urls.ts';

/** Runs one statement as the server's admin (creating and dropping databases). */
export function admin(sql: string): Promise<void> {
  return runAsAdmin(ADMIN_URL, sql);
}

export interface TestDb {
  name: string;
  url: string;
  handle: DbHandle;
  drop(): Promise<void>;
}

export async function createTestDb(): Promise<TestDb> {
  const name = `gapmap_t_${randomBytes(6).toString('hex')}`;
  const template = inject('templateDb');
  // CREATE DATABASE ... TEMPLATE fails while another session is connected to the template; retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin(`create database ${name} template ${template}`);
      break;
    } catch (err) {
      if (attempt >= 20 || !String(err).includes('being accessed')) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const url = dbUrl(name);
  const handle = await openDb({ databaseUrl: url, home: '/nonexistent', migrate: false });
  return {
    name,
    url,
    handle,
    async drop() {
      await handle.close();
      await admin(`drop database if exists ${name} with (force)`);
    },
  };
}

export function tempDir(prefix = 'gapmap-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function testConfig(over: Record<string, string> = {}): Config {
  return loadConfig({
    GAPMAP_HOME: tempDir(),
    GAPMAP_EMBEDDER: 'lexical',
    GAPMAP_QUEUE_PREFIX: `gapmap-test-${randomBytes(4).toString('hex')}`,
    GAPMAP_AGGREGATE_DELAY_MS: '50',
    ...over,
  });
}

export { REDIS_URL };
