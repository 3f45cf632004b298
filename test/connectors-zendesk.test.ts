import { afterEach, describe, expect, it } from 'vitest';
import { zendeskPages, type ZendeskConfig } from '../ingest/connectors/zendesk.ts';
import { ConnectorError, type ConnectorPage, type HttpEvent } from '../ingest/connectors/http.ts';
import { generateZendesk, startFakeZendesk, virtualClock, type FakeZendesk } from './helpers/fake-zendesk.ts';

const EMAIL = 'sync@team.example';
const TOKEN = 'zd-secret-token-4f9a2c';

let server: FakeZendesk | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(tickets: number, extra: Parameters<typeof generateZendesk>[0] = { tickets }) {
  server = await startFakeZendesk({
    email: EMAIL,
    token: TOKEN,
    data: generateZendesk({ ...extra, tickets }),
  });
  return server;
}

function config(s: FakeZendesk, over: Partial<ZendeskConfig> = {}): ZendeskConfig {
  return {
    baseUrl: s.url,
    email: EMAIL,
    apiToken: TOKEN,
    perPage: 10,
    mapping: { organizations: { 'Org A': 'acme', '501': 'bolt' }, domains: { 'org2.example': 'cyan' } },
    ...over,
  };
}

async function collect(it: AsyncIterable<ConnectorPage>): Promise<ConnectorPage[]> {
  const pages: ConnectorPage[] = [];
  for await (const p of it) pages.push(p);
  return pages;
}

const ids = (pages: ConnectorPage[]) => pages.flatMap((p) => p.items.map((i) => i.externalId));

