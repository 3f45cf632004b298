/**
 * Once per test run: build a template database by running the real migrations, so every test
 * file can clone a fresh, migrated database in a few milliseconds (test/helpers/db.ts).
 */
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDb } from '../../db/client.ts';
import { ADMIN_URL, dbUrl } from './urls.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDb: string;
  }
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export default async function setup(project: TestProject) {
  const template = `gapmap_template_${process.pid}`;
  await admin(async (c) => {
    await c.query(`drop database if exists ${template} with (force)`);
    await c.query(`create database ${template}`);
  });
  const handle = await openDb({ databaseUrl: dbUrl(template), home: '/nonexistent' });
  await handle.close();
  project.provide('templateDb', template);
  return async () => {
    await admin((c) => c.query(`drop database if exists ${template} with (force)`));
  };
}
