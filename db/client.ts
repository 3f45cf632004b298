/**
 * One database handle for both deployments: PostgreSQL through node-postgres when DATABASE_URL is
 * set, PGlite (PostgreSQL compiled to wasm, files under GAPMAP_HOME) otherwise. Both speak the same
 * SQL and run the same drizzle migrations, so every query is written once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import * as schema from './schema/index.ts';
import { GapmapError, errorMessage } from '../app/errors.ts';
import { lockHome } from './home-lock.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DbHandle {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** The node-postgres pool, for COPY and other things drizzle does not do. */
  pool?: pg.Pool;
  close(): Promise<void>;
}

const embeddedDbs = new WeakSet<Db>();

/**
 * Whether a Db is the embedded mode's PGlite: in this process, on its event loop, so a large write
 * holds every request of the server meanwhile (2.5 MB of a customer's heads: 1.2-1.4 s).
 */
export function isEmbeddedDb(db: Db): boolean {
  return embeddedDbs.has(db);
}

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

// Any fixed number works: it only has to be the same in every process that migrates.
const MIGRATION_LOCK = 727_274_001;

export async function openDb(opts: {
  databaseUrl?: string;
  home: string;
  migrate?: boolean;
}): Promise<DbHandle> {
  const handle = opts.databaseUrl ? await openPostgres(opts.databaseUrl) : await openPglite(opts.home);
  if (opts.migrate !== false) {
    try {
      await runMigrations(handle);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
  return handle;
}

/**
 * The planner's cost of reading a page at random, for Gapmap's own sessions. PostgreSQL's default
 * (4) models spinning disks; with it, a classify batch's read of 256 units by id scanned the whole
 * units table of a 20,000-unit database (7 ms of PostgreSQL's CPU per batch) instead of using its
 * primary key (2 ms, bench:classify-db). PostgreSQL's documentation suggests a lower value such as
 * 1.1 for solid-state storage. A DATABASE_URL with an `options` parameter of its own replaces this.
 */
export const RANDOM_PAGE_COST = 1.1;

/** What to do about a failed first connection, by PostgreSQL's error code or the socket's. */
function connectHint(err: unknown, url: string): string {
  const code = (err as { code?: string }).code;
  const name = decodeURIComponent(new URL(url).pathname.slice(1)) || 'the database';
  if (code === '3D000') return `Create it first (createdb ${name}), or name another in DATABASE_URL.`;
  if (code === '28P01' || code === '28000') return 'Check the user and password in DATABASE_URL.';
  return 'Is the server running?';
}

async function openPostgres(url: string): Promise<DbHandle> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    options: `-c random_page_cost=${RANDOM_PAGE_COST}`,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => {});
    const where = safeUrl(url);
    throw new GapmapError(
      'service_unavailable',
      `Cannot reach PostgreSQL at ${where} (DATABASE_URL): ${errorMessage(err)}. ${connectHint(err, url)}`,
    );
  }
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  return { db, kind: 'postgres', pool, close: () => pool.end() };
}

async function openPglite(home: string): Promise<DbHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const dir = path.join(home, 'db');
  fs.mkdirSync(dir, { recursive: true });
  const lock = lockHome(dir);
  let client: InstanceType<typeof PGlite>;
  try {
    client = await PGlite.create(dir);
  } catch (err) {
    lock.release();
    throw err;
  }
  // One session: set once, as the server's sessions get it at connection start.
  await client.exec(`set random_page_cost = ${RANDOM_PAGE_COST}`);
  const db = drizzle(client, { schema }) as unknown as Db;
  embeddedDbs.add(db);
  return {
    db,
    kind: 'pglite',
    close: async () => {
      try {
        await client.close();
      } finally {
        lock.release();
      }
    },
  };
}

export async function runMigrations(handle: DbHandle): Promise<void> {
  if (handle.kind === 'pglite') {
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    await migrate(handle.db as never, { migrationsFolder: MIGRATIONS_DIR });
    return;
  }
  // Several processes (server, workers) start at once: one migrates, the others wait for it.
  const client = await handle.pool!.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await migratePg(drizzlePg(client), { migrationsFolder: MIGRATIONS_DIR });
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
}

export async function ping(db: Db): Promise<void> {
  await db.execute(sql`select 1`);
}

function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = u.password ? '***' : '';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Runs one statement on a connection of its own to the server at `url`: creating and dropping the
 * scratch databases of benches and tests, which no pooled session of that database may hold.
 */
export async function runAsAdmin(url: string, statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}
