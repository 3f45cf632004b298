/**
 * A Zendesk Support API on 127.0.0.1 for tests and the nightly benchmark: a real node:http server
 * that follows the public documentation of the endpoints the connector uses.
 *
 * - GET /api/v2/incremental/tickets/cursor.json?start_time=<unix>|cursor=<c>[&per_page][&include]
 *   tickets ordered by generated_timestamp then id; `after_cursor`/`after_url` point past the last
 *   ticket of the page and stay valid for the next export; `end_of_stream` when nothing follows;
 *   deleted tickets come back with status "deleted"; `include=users,groups,organizations` side-loads.
 * - GET /api/v2/tickets/{id}/comments.json with cursor pagination (page[size], page[after],
 *   meta.has_more, meta.after_cursor, links.next) and `include=users`.
 * - API-token basic auth (`{email}/token:{token}`), 401 otherwise.
 *
 * Faults are queued with `fail()` and each is served once, to the first request it matches:
 * an HTTP status (429 with Retry-After, 5xx), a connection dropped part-way through the body,
 * or a request that never gets an answer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../../classifiers/random.ts';

// ---------------------------------------------------------------------------------------------
// A small JSON server with a fault queue, shared with fake-intercom.ts.

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string; headers?: Record<string, string>; body?: unknown }
  /** Sends the status line, headers and part of the real body, then destroys the socket. */
  | { kind: 'drop'; fraction?: number }
  /** Accepts the request and never answers (the client's timeout must fire). */
  | { kind: 'hang' };

export interface FaultRule {
  fault: Fault;
  /** Only requests whose path starts with this (default: any). */
  path?: string;
  /** How many matching requests it hits (default 1). */
  times?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: URLSearchParams;
  /** The request carried valid credentials. The credentials themselves are never recorded. */
  authorized: boolean;
  headers: Record<string, string>;
  fault: Fault['kind'] | null;
  status: number;
}

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface JsonServer {
  url: string;
  requests: RequestRecord[];
  fail(rule: FaultRule | Fault): void;
  /** Called before each request is answered (after faults): lets a test act mid-run. */
  onRequest?: (rec: RequestRecord) => void;
  close(): Promise<void>;
}

export async function startJsonServer(
  handle: (req: { method: string; url: URL; headers: http.IncomingHttpHeaders; body: string }) => Reply,
  authorize: (headers: http.IncomingHttpHeaders) => boolean,
  unauthorized: () => Reply,
): Promise<JsonServer> {
  const rules: Array<Required<Pick<FaultRule, 'times'>> & FaultRule> = [];
  const hanging = new Set<http.ServerResponse>();
  const api: JsonServer = {
    url: '',
    requests: [],
    fail(rule) {
      const r = 'fault' in rule ? rule : { fault: rule };
      rules.push({ ...r, times: r.times ?? 1 });
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', api.url);
      const rec: RequestRecord = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        authorized: authorize(req.headers),
        headers: Object.fromEntries(
          Object.entries(req.headers)
            .filter(([k]) => k !== 'authorization')
            .map(([k, v]) => [k, String(v)]),
        ),
        fault: null,
        status: 0,
      };
      api.requests.push(rec);
      const ruleIndex = rules.findIndex((r) => !r.path || url.pathname.startsWith(r.path));
      const rule = ruleIndex >= 0 ? rules[ruleIndex] : undefined;
      if (rule) {
        rule.times -= 1;
        if (rule.times <= 0) rules.splice(ruleIndex, 1);
        rec.fault = rule.fault.kind;
      }
      api.onRequest?.(rec);
      const fault = rule?.fault;
      if (fault?.kind === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (fault?.kind === 'status') {
        const headers: Record<string, string> = { 'content-type': 'application/json', ...fault.headers };
        if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
        rec.status = fault.status;
        res
          .writeHead(fault.status, headers)
          .end(JSON.stringify(fault.body ?? { error: `injected ${fault.status}` }));
        return;
      }
      const reply = rec.authorized
        ? handle({
            method: rec.method,
            url,
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          })
        : unauthorized();
      rec.status = reply.status;
      const text = Buffer.from(JSON.stringify(reply.body));
      if (fault?.kind === 'drop') {
        const cut = Math.max(1, Math.floor(text.length * (fault.fraction ?? 0.5)));
        res.writeHead(reply.status, {
          'content-type': 'application/json',
          'content-length': String(text.length),
          ...reply.headers,
        });
        res.write(text.subarray(0, cut), () => res.destroy());
        return;
      }
      res
        .writeHead(reply.status, {
          'content-type': 'application/json',
          'content-length': String(text.length),
          ...reply.headers,
        })
        .end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}

export function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)] as T;
}

