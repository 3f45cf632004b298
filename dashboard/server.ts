/**
 * `gapmap serve`: the JSON API (and, from the dashboard issue on, the pages). Routes are short:
 * parse, one query, respond; errors all go through `handleError`.
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { serve, type ServerType } from '@hono/node-server';
import type { Config } from '../app/env.ts';
import type { DbHandle } from '../db/client.ts';
import { GapmapError, errorMessage } from '../app/errors.ts';
import {
  getCustomerByKey,
  getMapEntry,
  listCustomers,
  listImportRuns,
  unitsWithTags,
} from '../db/queries.ts';
import { mapJson } from '../app/map.ts';
import { runJson, unitJson } from '../app/json.ts';

export function handleError(err: unknown, c: Context) {
  const requestId = c.get('requestId' as never) ?? randomUUID();
  const e = err instanceof GapmapError ? err : new GapmapError('internal', 'internal error');
  if (e.status >= 500) console.error(`[${requestId}] ${c.req.method} ${c.req.path}: ${errorMessage(err)}`);
  return c.json({ error: { code: e.code, message: e.message, request_id: requestId } }, e.status as 400);
}

export function createApp(p: { config: Config; handle: DbHandle }) {
  const db = p.handle.db;
  const app = new Hono();
  app.use(async (c, next) => {
    c.set('requestId' as never, randomUUID() as never);
    await next();
  });
  app.onError(handleError);

  const customerOf = async (key: string) => {
    const customer = await getCustomerByKey(db, key);
    if (!customer) throw new GapmapError('not_found', `no customer "${key}"`);
    return customer;
  };

  app.get('/api/customers', async (c) => {
    const rows = await listCustomers(db);
    return c.json(
      rows.map((r) => ({
        key: r.key,
        name: r.name,
        units: r.units,
        jobs: r.jobs.map((j) => ({
          key: j.key,
          statement: j.statement,
          desired_outcome: j.desiredOutcome,
          examples: j.examples,
        })),
      })),
    );
  });

  app.get('/api/customers/:key/map', async (c) => {
    const customer = await customerOf(c.req.param('key'));
    return c.json(await mapJson(db, customer.id));
  });

  app.get('/api/customers/:key/units', async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const units = await unitsWithTags(db, customer.id);
    return c.json(units.map(unitJson));
  });

  app.get('/api/customers/:key/entries/:entry', async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const entry = await getMapEntry(db, customer.id, c.req.param('entry'));
    if (!entry)
      throw new GapmapError(
        'not_found',
        `no map entry "${c.req.param('entry')}" for customer "${customer.key}"`,
      );
    const refs = new Set(entry.refs);
    const evidence = (await unitsWithTags(db, customer.id)).filter((u) => refs.has(u.ref)).map(unitJson);
    return c.json({
      key: entry.entryKey,
      job: entry.job,
      row: entry.row,
      label: entry.label,
      count: entry.count,
      sentiment: entry.sentiment,
      quote: entry.quote,
      quote_ref: entry.quoteRef,
      refs: entry.refs,
      evidence,
    });
  });

  app.get('/api/imports', async (c) => {
    const limit = Math.min(500, Number(c.req.query('limit') ?? 50) || 50);
    const runs = await listImportRuns(db, { limit });
    return c.json(runs.map(runJson));
  });

  app.notFound((c) => handleError(new GapmapError('not_found', `no route ${c.req.method} ${c.req.path}`), c));
  return app;
}

export async function startServer(p: { config: Config; handle: DbHandle; port: number; host?: string }) {
  const app = createApp(p);
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: p.port, hostname: p.host ?? '127.0.0.1' }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : p.port;
  return {
    url: `http://${p.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
