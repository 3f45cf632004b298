/**
 * `gapmap serve`: the JSON API and the dashboard's pages. Routes are short: parse, authorize, one
 * query, respond; errors all go through `handleError` (JSON under /api, a page elsewhere).
 * Who may do what: dashboard/auth.ts. Work that outlives a request: dashboard/background.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { bodyLimit } from 'hono/body-limit';
import { serve, type ServerType } from '@hono/node-server';
import { z } from 'zod';
import type { Config } from '../app/env.ts';
import type { DbHandle } from '../db/client.ts';
import { GapmapError, errorMessage, listenError } from '../app/errors.ts';
import {
  createImportRun,
  getCustomerByKey,
  getMapEntry,
  getMapState,
  jobsOf,
  listCustomers,
  listImportRuns,
  mapEntriesOf,
  unitsWithTags,
  updateImportRun,
} from '../db/queries.ts';
import { jobs as jobsTable } from '../db/schema/index.ts';
import { eq, asc } from 'drizzle-orm';
import { mapJson } from '../app/map.ts';
import { runJson, unitJson } from '../app/json.ts';
import { llmByRun } from '../app/llm.ts';
import { detectFormat } from '../ingest/detect.ts';
import {
  LOCAL_ACTOR,
  SESSION_COOKIE,
  SESSION_DAYS,
  actorForSession,
  actorForToken,
  countUsers,
  createApiToken,
  createSession,
  createUser,
  endSession,
  isLoopback,
  listApiTokens,
  listUsers,
  revokeApiToken,
  roleAtLeast,
  signIn,
  type Actor,
} from './auth.ts';
import { ROLES, type Role } from '../db/schema/index.ts';
import {
  KINDS,
  SENTIMENTS,
  countUnitQueue,
  decideEntry,
  decideUnit,
  entryQueue,
  listDecisions,
  headsLearning,
  mapVersion,
  mergeEntries,
  saveJob,
  splitEntry,
  unitQueue,
  type UnitDecision,
} from '../db/reviews.ts';
import { createBackground, type Background } from './background.ts';
import { customerSummaries, itemById, mapForPage, unitByRef, unitsByRefs, unitsOfItem } from './queries.ts';
import {
  customersPage,
  errorPage,
  evidencePage,
  importsPage,
  jobsPage,
  mapPage,
  mapTable,
  peoplePage,
  reviewPage,
  signinPage,
  sourcePage,
} from './pages.ts';
import { attachment, mapMarkdown, unitsCsv } from './export.ts';

type Env = { Variables: { requestId: string; actor: Actor | null } };

export interface UploadLimits {
  /** Largest single file: bigger ones are refused with a message, the rest of the upload goes through. */
  fileBytes: number;
  /** Largest request: the whole upload is refused (413) before anything is stored. */
  requestBytes: number;
}

// A year of one customer's tickets as JSONL is a few MB; bigger exports belong to `gapmap import`.
export const DEFAULT_LIMITS: UploadLimits = { fileBytes: 25 * 1024 * 1024, requestBytes: 100 * 1024 * 1024 };

export interface AppOptions {
  config: Config;
  handle: DbHandle;
  /** The address the server listens on: only a loopback address allows the local lead. */
  host?: string;
  limits?: UploadLimits;
}

const STATIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'static');
const STATIC_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
// Nothing from elsewhere, no inline script or style: feedback text that slipped past escaping still could not run.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

// An entry can hold thousands of units: the page shows them a few hundred at a time.
const EVIDENCE_PAGE = 200;

const isApi = (c: Context) => c.req.path.startsWith('/api/');