// Invented feedback about an imaginary scheduling product: nothing here comes from real data.
export const SUBJECT_PARTS = {
  verb: ['Cannot', 'How do I', 'Slow to', 'Error when trying to', 'Love how easy it is to', 'Need a way to'],
  object: [
    'export the rota',
    'swap a shift',
    'add a new site',
    'print timesheets',
    'invite a manager',
    'sync holidays',
    'set overtime rules',
  ],
  when: [
    'on mobile',
    'for the night team',
    'before payroll closes',
    'after the update',
    'for part-timers',
    '',
  ],
} as const;

export function inventText(rnd: () => number): { subject: string; description: string } {
  const subject =
    `${pick(rnd, SUBJECT_PARTS.verb)} ${pick(rnd, SUBJECT_PARTS.object)} ${pick(rnd, SUBJECT_PARTS.when)}`.trim();
  const description =
    `Hello, ${subject.toLowerCase()} is something we run into every week. ` +
    `${pick(rnd, ['It takes our coordinator an hour.', 'We end up using a spreadsheet instead.', 'It worked fine last month.', 'The team really likes it.'])} ` +
    `${pick(rnd, ['Any ideas?', 'Is this on the roadmap?', 'Thanks a lot!', 'Please advise.'])}`;
  return { subject, description };
}

// ---------------------------------------------------------------------------------------------
// Zendesk.

export interface ZdOrganization {
  id: number;
  name: string;
  domain_names: string[];
}
export interface ZdUser {
  id: number;
  name: string;
  email: string;
  role: 'end-user' | 'agent' | 'admin';
  organization_id: number | null;
}
export interface ZdGroup {
  id: number;
  name: string;
}
export interface ZdComment {
  id: number;
  type: 'Comment';
  author_id: number;
  body: string;
  html_body: string;
  plain_body: string;
  public: boolean;
  created_at: string;
}
export interface ZdTicket {
  id: number;
  url: string;
  subject: string;
  raw_subject: string;
  description: string;
  status: 'new' | 'open' | 'pending' | 'hold' | 'solved' | 'closed' | 'deleted';
  tags: string[];
  requester_id: number;
  submitter_id: number;
  organization_id: number | null;
  group_id: number | null;
  created_at: string;
  updated_at: string;
  generated_timestamp: number;
}

export interface ZendeskData {
  tickets: ZdTicket[];
  comments: Map<number, ZdComment[]>;
  users: ZdUser[];
  organizations: ZdOrganization[];
  groups: ZdGroup[];
}

export interface GenerateOptions {
  tickets: number;
  organizations?: number;
  seed?: number;
  /** Unix seconds of the first ticket; one ticket per `spacing` seconds after it. */
  start?: number;
  spacing?: number;
  /** Agent replies per ticket after the requester's first message. */
  replies?: number;
  /** Share of tickets whose requester belongs to no organization (mapped by e-mail domain or not at all). */
  orphanShare?: number;
}

export const ZD_AGENT_ID = 1;

export function generateZendesk(opts: GenerateOptions): ZendeskData {
  const rnd = seededRandom(opts.seed ?? 7);
  const start = opts.start ?? 1_700_000_000;
  const spacing = opts.spacing ?? 1;
  const orgCount = opts.organizations ?? 4;
  const organizations: ZdOrganization[] = Array.from({ length: orgCount }, (_, i) => ({
    id: 500 + i,
    name: `Org ${String.fromCharCode(65 + (i % 26))}${i >= 26 ? i : ''}`,
    domain_names: [`org${i}.example`],
  }));
  const groups: ZdGroup[] = ['Billing', 'Onboarding', 'Tier 2'].map((name, i) => ({ id: 900 + i, name }));
  const users: ZdUser[] = [
    {
      id: ZD_AGENT_ID,
      name: 'Agent Smith',
      email: 'agent@helpdesk.example',
      role: 'agent',
      organization_id: null,
    },
  ];
  organizations.forEach((o, i) =>
    users.push({
      id: 1000 + i,
      name: `Requester ${i}`,
      email: `person${i}@org${i}.example`,
      role: 'end-user',
      organization_id: o.id,
    }),
  );
  const orphanId = 1000 + orgCount;
  users.push({
    id: orphanId,
    name: 'Lone Requester',
    email: 'someone@unknown.example',
    role: 'end-user',
    organization_id: null,
  });

  const tickets: ZdTicket[] = [];
  const comments = new Map<number, ZdComment[]>();
  let commentId = 1;
  for (let i = 0; i < opts.tickets; i++) {
    const id = 10_000 + i;
    const orphan = rnd() < (opts.orphanShare ?? 0);
    const orgIndex = Math.floor(rnd() * orgCount);
    const requester = orphan ? orphanId : 1000 + orgIndex;
    const { subject, description } = inventText(rnd);
    const ts = start + i * spacing;
    const iso = new Date(ts * 1000).toISOString().replace('.000Z', 'Z');
    tickets.push({
      id,
      url: `https://fake.zendesk.com/api/v2/tickets/${id}.json`,
      subject,
      raw_subject: subject,
      description,
      status: pick(rnd, ['new', 'open', 'pending', 'solved', 'closed'] as const),
      tags: [pick(rnd, ['rota', 'mobile', 'payroll', 'export']), pick(rnd, ['urgent', 'question', 'bug'])],
      requester_id: requester,
      submitter_id: requester,
      organization_id: orphan ? null : (organizations[orgIndex]?.id ?? null),
      group_id: pick(rnd, groups).id,
      created_at: iso,
      updated_at: iso,
      generated_timestamp: ts,
    });
    const list: ZdComment[] = [zdComment(commentId++, requester, description, true, iso)];
    for (let r = 0; r < (opts.replies ?? 1); r++)
      list.push(zdComment(commentId++, ZD_AGENT_ID, `Thanks for writing in (reply ${r + 1}).`, true, iso));
    comments.set(id, list);
  }
  return { tickets, comments, users, organizations, groups };
}

