/**
 * Intercom: conversations updated since the last run (POST /conversations/search with
 * `updated_at > since`, walked with `pagination.starting_after`), each fetched with its parts
 * (GET /conversations/{id}?display_as=plaintext). Bearer token, pinned `Intercom-Version`.
 *
 * Intercom's search has no export cursor that outlives a walk, so the connector's cursor is its own
 * JSON: `since` (the lower bound of this walk), `after` (Intercom's starting_after inside it) and
 * `next` (where the next walk starts). `next` is taken from the server's clock when a walk begins,
 * minus an overlap: the search index lags writes by a little, and a conversation updated while we
 * walk must be met by the next run. The overlap re-reads a few conversations; the importer's
 * upsert by id makes that harmless, where a gap would lose them.
 *
 * A conversation is one ticket item `ticket:intercom-<id>`: Intercom and Zendesk ids are separate
 * number spaces, and the prefix keeps both in one sourceType. Intercom does not list deleted
 * conversations, so `deleted` is always empty.
 */
import type { ParsedItem } from '../types.ts';
import {
  createHttpClient,
  emailDomain,
  htmlToText,
  mapLimit,
  resolveCustomer,
  ConnectorError,
  type ConnectorPage,
  type CustomerMapping,
} from './http.ts';
import type { ConnectorRuntime, TicketComment } from './zendesk.ts';

export interface IntercomConfig {
  /** https://api.intercom.io (or api.eu.intercom.io, api.au.intercom.io, the test server). */
  baseUrl?: string;
  accessToken: string;
  /** The API version the fields below were read from. */
  version?: string;
  /** Unix seconds the first run starts from (default 0: everything). */
  since?: number;
  mapping: CustomerMapping;
  /** Conversations per search page; Intercom's maximum is 150. */
  perPage?: number;
  /** Seconds the next run reaches back before this run's start (default 300). */
  overlapSeconds?: number;
  /** Conversation requests in flight at once. */
  concurrency?: number;
}

export const INTERCOM_VERSION = '2.11';

interface IcAuthor {
  type?: string;
  id?: string;
  name?: string | null;
  email?: string | null;
}
interface IcPart {
  part_type?: string;
  body?: string | null;
  created_at?: number;
  author?: IcAuthor;
}
interface IcConversation {
  id: string;
  title?: string | null;
  created_at?: number;
  updated_at?: number;
  state?: string;
  team_assignee_id?: string | number | null;
  tags?: { tags?: Array<{ name?: string }> };
  source?: { subject?: string | null; body?: string | null; author?: IcAuthor };
  conversation_parts?: { conversation_parts?: IcPart[] };
}
interface IcSearchPage {
  conversations?: IcConversation[];
  pages?: { next?: { starting_after?: string | null } | null };
}

export interface IntercomCursor {
  since: number;
  after: string | null;
  next: number | null;
}

export function parseIntercomCursor(cursor: string | null, defaultSince: number): IntercomCursor {
  if (!cursor) return { since: defaultSince, after: null, next: null };
  try {
    const c = JSON.parse(cursor) as Partial<IntercomCursor>;
    if (typeof c.since === 'number') return { since: c.since, after: c.after ?? null, next: c.next ?? null };
  } catch {
    // fall through
  }
  throw new ConnectorError(
    'bad_input',
    `Intercom: the saved cursor ${JSON.stringify(cursor.slice(0, 80))} is not one this connector wrote (expected {"since":...})`,
    'Intercom',
    '',
    null,
    0,
  );
}

const CUSTOMER_AUTHORS = new Set(['user', 'lead', 'contact']);

export async function* intercomPages(
  config: IntercomConfig,
  cursor: string | null,
  rt: ConnectorRuntime = {},
): AsyncGenerator<ConnectorPage> {
  const base = (config.baseUrl ?? 'https://api.intercom.io').replace(/\/+$/, '');
  const http = createHttpClient({
    service: 'Intercom',
    headers: {
      authorization: `Bearer ${config.accessToken}`,
      'intercom-version': config.version ?? INTERCOM_VERSION,
    },
    secrets: [config.accessToken],
    retry: rt.retry,
    log: rt.log,
    sleep: rt.sleep,
    now: rt.now,
    signal: rt.signal,
  });
  const state = parseIntercomCursor(cursor, config.since ?? 0);
  const teams = await teamNames(http, base);

  for (;;) {
    const search = () =>
      http.postJson<IcSearchPage>(`${base}/conversations/search`, {
        query: { field: 'updated_at', operator: '>', value: state.since },
        pagination: {
          per_page: config.perPage ?? 150,
          ...(state.after ? { starting_after: state.after } : {}),
        },
      });
    let response;
    try {
      response = await search();
    } catch (err) {
      // A saved starting_after that Intercom no longer accepts: walk again from `since`. The pages
      // already stored come again and are stored as unchanged.
      if (!(err instanceof ConnectorError && err.httpStatus === 400 && state.after)) throw err;
      rt.log?.({
        type: 'retry',
        service: 'Intercom',
        method: 'POST',
        path: '/conversations/search',
        attempt: 1,
        reason: 'saved starting_after refused (HTTP 400): restarting the walk from since',
        delayMs: 0,
      });
      state.after = null;
      response = await search();
    }
    const { body, headers } = response;
    if (state.next === null) {
      const serverNow = Date.parse(headers.get('date') ?? '');
      const nowSecs = Math.floor((Number.isNaN(serverNow) ? Date.now() : serverNow) / 1000);
      state.next = Math.max(state.since, nowSecs - (config.overlapSeconds ?? 300));
    }
    const found = body.conversations ?? [];
    const full = await mapLimit(found, config.concurrency ?? 8, async (c) => {
      const { body: conv } = await http.getJson<IcConversation>(
        `${base}/conversations/${encodeURIComponent(c.id)}?display_as=plaintext`,
      );
      return conv;
    });
    const items = full.map((c) => conversationItem(base, c, config.mapping, teams));
    const after = body.pages?.next?.starting_after ?? null;
    const done = !after;
    const saved: IntercomCursor = done
      ? { since: state.next, after: null, next: null }
      : { since: state.since, after, next: state.next };
    yield { items, deleted: [], cursor: JSON.stringify(saved), done };
    if (done) return;
    state.after = after;
  }
}