export function handleError(err: unknown, c: Context) {
  const requestId = (c.get('requestId' as never) as string | undefined) ?? randomUUID();
  const e = err instanceof GapmapError ? err : new GapmapError('internal', 'internal error');
  if (e.status >= 500) console.error(`[${requestId}] ${c.req.method} ${c.req.path}: ${errorMessage(err)}`);
  if (!isApi(c) && c.req.method === 'GET' && c.req.path !== '/signin') {
    if (e.code === 'unauthorized') {
      const next = c.req.path + (new URL(c.req.url).search || '');
      return c.redirect(`/signin?next=${encodeURIComponent(next)}`, 303);
    }
    const actor = (c.get('actor' as never) as Actor | null | undefined) ?? null;
    c.header('Content-Security-Policy', CSP);
    return c.html(errorPage(actor, e.status, `${e.message} (request ${requestId})`).value, e.status as 400);
  }
  return c.json({ error: { code: e.code, message: e.message, request_id: requestId } }, e.status as 400);
}

const need =
  (role: Role): MiddlewareHandler<Env> =>
  async (c, next) => {
    const a = c.get('actor');
    if (!a)
      throw new GapmapError(
        'unauthorized',
        'sign in first (pages), or send "Authorization: Bearer <token>" (API; a lead makes tokens on the People page)',
      );
    if (!roleAtLeast(a.role, role))
      throw new GapmapError('forbidden', `this needs the ${role} role; ${a.name} is a ${a.role}: ask a lead`);
    await next();
  };

async function bodyOf<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new GapmapError('bad_input', 'request body: expected JSON (Content-Type: application/json)');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new GapmapError('bad_input', msg);
  }
  return parsed.data;
}

const who = (a: Actor) => a.email ?? a.name;

const UnitDecisionBody = z.discriminatedUnion('action', [
  z.object({
    ref: z.string().min(1),
    action: z.literal('accept'),
    // What the page showed: accept is refused (409) if the unit's tags changed meanwhile. API clients may leave it out.
    expected: z
      .object({ job: z.string().nullable(), kind: z.enum(KINDS), sentiment: z.enum(SENTIMENTS) })
      .partial()
      .optional(),
  }),
  z.object({ ref: z.string().min(1), action: z.literal('reject') }),
  z.object({ ref: z.string().min(1), action: z.literal('set_job'), value: z.string().min(1).nullable() }),
  z.object({ ref: z.string().min(1), action: z.literal('set_kind'), value: z.enum(KINDS) }),
  z.object({ ref: z.string().min(1), action: z.literal('set_sentiment'), value: z.enum(SENTIMENTS) }),
]);
const EntryDecisionBody = z.discriminatedUnion('action', [
  z.object({ action: z.literal('accept') }),
  z.object({ action: z.literal('reject') }),
  z.object({ action: z.literal('rename'), value: z.string().trim().min(1).max(200) }),
]);
const MergeBody = z.object({
  entries: z.array(z.string().min(1)).min(2),
  label: z.string().max(200).optional(),
});
const SplitBody = z.object({
  refs: z.array(z.string().min(1)).min(1),
  label: z.string().trim().min(1).max(200),
});
const JobBody = z.object({
  key: z.string().min(1),
  statement: z.string().trim().min(1),
  desired_outcome: z.string().default(''),
});
// An edit changes what it names and keeps the rest.
const JobEditBody = z
  .object({ statement: z.string().trim().min(1).optional(), desired_outcome: z.string().optional() })
  .refine((b) => b.statement !== undefined || b.desired_outcome !== undefined, {
    message: 'expected statement, desired_outcome or both',
  });
const UserBody = z.object({
  email: z.string().min(3),
  name: z.string().optional(),
  role: z.enum(ROLES),
  password: z.string().min(8, 'expected at least 8 characters'),
});
const TokenBody = z.object({
  user_id: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 31 - 1),
  name: z.string().trim().min(1).max(100),
});

/**
 * The format by content. detectFormat falls back on the extension when the content says nothing;
 * an upload is held to more: a binary file that is not a Word document, or a "transcript" whose
 * text is not one, is refused before it becomes an import.
 */
async function checkedFormat(file: string) {
  const format = await detectFormat(file);
  const fd = await fs.promises.open(file, 'r');
  const head = Buffer.alloc(4096);
  const { bytesRead } = await fd.read(head, 0, head.length, 0);
  await fd.close();
  const text = head.subarray(0, bytesRead);
  if (format === 'docx') return format;
  if (text.includes(0)) return 'unknown';
  const start = text
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (format === 'vtt' && !/^WEBVTT/.test(start)) return 'unknown';
  if (format === 'srt' && !/^\d+\s*\r?\n[\d:,.]+\s+-->/.test(start)) return 'unknown';
  return format;
}