describe('zendeskPages', () => {
  it('walks the export page by page, every ticket once, with its comments, group, tags and customer', async () => {
    const s = await start(25, { tickets: 25, organizations: 4, orphanShare: 0.2 });
    const pages = await collect(zendeskPages(config(s), null));

    expect(pages.map((p) => p.items.length + p.deleted.length)).toEqual([10, 10, 5]);
    expect(pages.map((p) => p.done)).toEqual([false, false, true]);
    expect(ids(pages)).toEqual(s.data.tickets.map((t) => String(t.id)));
    expect(new Set(pages.map((p) => p.cursor)).size).toBe(3);
    // The first request starts from start_time, the rest follow the cursor of the page before.
    const exports = s.requests.filter((r) => r.path.endsWith('/cursor.json'));
    expect(exports[0]!.query.get('start_time')).toBe('0');
    expect(exports.slice(1).map((r) => r.query.get('cursor'))).toEqual(
      pages.slice(0, 2).map((p) => p.cursor),
    );
    expect(exports[0]!.query.get('include')).toBe('users,groups,organizations');

    const src = s.data.tickets[3]!;
    const item = pages.flatMap((p) => p.items).find((i) => i.externalId === String(src.id))!;
    expect(item.units).toHaveLength(1);
    expect(item.units[0]!.ref).toBe(`ticket:${src.id}`);
    expect(item.units[0]!.text).toBe(`${src.subject}\n${src.description}`);
    expect(item.meta.group).toBe(s.data.groups.find((g) => g.id === src.group_id)!.name);
    expect(item.meta.tags).toEqual(src.tags);
    expect(item.meta.status).toBe(src.status);
    expect(item.meta.updatedAt).toBe(src.updated_at);
    expect(item.meta.comments).toEqual([
      { author_role: 'customer', body: src.description, created_at: src.created_at, public: true },
      {
        author_role: 'agent',
        body: 'Thanks for writing in (reply 1).',
        created_at: src.created_at,
        public: true,
      },
    ]);

    const byOrg = (orgId: number | null) =>
      pages
        .flatMap((p) => p.items)
        .filter((i) => s.data.tickets.find((t) => String(t.id) === i.externalId)!.organization_id === orgId);
    expect(new Set(byOrg(500).map((i) => i.customerKey))).toEqual(new Set(['acme'])); // by name
    expect(new Set(byOrg(501).map((i) => i.customerKey))).toEqual(new Set(['bolt'])); // by id
    expect(new Set(byOrg(502).map((i) => i.customerKey))).toEqual(new Set(['cyan'])); // by requester domain
    const unmapped = [...byOrg(503), ...byOrg(null)];
    expect(unmapped.length).toBeGreaterThan(0);
    for (const i of unmapped) expect(i.customerKey).toBe('');
    expect(new Set(unmapped.map((i) => i.meta.unmappedOrganization))).toEqual(
      new Set([...(byOrg(503).length ? ['Org D'] : []), ...(byOrg(null).length ? ['@unknown.example'] : [])]),
    );
    for (const i of pages.flatMap((p) => p.items).filter((x) => x.customerKey))
      expect(i.meta).not.toHaveProperty('unmappedOrganization');
  });

  it('resumes from a saved cursor, and the last cursor yields only what changed since, deletions included', async () => {
    const s = await start(25);
    const first = await collect(zendeskPages(config(s), null));
    const rest = await collect(zendeskPages(config(s), first[0]!.cursor));
    expect(ids(rest)).toEqual(ids(first).slice(10));

    const tail = first[first.length - 1]!.cursor;
    expect(await collect(zendeskPages(config(s), tail))).toEqual([
      { items: [], deleted: [], cursor: tail, done: true },
    ]);

    const [a, b] = s.data.tickets;
    s.updateTicket(a!.id, { subject: 'Cannot swap a shift (still)' });
    s.deleteTicket(b!.id);
    const added = s.addTickets(2);
    const next = await collect(zendeskPages(config(s), tail));
    expect(ids(next)).toEqual([String(a!.id), ...added.map((t) => String(t.id))]);
    expect(next.flatMap((p) => p.deleted)).toEqual([String(b!.id)]);
    expect(next.flatMap((p) => p.items)[0]!.units[0]!.text.startsWith('Cannot swap a shift (still)\n')).toBe(
      true,
    );
    expect(next.at(-1)!.done).toBe(true);
  });

  it('waits as long as Retry-After says on 429, backs off on 5xx, and refetches a page cut off mid-body', async () => {
    const s = await start(25);
    const clean = await collect(zendeskPages(config(s, { comments: false }), null));
    s.requests.length = 0;

    s.fail({ path: '/api/v2/incremental', fault: { kind: 'status', status: 429, retryAfter: '7' } });
    s.fail({ path: '/api/v2/incremental', fault: { kind: 'status', status: 503 }, times: 2 });
    s.fail({ path: '/api/v2/incremental', fault: { kind: 'drop', fraction: 0.4 } });
    s.fail({ path: '/api/v2/incremental', fault: { kind: 'status', status: 500 } });
    const clock = virtualClock();
    const events: HttpEvent[] = [];
    const pages = await collect(
      zendeskPages(config(s, { comments: false }), null, {
        ...clock,
        log: (e) => events.push(e),
        retry: { baseDelayMs: 1000 },
      }),
    );

    expect(pages).toEqual(clean);
    expect(s.requests.map((r) => r.fault)).toEqual([
      'status',
      'status',
      'status',
      'drop',
      'status',
      null,
      null,
      null,
    ]);
    expect(clock.sleeps[0]).toBe(7000);
    // Exponential back-off with jitter: attempt n waits between half and all of 1 s * 2^(n-1).
    clock.sleeps.slice(1).forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual((1000 * 2 ** (i + 1)) / 2);
      expect(ms).toBeLessThanOrEqual(1000 * 2 ** (i + 1));
    });
    expect(
      events.filter((e) => e.type === 'retry').map((e) => e.type === 'retry' && e.reason.split(' ')[0]),
    ).toEqual(['HTTP', 'HTTP', 'HTTP', 'connection', 'HTTP']);
  });

  it('retries a request that gets no answer within the timeout', async () => {
    const s = await start(5);
    s.fail({ path: '/api/v2/incremental', fault: { kind: 'hang' } });
    const pages = await collect(
      zendeskPages(config(s, { comments: false }), null, {
        retry: { timeoutMs: 300, baseDelayMs: 1, maxDelayMs: 1 },
      }),
    );
    expect(ids(pages)).toHaveLength(5);
    expect(s.requests.filter((r) => r.fault === 'hang')).toHaveLength(1);
  });

  it('gives up after the time limit with an error naming path, status and attempts, never the token', async () => {
    const s = await start(5);
    s.fail({
      path: '/api/v2/incremental',
      fault: { kind: 'status', status: 503, body: { error: `echo ${TOKEN}` } },
      times: 1000,
    });
    const clock = virtualClock();
    const events: HttpEvent[] = [];
    const err = await collect(
      zendeskPages(config(s), null, {
        ...clock,
        log: (e) => events.push(e),
        retry: { baseDelayMs: 1000, maxDelayMs: 8000, maxTotalMs: 60_000 },
      }),
    ).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ConnectorError);
    const ce = err as ConnectorError;
    expect(ce.code).toBe('service_unavailable');
    expect(ce.httpStatus).toBe(503);
    expect(ce.path).toBe('/api/v2/incremental/tickets/cursor.json');
    expect(ce.attempts).toBe(s.requests.length);
    expect(ce.message).toMatch(
      /Zendesk GET \/api\/v2\/incremental\/tickets\/cursor\.json: gave up after \d+ attempts .*HTTP 503/,
    );
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(60_000);
    const everything = JSON.stringify([ce.message, ce.stack, ce.details, events]);
    expect(everything).not.toContain(TOKEN);
  });

  it('stops at once on refused credentials, with a hint and without the token', async () => {
    const s = await start(5);
    const err = await collect(zendeskPages(config(s, { apiToken: 'wrong-token-123456' }), null)).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectorError);
    const ce = err as ConnectorError;
    expect(ce.code).toBe('unauthorized');
    expect(ce.httpStatus).toBe(401);
    expect(ce.attempts).toBe(1);
    expect(ce.message).toContain('HTTP 401');
    expect(ce.message).toContain('API token');
    expect(ce.message).not.toContain('wrong-token-123456');
    expect(s.requests.every((r) => !r.authorized)).toBe(true);
    expect(s.requests).toHaveLength(1);
  });
});
