/**
 * Zendesk: the cursor-based incremental ticket export
 * (GET /api/v2/incremental/tickets/cursor.json?start_time=... then ?cursor=...), with users,
 * groups and organizations side-loaded on each page, and each ticket's comments from
 * GET /api/v2/tickets/{id}/comments.json. API-token basic auth: `{email}/token:{api_token}`.
 *
 * Each export page becomes one `ConnectorPage`. Its cursor is Zendesk's `after_cursor`, which the
 * docs define as the starting point for the next page *or the next export*, so the cursor saved
 * after the last page is where tomorrow's run begins. A ticket changed after it was exported comes
 * back later in the stream (ordered by generated_timestamp), so storing pages in order and
 * upserting by ticket id converges on the latest version.
 */
import type { ParsedItem } from '../types.ts';
import {
  createHttpClient,
  emailDomain,
  mapLimit,
  resolveCustomer,
  type ConnectorPage,
  type CustomerMapping,
  type HttpClientOptions,
} from './http.ts';

export interface ZendeskConfig {
  /** https://{subdomain}.zendesk.com (or the test server). */
  baseUrl: string;
  email: string;
  apiToken: string;
  /** Unix seconds the first export starts from (default 0: everything). */
  startTime?: number;
  mapping: CustomerMapping;
  /** Fetch every ticket's comments (one more request per ticket; default true). */
  comments?: boolean;
  /** Tickets per export page; Zendesk's maximum is 1000. */
  perPage?: number;
  /** Comment requests in flight at once. */
  commentConcurrency?: number;
}

export interface ConnectorRuntime {
  retry?: HttpClientOptions['retry'];
  log?: HttpClientOptions['log'];
  sleep?: HttpClientOptions['sleep'];
  now?: HttpClientOptions['now'];
  signal?: AbortSignal;
}

/** What the connector keeps of Zendesk's JSON: only the fields it reads, all optional but the id. */
interface ZdTicket {
  id: number;
  subject?: string | null;
  raw_subject?: string | null;
  description?: string | null;
  status?: string;
  tags?: string[];
  requester_id?: number | null;
  organization_id?: number | null;
  group_id?: number | null;
  created_at?: string | null;
  updated_at?: string | null;
}
interface ZdUser {
  id: number;
  name?: string;
  email?: string | null;
  role?: string;
}
interface ZdExportPage {
  tickets?: ZdTicket[];
  users?: ZdUser[];
  groups?: Array<{ id: number; name: string }>;
  organizations?: Array<{ id: number; name: string; domain_names?: string[] }>;
  after_cursor?: string | null;
  end_of_stream?: boolean;
}
interface ZdComment {
  author_id: number;
  body?: string;
  plain_body?: string;
  public?: boolean;
  created_at?: string;
}
interface ZdCommentsPage {
  comments?: ZdComment[];
  users?: ZdUser[];
  meta?: { has_more?: boolean; after_cursor?: string | null };
}

/** BUNDLE.md's ticket comment (as ingest/tickets.ts keeps it), plus whether the customer sees it. */
export interface TicketComment {
  author_role: 'customer' | 'agent';
  body: string;
  created_at: string | null;
  public: boolean;
}