function zdComment(id: number, author: number, body: string, isPublic: boolean, at: string): ZdComment {
  return {
    id,
    type: 'Comment',
    author_id: author,
    body,
    html_body: `<div class="zd-comment"><p>${body}</p></div>`,
    plain_body: body,
    public: isPublic,
    created_at: at,
  };
}

export interface FakeZendesk extends JsonServer {
  data: ZendeskData;
  /** Changes a ticket now: it moves to the end of the export stream, as an update does in Zendesk. */
  updateTicket(
    id: number,
    change: Partial<Pick<ZdTicket, 'subject' | 'description' | 'status' | 'tags' | 'group_id'>>,
  ): void;
  deleteTicket(id: number): void;
  addTickets(count: number): ZdTicket[];
}

export async function startFakeZendesk(opts: {
  email: string;
  token: string;
  data: ZendeskData;
}): Promise<FakeZendesk> {
  const { data } = opts;
  // The export order; kept sorted by (generated_timestamp, id).
  let order = [...data.tickets].sort(byStream);
  let clock = order.reduce((m, t) => Math.max(m, t.generated_timestamp), 0);
  const usersById = new Map(data.users.map((u) => [u.id, u]));
  const orgsById = new Map(data.organizations.map((o) => [o.id, o]));
  const groupsById = new Map(data.groups.map((g) => [g.id, g]));
  const expected = 'Basic ' + Buffer.from(`${opts.email}/token:${opts.token}`).toString('base64');
  let base = '';

  const handle = ({ method, url }: { method: string; url: URL }): Reply => {
    if (method !== 'GET') return { status: 405, body: { error: 'MethodNotAllowed' } };
    if (url.pathname === '/api/v2/incremental/tickets/cursor.json') return exportPage(url);
    const m = /^\/api\/v2\/tickets\/(\d+)\/comments\.json$/.exec(url.pathname);
    if (m) return commentsPage(Number(m[1]), url);
    return { status: 404, body: { error: 'InvalidEndpoint', description: 'Not found' } };
  };

  function exportPage(url: URL): Reply {
    const q = url.searchParams;
    const perPage = Math.min(1000, Number(q.get('per_page') ?? 1000));
    let from: number;
    const cursor = q.get('cursor');
    if (cursor) {
      const pos = decodeCursor(cursor);
      if (!pos)
        return {
          status: 400,
          body: { error: 'InvalidPaginationParameter', description: 'cursor is invalid' },
        };
      from = lowerBound(order, pos, true);
    } else {
      const start = q.get('start_time');
      if (start === null || !/^\d+$/.test(start)) {
        return {
          status: 400,
          body: {
            error: 'InvalidValue',
            description: 'start_time is required and must be a Unix epoch time',
          },
        };
      }
      from = lowerBound(order, { ts: Number(start), id: -1 }, true);
    }
    const page = order.slice(from, from + perPage);
    const last = page[page.length - 1];
    const afterPos = last
      ? { ts: last.generated_timestamp, id: last.id }
      : cursor
        ? decodeCursor(cursor)!
        : { ts: Math.max(0, Number(q.get('start_time')) - 1), id: Number.MAX_SAFE_INTEGER };
    const after = encodeCursor(afterPos);
    const include = new Set((q.get('include') ?? '').split(',').filter(Boolean));
    const body: Record<string, unknown> = {
      tickets: page,
      after_cursor: after,
      after_url: `${base}/api/v2/incremental/tickets/cursor.json?cursor=${encodeURIComponent(after)}`,
      before_cursor: null,
      before_url: null,
      end_of_stream: from + page.length >= order.length,
    };
    if (include.has('users'))
      body.users = uniq(page.flatMap((t) => [t.requester_id, t.submitter_id])).flatMap(
        (id) => usersById.get(id) ?? [],
      );
    if (include.has('organizations'))
      body.organizations = uniq(page.map((t) => t.organization_id)).flatMap((id) =>
        id == null ? [] : (orgsById.get(id) ?? []),
      );
    if (include.has('groups'))
      body.groups = uniq(page.map((t) => t.group_id)).flatMap((id) =>
        id == null ? [] : (groupsById.get(id) ?? []),
      );
    return { status: 200, body };
  }

  function commentsPage(ticketId: number, url: URL): Reply {
    const all = data.comments.get(ticketId);
    if (!all) return { status: 404, body: { error: 'RecordNotFound', description: 'Not found' } };
    const size = Math.min(100, Number(url.searchParams.get('page[size]') ?? 100));
    const after = url.searchParams.get('page[after]');
    const start = after ? Number(Buffer.from(after, 'base64url').toString()) : 0;
    const page = all.slice(start, start + size);
    const hasMore = start + size < all.length;
    const next = Buffer.from(String(start + size)).toString('base64url');
    const body: Record<string, unknown> = {
      comments: page,
      meta: { has_more: hasMore, after_cursor: hasMore ? next : null, before_cursor: null },
      links: {
        next: hasMore
          ? `${base}/api/v2/tickets/${ticketId}/comments.json?page[size]=${size}&page[after]=${next}`
          : null,
        prev: null,
      },
    };
    if ((url.searchParams.get('include') ?? '').split(',').includes('users')) {
      body.users = uniq(page.map((c) => c.author_id)).flatMap((id) => usersById.get(id) ?? []);
    }
    return { status: 200, body };
  }

  const server = await startJsonServer(
    handle,
    (h) => h.authorization === expected,
    () => ({ status: 401, body: { error: "Couldn't authenticate you" } }),
  );
  base = server.url;

  function touch(t: ZdTicket) {
    clock += 1;
    order = order.filter((x) => x.id !== t.id);
    t.generated_timestamp = clock;
    t.updated_at = new Date(clock * 1000).toISOString().replace('.000Z', 'Z');
    order.push(t);
  }

  return Object.assign(server, {
    data,
    updateTicket(id: number, change: Partial<ZdTicket>) {
      const t = data.tickets.find((x) => x.id === id);
      if (!t) throw new Error(`no ticket ${id}`);
      Object.assign(t, change);
      if (change.description !== undefined) {
        const first = data.comments.get(id)?.[0];
        if (first)
          Object.assign(first, {
            body: change.description,
            plain_body: change.description,
            html_body: `<p>${change.description}</p>`,
          });
      }
      touch(t);
    },
    deleteTicket(id: number) {
      const t = data.tickets.find((x) => x.id === id);
      if (!t) throw new Error(`no ticket ${id}`);
      t.status = 'deleted';
      touch(t);
    },
    addTickets(count: number) {
      const more = generateZendesk({
        tickets: count,
        organizations: data.organizations.length,
        seed: data.tickets.length + 1,
      }).tickets;
      const firstId = data.tickets.reduce((m, t) => Math.max(m, t.id), 0) + 1;
      return more.map((t, i) => {
        const added: ZdTicket = {
          ...t,
          id: firstId + i,
          url: t.url.replace(/\d+\.json$/, `${firstId + i}.json`),
        };
        data.tickets.push(added);
        data.comments.set(added.id, [
          zdComment(added.id * 10, added.requester_id, added.description, true, added.created_at),
        ]);
        touch(added);
        return added;
      });
    },
  });
}

function byStream(a: ZdTicket, b: ZdTicket): number {
  return a.generated_timestamp - b.generated_timestamp || a.id - b.id;
}

/** First index whose (ts, id) is after `pos` (strictly, when `strict`). */
function lowerBound(order: ZdTicket[], pos: { ts: number; id: number }, strict: boolean): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const t = order[mid]!;
    const cmp = t.generated_timestamp - pos.ts || t.id - pos.id;
    if (cmp < 0 || (strict && cmp === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function encodeCursor(pos: { ts: number; id: number }): string {
  return Buffer.from(`${pos.ts}.0||${pos.id}|`).toString('base64');
}

function decodeCursor(c: string): { ts: number; id: number } | null {
  const m = /^(\d+)\.0\|\|(\d+)\|$/.exec(Buffer.from(c, 'base64').toString());
  return m ? { ts: Number(m[1]), id: Number(m[2]) } : null;
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/**
 * A clock for the retry logic: `sleep` records each wait and moves `now` forward instead of
 * waiting, so a test checks what the client waited for without waiting it out.
 */
export function virtualClock(start = 1_000_000) {
  let t = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}