async function teamNames(
  http: ReturnType<typeof createHttpClient>,
  base: string,
): Promise<Map<string, string>> {
  try {
    const { body } = await http.getJson<{ teams?: Array<{ id: string | number; name: string }> }>(
      `${base}/teams`,
    );
    return new Map((body.teams ?? []).map((t) => [String(t.id), t.name]));
  } catch (err) {
    // A token without the teams scope still syncs; groups then show the team id.
    if (err instanceof ConnectorError && err.httpStatus === 403) return new Map();
    throw err;
  }
}

export function conversationItem(
  base: string,
  c: IcConversation,
  mapping: CustomerMapping,
  teams: Map<string, string>,
): ParsedItem {
  const parts = c.conversation_parts?.conversation_parts ?? [];
  const sourceAuthor = c.source?.author;
  const sourceIsCustomer = CUSTOMER_AUTHORS.has(sourceAuthor?.type ?? '');
  const firstCustomerPart = parts.find(
    (p) => p.part_type === 'comment' && CUSTOMER_AUTHORS.has(p.author?.type ?? '') && p.body,
  );
  // An outbound message (an admin wrote first) has the customer's first words in a reply.
  const [firstText, firstAuthor, firstAt] =
    sourceIsCustomer || !firstCustomerPart
      ? [text(c.source?.body), sourceAuthor, c.created_at]
      : [text(firstCustomerPart.body), firstCustomerPart.author, firstCustomerPart.created_at];
  const customerAuthor = sourceIsCustomer ? sourceAuthor : (firstCustomerPart?.author ?? null);
  const subject = text(c.source?.subject) || text(c.title);
  const { customerKey, unmapped } = resolveCustomer(mapping, {
    domains: [emailDomain(customerAuthor?.email)],
  });
  const team = c.team_assignee_id != null ? String(c.team_assignee_id) : null;
  const comments: TicketComment[] = parts
    .filter((p) => (p.part_type === 'comment' || p.part_type === 'note') && p.body)
    .map((p) => ({
      author_role: CUSTOMER_AUTHORS.has(p.author?.type ?? '') ? 'customer' : 'agent',
      body: text(p.body),
      created_at: p.created_at ? iso(p.created_at) : null,
      public: p.part_type === 'comment',
    }));
  const meta: Record<string, unknown> = {
    subject,
    group: team ? (teams.get(team) ?? team) : null,
    tags: (c.tags?.tags ?? []).map((t) => t.name).filter((n): n is string => !!n),
    organization: null,
    status: c.state ?? null,
    updatedAt: c.updated_at ? iso(c.updated_at) : null,
    source: 'intercom',
    comments,
  };
  if (unmapped !== null) meta.unmappedOrganization = unmapped;
  const occurredAt = firstAt ? new Date(firstAt * 1000) : null;
  return {
    sourceType: 'ticket',
    externalId: `intercom-${c.id}`,
    customerKey,
    occurredAt: c.created_at ? new Date(c.created_at * 1000) : null,
    origin: { file: `${base}/conversations/${c.id}`, line: null },
    meta,
    units: [
      {
        ref: `ticket:intercom-${c.id}`,
        ordinal: 1,
        speaker: firstAuthor?.name ?? null,
        text: subject ? `${subject}\n${firstText}` : firstText,
        occurredAt,
        offsetMs: null,
      },
    ],
  };
}

function text(s: string | null | undefined): string {
  // display_as=plaintext already strips markup; this covers versions and parts that still send HTML.
  return s ? htmlToText(s) : '';
}

function iso(secs: number): string {
  return new Date(secs * 1000).toISOString();
}