export function zendeskClient(config: ZendeskConfig, rt: ConnectorRuntime = {}) {
  return createHttpClient({
    service: 'Zendesk',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${config.email}/token:${config.apiToken}`).toString('base64'),
    },
    secrets: [config.apiToken],
    retry: rt.retry,
    log: rt.log,
    sleep: rt.sleep,
    now: rt.now,
    signal: rt.signal,
  });
}

/**
 * The export from `cursor` (a saved `after_cursor`), or from `config.startTime` when there is none.
 * Pages are fetched one at a time, as they are consumed, so a consumer that stops early stops the
 * export with it.
 */
export async function* zendeskPages(
  config: ZendeskConfig,
  cursor: string | null,
  rt: ConnectorRuntime = {},
): AsyncGenerator<ConnectorPage> {
  const http = zendeskClient(config, rt);
  const base = config.baseUrl.replace(/\/+$/, '');
  const perPage = config.perPage ?? 1000;
  let current = cursor;
  for (;;) {
    const url = new URL(`${base}/api/v2/incremental/tickets/cursor.json`);
    if (current) url.searchParams.set('cursor', current);
    else url.searchParams.set('start_time', String(config.startTime ?? 0));
    url.searchParams.set('per_page', String(perPage));
    url.searchParams.set('include', 'users,groups,organizations');
    const { body } = await http.getJson<ZdExportPage>(url);

    const users = new Map((body.users ?? []).map((u) => [u.id, u]));
    const groups = new Map((body.groups ?? []).map((g) => [g.id, g.name]));
    const orgs = new Map((body.organizations ?? []).map((o) => [o.id, o]));
    const tickets = body.tickets ?? [];
    const live = tickets.filter((t) => t.status !== 'deleted');
    const comments =
      config.comments === false
        ? new Map<number, TicketComment[]>()
        : new Map(
            await mapLimit(
              live,
              config.commentConcurrency ?? 8,
              async (t) => [t.id, await fetchComments(http, base, t)] as const,
            ),
          );

    const items: ParsedItem[] = live.map((t) => {
      const requester = t.requester_id != null ? users.get(t.requester_id) : undefined;
      const org = t.organization_id != null ? orgs.get(t.organization_id) : undefined;
      const domain = emailDomain(requester?.email);
      const { customerKey, unmapped } = resolveCustomer(config.mapping, {
        organizationId: org ? String(org.id) : null,
        organizationName: org?.name ?? null,
        domains: [domain, ...(org?.domain_names ?? [])],
      });
      return ticketItem(base, t, {
        customerKey,
        unmapped,
        group: t.group_id != null ? (groups.get(t.group_id) ?? null) : null,
        organization: org?.name ?? null,
        requester: requester ?? null,
        comments: comments.get(t.id) ?? null,
      });
    });

    const done = body.end_of_stream === true;
    // An empty last page may come without a cursor: then the one we had still stands.
    current = body.after_cursor ?? current;
    yield {
      items,
      deleted: tickets.filter((t) => t.status === 'deleted').map((t) => String(t.id)),
      cursor: current ?? '',
      done,
    };
    if (done) return;
    if (!body.after_cursor)
      throw new Error(`Zendesk export page without after_cursor and end_of_stream=false at ${url.pathname}`);
  }
}

async function fetchComments(
  http: ReturnType<typeof zendeskClient>,
  base: string,
  t: ZdTicket,
): Promise<TicketComment[]> {
  const out: TicketComment[] = [];
  let after: string | null = null;
  do {
    const url = new URL(`${base}/api/v2/tickets/${t.id}/comments.json`);
    url.searchParams.set('page[size]', '100');
    url.searchParams.set('include', 'users');
    if (after) url.searchParams.set('page[after]', after);
    const { body }: { body: ZdCommentsPage } = await http.getJson<ZdCommentsPage>(url);
    const users = new Map((body.users ?? []).map((u) => [u.id, u]));
    for (const c of body.comments ?? []) {
      const role = users.get(c.author_id)?.role;
      out.push({
        author_role: c.author_id === t.requester_id || role === 'end-user' ? 'customer' : 'agent',
        body: c.plain_body ?? c.body ?? '',
        created_at: c.created_at ?? null,
        public: c.public !== false,
      });
    }
    after = body.meta?.has_more ? (body.meta.after_cursor ?? null) : null;
  } while (after);
  return out;
}

/** One ticket as an item with one unit: subject, a newline, the first customer message. */
export function ticketItem(
  base: string,
  t: ZdTicket,
  ctx: {
    customerKey: string;
    unmapped: string | null;
    group: string | null;
    organization: string | null;
    requester: ZdUser | null;
    comments: TicketComment[] | null;
  },
): ParsedItem {
  const subject = (t.subject ?? t.raw_subject ?? '').trim();
  const description = (t.description ?? '').trim();
  const createdAt = parseDate(t.created_at);
  const meta: Record<string, unknown> = {
    subject,
    group: ctx.group,
    tags: t.tags ?? [],
    organization: ctx.organization,
    status: t.status ?? null,
    updatedAt: t.updated_at ?? null,
    source: 'zendesk',
  };
  if (ctx.comments) meta.comments = ctx.comments;
  if (ctx.unmapped !== null) meta.unmappedOrganization = ctx.unmapped;
  return {
    sourceType: 'ticket',
    externalId: String(t.id),
    customerKey: ctx.customerKey,
    occurredAt: createdAt,
    origin: { file: `${base}/agent/tickets/${t.id}`, line: null },
    meta,
    units: [
      {
        ref: `ticket:${t.id}`,
        ordinal: 1,
        speaker: ctx.requester?.name ?? null,
        text: subject ? `${subject}\n${description}` : description,
        occurredAt: createdAt,
        offsetMs: null,
      },
    ],
  };
}

function parseDate(s: string | null | undefined): Date | null {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}