export const sizeText = (bytes: number) =>
  bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) ? 1 : 0)} MB`
    : `${Math.ceil(bytes / 1024)} KB`;

const safeName = (name: string) =>
  (
    path
      .basename(name)
      .replace(/[^\w.\- ]+/g, '_')
      .replace(/^\.+/, '')
      .slice(0, 120) || 'upload'
  ).trim();

const NEXT_BASE = 'http://gapmap.invalid';
/**
 * Where sign-in sends a person: a path on this server, or /customers. Browsers read `\` as `/` and
 * drop tabs and newlines, so `/\host` or `/<tab>/host` is `//host`, another site: the path is resolved
 * as a browser would and must stay on the same origin, with no backslash at all.
 */
export function safeNext(n: unknown): string {
  if (typeof n !== 'string' || !n.startsWith('/') || n.includes('\\')) return '/customers';
  let u: URL;
  try {
    u = new URL(n, NEXT_BASE);
  } catch {
    return '/customers';
  }
  if (u.origin !== NEXT_BASE || !u.pathname.startsWith('/') || u.pathname.startsWith('//'))
    return '/customers';
  return u.pathname + u.search + u.hash;
}

export function createDashboard(p: AppOptions): { app: Hono<Env>; background: Background } {
  const { config } = p;
  const db = p.handle.db;
  const limits = p.limits ?? DEFAULT_LIMITS;
  const background = createBackground({ config, handle: p.handle });
  const localHost = isLoopback(p.host ?? '127.0.0.1');
  let usersExist = false;
  const staticFiles = new Map<string, { body: string; type: string }>();
  for (const name of fs.readdirSync(STATIC_DIR)) {
    const type = STATIC_TYPES[path.extname(name)];
    if (type) staticFiles.set(name, { body: fs.readFileSync(path.join(STATIC_DIR, name), 'utf8'), type });
  }

  const app = new Hono<Env>();
  app.onError(handleError);
  app.notFound((c) => handleError(new GapmapError('not_found', `no route ${c.req.method} ${c.req.path}`), c));

  app.use(async (c, next) => {
    c.set('requestId', randomUUID());
    c.set('actor', null);
    const auth = c.req.header('authorization');
    let actor: Actor | null = null;
    if (auth) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m) throw new GapmapError('unauthorized', 'Authorization header: expected "Bearer <token>"');
      actor = await actorForToken(db, m[1]!);
      if (!actor)
        throw new GapmapError(
          'unauthorized',
          'API token not recognised or revoked: a lead makes a new one on the People page',
        );
    } else {
      const cookie = getCookie(c, SESSION_COOKIE);
      if (cookie) actor = await actorForSession(db, cookie);
      if (!actor && localHost && isLoopback(new URL(c.req.url).hostname)) {
        if (!usersExist) usersExist = (await countUsers(db)) > 0;
        if (!usersExist) actor = LOCAL_ACTOR;
      }
      // Cookies and the local lead ride along with any request the browser makes: changes must come from our own pages.
      if (actor && !['GET', 'HEAD', 'OPTIONS'].includes(c.req.method)) {
        const origin = c.req.header('origin');
        const fetchSite = c.req.header('sec-fetch-site');
        const ours = origin
          ? origin === new URL(c.req.url).origin
          : fetchSite === undefined || fetchSite === 'same-origin';
        if (!ours)
          throw new GapmapError(
            'forbidden',
            'request from another site refused: use the dashboard’s own pages or an API token',
          );
      }
    }
    c.set('actor', actor);
    await next();
    if ((c.res.headers.get('content-type') ?? '').startsWith('text/html')) {
      c.res.headers.set('Content-Security-Policy', CSP);
      c.res.headers.set('X-Content-Type-Options', 'nosniff');
      c.res.headers.set('Referrer-Policy', 'same-origin');
    }
  });

  const customerOf = async (key: string) => {
    const customer = await getCustomerByKey(db, key);
    if (!customer) throw new GapmapError('not_found', `no customer "${key}"`);
    return customer;
  };
  const actorOf = (c: Context<Env>) => c.get('actor')!;
  const page = (c: Context<Env>, h: { value: string }) => c.html(h.value);

  // ---- static assets and sign-in (no role needed)
  app.get('/static/:file', (c) => {
    const f = staticFiles.get(c.req.param('file'));
    if (!f) throw new GapmapError('not_found', `no static file ${c.req.param('file')}`);
    return c.body(f.body, 200, {
      'Content-Type': f.type,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  app.get('/signin', (c) => {
    if (c.get('actor')) return c.redirect(safeNext(c.req.query('next')), 303);
    return page(c, signinPage({ next: safeNext(c.req.query('next')) }));
  });
  app.post('/signin', async (c) => {
    const form = await c.req.parseBody();
    const email = typeof form.email === 'string' ? form.email : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const next = safeNext(form.next);
    const res = await signIn(db, email, password);
    if (!res) {
      c.status(401);
      return page(
        c,
        signinPage({
          next,
          email,
          error:
            'That email and password do not match an account. Check both, or ask a lead to reset your account.',
        }),
      );
    }
    setSessionCookie(c, res.cookie);
    return c.redirect(next, 303);
  });
  app.post('/signout', async (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie) await endSession(db, cookie);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/signin', 303);
  });

  // ---- pages
  app.get('/', (c) => c.redirect('/customers', 303));
  app.get('/customers', need('viewer'), async (c) =>
    page(c, customersPage(actorOf(c), await customerSummaries(db))),
  );

  app.get('/customers/:key', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const actor = actorOf(c);
    // The review count is fetched by the page afterwards: counting a big customer's queue would slow the map.
    const [map, version] = await Promise.all([mapForPage(db, customer.id), mapVersion(db, customer.id)]);
    return page(c, mapPage({ actor, map, version }));
  });

  app.get('/customers/:key/map-fragment', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const lead = roleAtLeast(actorOf(c).role, 'lead');
    return c.html(mapTable(await mapForPage(db, customer.id), { lead }).value);
  });

  app.get('/customers/:key/entries/:entry', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const entry = await getMapEntry(db, customer.id, c.req.param('entry'));
    if (!entry)
      throw new GapmapError(
        'not_found',
        `no map entry "${c.req.param('entry')}" for ${customer.name}: it may have been merged, split or rejected`,
      );
    const from = Math.max(0, Number(c.req.query('from') ?? 0) || 0);
    const refs = entry.refs.slice(from, from + EVIDENCE_PAGE);
    const [evidence, jobs] = await Promise.all([unitsByRefs(db, customer.id, refs), jobsOf(db, customer.id)]);
    return page(
      c,
      evidencePage({
        actor: actorOf(c),
        customer,
        entry: { ...entry, key: entry.entryKey },
        evidence,
        jobs,
        from,
        pageSize: EVIDENCE_PAGE,
      }),
    );
  });

  app.get('/customers/:key/source', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const ref = c.req.query('ref') ?? '';
    const unit = await unitByRef(db, customer.id, ref);
    if (!unit) throw new GapmapError('not_found', `no feedback "${ref}" for ${customer.name}`);
    const [item, units, jobs] = await Promise.all([
      itemById(db, unit.itemId),
      unitsOfItem(db, customer.id, unit.itemId),
      jobsOf(db, customer.id),
    ]);
    return page(c, sourcePage({ actor: actorOf(c), customer, item: item!, units, selected: ref, jobs }));
  });

  app.get('/customers/:key/review', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const [jobs, queue, total, entries, decisions, learning] = await Promise.all([
      jobsOf(db, customer.id),
      unitQueue(db, customer.id, { limit: 50 }),
      countUnitQueue(db, customer.id),
      entryQueue(db, customer.id, { limit: 30 }),
      listDecisions(db, customer.id, { limit: 20 }),
      headsLearning(db, customer.id),
    ]);
    return page(
      c,
      reviewPage({
        actor: actorOf(c),
        customer,
        jobs,
        queue,
        total,
        entries,
        decisions,
        learning: learning.note,
      }),
    );
  });

  app.get('/customers/:key/jobs', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const jobs = await db
      .select()
      .from(jobsTable)
      .where(eq(jobsTable.customerId, customer.id))
      .orderBy(asc(jobsTable.id));
    return page(c, jobsPage({ actor: actorOf(c), customer, jobs }));
  });

  app.get('/imports', need('viewer'), async (c) => {
    const customers = (await listCustomers(db)).map((x) => ({ key: x.key, name: x.name }));
    return page(c, importsPage({ actor: actorOf(c), customers, maxFile: sizeText(limits.fileBytes) }));
  });

  app.get('/people', need('lead'), async (c) => {
    const [users, tokens] = await Promise.all([listUsers(db), listApiTokens(db)]);
    return page(c, peoplePage({ actor: actorOf(c), users, tokens }));
  });

  // ---- JSON API: reading
  app.get('/api/me', need('viewer'), (c) => {
    const a = actorOf(c);
    return c.json({ name: a.name, email: a.email, role: a.role, via: a.via });
  });

  app.get('/api/customers', need('viewer'), async (c) => {
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

  app.get('/api/customers/:key/map', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    return c.json(await mapJson(db, customer.id));
  });

  app.get('/api/customers/:key/map/state', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const [version, state] = await Promise.all([mapVersion(db, customer.id), getMapState(db, customer.id)]);
    return c.json({ version, built_at: state?.builtAt.toISOString() ?? null, units: state?.units ?? 0 });
  });

  app.get('/api/customers/:key/units', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const limitText = c.req.query('limit');
    if (limitText === undefined) return c.json((await unitsWithTags(db, customer.id)).map(unitJson));
    // A page at a time for big customers: every unit at once is tens of megabytes held in memory.
    const limit = Number(limitText);
    const after = Number(c.req.query('after') ?? 0);
    if (!Number.isInteger(limit) || limit < 1 || limit > 5000)
      throw new GapmapError('bad_input', `limit: expected a whole number from 1 to 5000, got "${limitText}"`);
    if (!Number.isInteger(after) || after < 0)
      throw new GapmapError(
        'bad_input',
        `after: expected the cursor of a page's Link header, got "${c.req.query('after')}"`,
      );
    const page = await unitsWithTags(db, customer.id, { afterId: after, limit });
    if (page.length === limit) {
      const next = `/api/customers/${encodeURIComponent(customer.key)}/units?limit=${limit}&after=${page.at(-1)!.id}`;
      c.header('Link', `<${next}>; rel="next"`);
    }
    return c.json(page.map(unitJson));
  });

  app.get('/api/customers/:key/entries/:entry', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const entry = await getMapEntry(db, customer.id, c.req.param('entry'));
    if (!entry)
      throw new GapmapError(
        'not_found',
        `no map entry "${c.req.param('entry')}" for customer "${customer.key}"`,
      );
    const from = Math.max(0, Number(c.req.query('from') ?? 0) || 0);
    const limit = Math.min(5000, Math.max(1, Number(c.req.query('limit') ?? 1000) || 1000));
    const evidence = await unitsByRefs(db, customer.id, entry.refs.slice(from, from + limit));
    return c.json({
      evidence_from: from,
      key: entry.entryKey,
      job: entry.job,
      row: entry.row,
      label: entry.label,
      count: entry.count,
      sentiment: entry.sentiment,
      quote: entry.quote,
      quote_ref: entry.quoteRef,
      refs: entry.refs,
      origin: entry.origin,
      evidence: evidence.map((u) => ({ ...unitJson(u), source_id: u.externalId })),
    });
  });

  app.get('/api/customers/:key/review-count', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    return c.json({ units: await countUnitQueue(db, customer.id) });
  });

  app.get('/api/customers/:key/review-queue', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const limit = Math.min(500, Number(c.req.query('limit') ?? 50) || 50);
    const [queue, total, entries] = await Promise.all([
      unitQueue(db, customer.id, { limit }),
      countUnitQueue(db, customer.id),
      entryQueue(db, customer.id, { limit }),
    ]);
    return c.json({
      total,
      units: queue.map((u) => ({
        ref: u.ref,
        text: u.text,
        source_type: u.sourceType,
        job: u.job,
        kind: u.kind,
        sentiment: u.sentiment,
        confidence: u.confidence,
      })),
      entries: entries.map((e) => ({
        key: e.entry_key,
        job: e.job,
        row: e.row,
        label: e.label,
        count: e.count,
        confidence: e.confidence,
      })),
    });
  });

  app.get('/api/customers/:key/decisions', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const rows = await listDecisions(db, customer.id, {
      limit: Math.min(1000, Number(c.req.query('limit') ?? 100) || 100),
    });
    return c.json(
      rows.map((d) => ({
        ref: d.ref,
        entry: d.entryKey,
        action: d.action,
        value: d.value,
        who: d.who,
        at: d.at.toISOString(),
      })),
    );
  });

  app.get('/api/customers/:key/export.json', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    c.header('Content-Disposition', attachment(`${customer.key}-map.json`));
    return c.json(await mapJson(db, customer.id));
  });
  app.get('/api/customers/:key/export.md', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    return c.body(mapMarkdown(await mapJson(db, customer.id)), 200, {
      'Content-Type': 'text/markdown; charset=utf-8',
      'Content-Disposition': attachment(`${customer.key}-map.md`),
    });
  });
  app.get('/api/customers/:key/export.csv', need('viewer'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const [units, entries] = await Promise.all([
      unitsWithTags(db, customer.id),
      mapEntriesOf(db, customer.id),
    ]);
    const entryOf = new Map<string, string[]>();
    for (const e of entries) for (const r of e.refs) entryOf.set(r, [...(entryOf.get(r) ?? []), e.entryKey]);
    return c.body(unitsCsv(units, entryOf), 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': attachment(`${customer.key}-units.csv`),
    });
  });

  // ---- JSON API: decisions (lead)
  app.post('/api/customers/:key/units/decide', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const body = await bodyOf(c, UnitDecisionBody);
    const decision = (
      'value' in body ? { action: body.action, value: body.value } : { action: body.action }
    ) as UnitDecision;
    const res = await decideUnit(db, {
      customerId: customer.id,
      ref: body.ref,
      who: who(actorOf(c)),
      decision,
      expected: body.action === 'accept' ? body.expected : undefined,
    });
    background.mapChanged(customer.id);
    const learning = await headsLearning(db, customer.id);
    return c.json({ ok: true, ref: body.ref, decisions: res.rows, learning });
  });

  app.post('/api/customers/:key/entries/merge', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const body = await bodyOf(c, MergeBody);
    const res = await mergeEntries(db, {
      customerId: customer.id,
      entryKeys: body.entries,
      label: body.label,
      who: who(actorOf(c)),
    });
    background.mapChanged(customer.id);
    return c.json({ ok: true, entry: res.entryKey });
  });

  app.post('/api/customers/:key/entries/:entry/decide', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const body = await bodyOf(c, EntryDecisionBody);
    const res = await decideEntry(db, {
      customerId: customer.id,
      entryKey: c.req.param('entry'),
      who: who(actorOf(c)),
      decision: body,
    });
    background.mapChanged(customer.id);
    return c.json({ ok: true, label: res.label });
  });

  app.post('/api/customers/:key/entries/:entry/split', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const body = await bodyOf(c, SplitBody);
    const res = await splitEntry(db, {
      customerId: customer.id,
      entryKey: c.req.param('entry'),
      refs: body.refs,
      label: body.label,
      who: who(actorOf(c)),
    });
    background.mapChanged(customer.id);
    return c.json({ ok: true, entries: res.entryKeys });
  });

  app.post('/api/customers/:key/jobs', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const body = await bodyOf(c, JobBody);
    const saved = await saveJob(db, {
      customerId: customer.id,
      key: body.key,
      statement: body.statement,
      desiredOutcome: body.desired_outcome,
      who: who(actorOf(c)),
      create: true,
    });
    background.jobsChanged(customer.id);
    return c.json({ ok: true, key: saved.key }, 201);
  });

  app.put('/api/customers/:key/jobs/:job', need('lead'), async (c) => {
    const customer = await customerOf(c.req.param('key'));
    const body = await bodyOf(c, JobEditBody);
    await saveJob(db, {
      customerId: customer.id,
      key: c.req.param('job'),
      statement: body.statement,
      desiredOutcome: body.desired_outcome,
      who: who(actorOf(c)),
      create: false,
    });
    background.jobsChanged(customer.id);
    return c.json({ ok: true });
  });

  // ---- JSON API: imports
  app.get('/api/imports', need('viewer'), async (c) => {
    const limit = Math.min(500, Number(c.req.query('limit') ?? 50) || 50);
    const runs = await listImportRuns(db, { limit });
    const llm = await llmByRun(
      db,
      runs.map((r) => r.id),
    );
    return c.json(
      runs.map((r) => ({ ...runJson(r, llm.get(r.id)), progress: background.progress(r.id) ?? null })),
    );
  });

  app.post(
    '/api/imports',
    need('researcher'),
    bodyLimit({
      maxSize: limits.requestBytes,
      onError: () => {
        throw new GapmapError(
          'too_large',
          `upload over ${sizeText(limits.requestBytes)} in one go: upload fewer files at a time, or import big exports with \`gapmap import\``,
        );
      },
    }),
    async (c) => {
      const form = await c.req.parseBody({ all: true });
      const files = [form.files ?? form.file ?? []].flat().filter((f): f is File => f instanceof File);
      if (files.length === 0)
        throw new GapmapError('bad_input', 'files: expected one or more files in the "files" field');
      const customerKey =
        typeof form.customer === 'string' && form.customer.trim() ? form.customer.trim() : undefined;
      if (customerKey) await customerOf(customerKey);
      let speakers: Record<string, string[]> = {};
      if (typeof form.speakers === 'string' && form.speakers.trim()) {
        const parsed = z.record(z.string(), z.array(z.string())).safeParse(JSON.parse(form.speakers));
        if (!parsed.success)
          throw new GapmapError('bad_input', 'speakers: expected {"<file name>": ["Speaker", ...]}');
        speakers = parsed.data;
      }
      const dir = path.join(
        config.home,
        'uploads',
        `${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`,
      );
      fs.mkdirSync(dir, { recursive: true });
      const results = [];
      for (const file of files) results.push(await acceptFile(file, dir, customerKey, speakers[file.name]));
      const accepted = results.filter((r) => r.status === 'accepted').length;
      return c.json({ accepted, refused: results.length - accepted, files: results }, accepted ? 202 : 400);
    },
  );

  async function acceptFile(
    file: File,
    dir: string,
    customer: string | undefined,
    speakers: string[] | undefined,
  ) {
    const name = safeName(file.name);
    const refuse = async (message: string) => {
      const run = await createImportRun(db, { source: `upload:${name}`, kind: 'upload' });
      await updateImportRun(db, run.id, { status: 'failed', error: message, finishedAt: new Date() });
      return { file: file.name, status: 'refused' as const, run_id: run.id, message };
    };
    if (file.size > limits.fileBytes)
      return refuse(
        `${file.name}: ${sizeText(file.size)} is over the ${sizeText(limits.fileBytes)} limit for one file: split it, or import it with \`gapmap import\``,
      );
    if (file.size === 0) return refuse(`${file.name}: the file is empty`);
    let target = path.join(dir, name);
    for (let n = 2; fs.existsSync(target); n++) target = path.join(dir, `${n}-${name}`);
    fs.writeFileSync(target, Buffer.from(await file.arrayBuffer()));
    const format = await checkedFormat(target);
    const drop = () => fs.rmSync(target, { force: true });
    const isTranscript =
      format === 'vtt' ||
      format === 'srt' ||
      format === 'txt-transcript' ||
      (format === 'docx' && speakers?.length);
    let error: string | null = null;
    if (format === 'unknown')
      error = `${file.name}: not a format Gapmap reads (judged by its content, not its name): expected a transcript (.vtt, .srt, .txt, .docx), interview notes (.md, .txt, .docx), a survey CSV with a response_id column, tickets as JSONL or a Zendesk JSON export, or customers.json`;
    else if (format === 'transcript-index' || format === 'notes-index')
      error = `${file.name}: an index.json only works next to its files: upload the transcripts themselves and pick their customer and speakers here, or import the folder with \`gapmap import\``;
    else if ((isTranscript || format === 'notes' || format === 'docx') && !customer)
      error = `${file.name}: pick the customer this ${isTranscript ? 'transcript' : 'notes file'} is about, then upload it again`;
    else if (isTranscript && !speakers?.length)
      error = `${file.name}: pick which speakers are the customer’s (the interviewer’s turns are left out), then upload it again`;
    if (error) {
      drop();
      return refuse(error);
    }
    const run = await createImportRun(db, { source: `upload:${name}`, kind: 'upload', status: 'queued' });
    await background.startImport({
      runId: run.id,
      path: target,
      customer,
      speakers: isTranscript ? speakers : undefined,
    });
    return { file: file.name, status: 'accepted' as const, run_id: run.id, format, message: null };
  }

  // ---- JSON API: people (lead)
  app.get('/api/users', need('lead'), async (c) => {
    const users = await listUsers(db);
    return c.json(
      users.map((u) => ({
        id: u.id,
        email: u.email,
        name: u.name,
        role: u.role,
        created_at: u.createdAt.toISOString(),
      })),
    );
  });

  app.post('/api/users', need('lead'), async (c) => {
    const body = await bodyOf(c, UserBody);
    const user = await createUser(db, body);
    usersExist = true;
    // The local lead making the first account becomes that account, so nobody is locked out.
    if (actorOf(c).via === 'local') setSessionCookie(c, await createSession(db, user.id));
    return c.json(user, 201);
  });

  app.post('/api/tokens', need('lead'), async (c) => {
    const body = await bodyOf(c, TokenBody);
    const res = await createApiToken(db, { userId: body.user_id, name: body.name });
    return c.json({ id: res.id, token: res.token, note: 'shown once: store it now' }, 201);
  });

  app.delete('/api/tokens/:id', need('lead'), async (c) => {
    const raw = c.req.param('id');
    const id = Number(raw);
    // Ids are PostgreSQL integers: anything else would fail in the query, as a 500.
    if (!/^\d+$/.test(raw) || id < 1 || id > 2 ** 31 - 1)
      throw new GapmapError(
        'bad_input',
        `token id "${raw}": expected a number (the token's id on the People page)`,
      );
    await revokeApiToken(db, id);
    return c.json({ ok: true });
  });

  return { app, background };
}

function setSessionCookie(c: Context, value: string) {
  setCookie(c, SESSION_COOKIE, value, {
    path: '/',
    httpOnly: true,
    sameSite: 'Lax',
    secure: new URL(c.req.url).protocol === 'https:',
    maxAge: SESSION_DAYS * 24 * 3600,
  });
}

/** The Hono app alone (tests use `app.request`); `createDashboard` also gives its background work. */
export function createApp(p: AppOptions) {
  return createDashboard(p).app;
}

export async function startServer(p: AppOptions & { port: number }) {
  const { app, background } = createDashboard(p);
  const host = p.host ?? '127.0.0.1';
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: p.port, hostname: host }, () => resolve(s));
    s.once('error', (err) => reject(listenError(err, host, p.port, 'another gapmap serve?')));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : p.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (isLoopback(host) && (await countUsers(p.handle.db)) === 0)
    console.error(
      `No users yet: anyone on this computer is the local lead at ${url}. Add people on ${url}/people (the first one ends local mode).`,
    );
  return {
    url,
    port,
    background,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await background.close();
    },
  };
}
