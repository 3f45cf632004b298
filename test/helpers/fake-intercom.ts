/**
 * An Intercom REST API on 127.0.0.1 for tests: a real node:http server following the public docs
 * of the endpoints the connector uses.
 *
 * - POST /conversations/search: `query` (single filter or AND/OR of filters on updated_at,
 *   created_at, id, state with =, !=, >, <, IN, NIN), `pagination.per_page` (max 150) and
 *   `pagination.starting_after`; answers `conversation.list` with `pages.next.starting_after` while
 *   more follow. Results come in updated_at order, so a conversation updated mid-walk is met again
 *   later rather than skipped.
 * - GET /conversations/{id}[?display_as=plaintext]: the conversation with its conversation_parts.
 * - GET /teams.
 * - Bearer token auth (401 `error.list` otherwise); the Intercom-Version header is recorded.
 * Faults (429 with X-RateLimit-Reset or Retry-After, 5xx, dropped connections, hangs) come from the
 * shared fault queue in fake-zendesk.ts.
 */
import { inventText, pick, startJsonServer, type JsonServer, type Reply } from './fake-zendesk.ts';
import { seededRandom } from '../../classifiers/random.ts';

export interface IcAuthor {
  type: 'user' | 'lead' | 'admin' | 'bot';
  id: string;
  name: string;
  email: string | null;
}
export interface IcPart {
  type: 'conversation_part';
  id: string;
  part_type: 'comment' | 'note' | 'assignment' | 'close' | 'open';
  body: string | null;
  created_at: number;
  updated_at: number;
  author: IcAuthor;
}
export interface IcConversation {
  type: 'conversation';
  id: string;
  title: string | null;
  created_at: number;
  updated_at: number;
  state: 'open' | 'closed' | 'snoozed';
  open: boolean;
  team_assignee_id: string | null;
  admin_assignee_id: string | null;
  tags: { type: 'tag.list'; tags: Array<{ type: 'tag'; id: string; name: string }> };
  source: {
    type: 'conversation' | 'email';
    id: string;
    delivered_as: string;
    subject: string;
    body: string;
    author: IcAuthor;
  };
  contacts: {
    type: 'contact.list';
    contacts: Array<{ type: 'contact'; id: string; external_id: string | null }>;
  };
  conversation_parts: { type: 'conversation_part.list'; conversation_parts: IcPart[]; total_count: number };
}

export interface IntercomData {
  conversations: IcConversation[];
  teams: Array<{ type: 'team'; id: string; name: string; admin_ids: number[] }>;
}

export const IC_ADMIN: IcAuthor = {
  type: 'admin',
  id: '77',
  name: 'Support Admin',
  email: 'admin@helpdesk.example',
};

export function generateIntercom(opts: {
  conversations: number;
  seed?: number;
  start?: number;
  domains?: string[];
}): IntercomData {
  const rnd = seededRandom(opts.seed ?? 11);
  const start = opts.start ?? 1_700_000_000;
  const domains = opts.domains ?? ['org0.example', 'org1.example', 'unknown.example'];
  const teams = [
    { type: 'team' as const, id: '301', name: 'Billing', admin_ids: [77] },
    { type: 'team' as const, id: '302', name: 'Onboarding', admin_ids: [77] },
  ];
  const conversations: IcConversation[] = [];
  for (let i = 0; i < opts.conversations; i++) {
    const id = String(5_000_000 + i);
    const domain = pick(rnd, domains);
    const author: IcAuthor = {
      type: 'user',
      id: `c${i}`,
      name: `Contact ${i}`,
      email: `contact${i}@${domain}`,
    };
    const { subject, description } = inventText(rnd);
    const ts = start + i;
    conversations.push({
      type: 'conversation',
      id,
      title: null,
      created_at: ts,
      updated_at: ts,
      state: pick(rnd, ['open', 'closed'] as const),
      open: true,
      team_assignee_id: pick(rnd, teams).id,
      admin_assignee_id: IC_ADMIN.id,
      tags: {
        type: 'tag.list',
        tags: [{ type: 'tag', id: '9', name: pick(rnd, ['rota', 'payroll', 'mobile']) }],
      },
      source: {
        type: 'conversation',
        id: `s${i}`,
        delivered_as: 'customer_initiated',
        subject: i % 2 ? subject : '',
        body: `<p>${description}</p>`,
        author,
      },
      contacts: { type: 'contact.list', contacts: [{ type: 'contact', id: author.id, external_id: null }] },
      conversation_parts: {
        type: 'conversation_part.list',
        total_count: 2,
        conversation_parts: [
          {
            type: 'conversation_part',
            id: `p${i}a`,
            part_type: 'assignment',
            body: null,
            created_at: ts,
            updated_at: ts,
            author: IC_ADMIN,
          },
          {
            type: 'conversation_part',
            id: `p${i}b`,
            part_type: 'comment',
            body: '<p>Thanks, we are looking into it.</p>',
            created_at: ts,
            updated_at: ts,
            author: IC_ADMIN,
          },
        ],
      },
    });
  }
  return { conversations, teams };
}

type Filter = { field?: string; operator: string; value: unknown };

export interface FakeIntercom extends JsonServer {
  data: IntercomData;
  /** Changes a conversation now: its updated_at moves past every other. */
  updateConversation(id: string, change: (c: IcConversation) => void): void;
}

export async function startFakeIntercom(opts: { token: string; data: IntercomData }): Promise<FakeIntercom> {
  const { data } = opts;
  let clock = data.conversations.reduce((m, c) => Math.max(m, c.updated_at), 0);

  const handle = ({ method, url, body }: { method: string; url: URL; body: string }): Reply => {
    if (method === 'POST' && url.pathname === '/conversations/search') return search(body);
    if (method === 'GET' && url.pathname === '/teams')
      return { status: 200, body: { type: 'team.list', teams: data.teams } };
    const m = /^\/conversations\/([^/]+)$/.exec(url.pathname);
    if (method === 'GET' && m) {
      const c = data.conversations.find((x) => x.id === m[1]);
      if (!c) return notFound();
      return { status: 200, body: url.searchParams.get('display_as') === 'plaintext' ? plaintext(c) : c };
    }
    return notFound();
  };

  function search(raw: string): Reply {
    let req: { query?: Filter; pagination?: { per_page?: number; starting_after?: string } };
    try {
      req = JSON.parse(raw) as typeof req;
    } catch {
      return errorList(400, 'parameter_invalid', 'Body is not valid JSON');
    }
    if (!req.query) return errorList(400, 'parameter_not_found', 'query is required');
    const perPage = req.pagination?.per_page ?? 20;
    if (perPage > 150) return errorList(400, 'parameter_invalid', 'per_page must be at most 150');
    let matches: IcConversation[];
    try {
      matches = data.conversations
        .filter((c) => test(c, req.query!))
        .sort((a, b) => a.updated_at - b.updated_at || Number(a.id) - Number(b.id));
    } catch (e) {
      return errorList(400, 'query_invalid', (e as Error).message);
    }
    let from = 0;
    const after = req.pagination?.starting_after;
    if (after) {
      const [ts, id] = Buffer.from(after, 'base64').toString().split(':').map(Number);
      if (ts === undefined || id === undefined || Number.isNaN(ts) || Number.isNaN(id))
        return errorList(400, 'parameter_invalid', 'starting_after is invalid');
      from = matches.findIndex((c) => c.updated_at > ts || (c.updated_at === ts && Number(c.id) > id));
      if (from < 0) from = matches.length;
    }
    const page = matches.slice(from, from + perPage);
    const last = page[page.length - 1];
    const more = from + page.length < matches.length;
    return {
      status: 200,
      body: {
        type: 'conversation.list',
        conversations: page.map(({ conversation_parts: _parts, ...rest }) => rest),
        total_count: matches.length,
        pages: {
          type: 'pages',
          page: Math.floor(from / perPage) + 1,
          per_page: perPage,
          total_pages: Math.max(1, Math.ceil(matches.length / perPage)),
          ...(more && last
            ? {
                next: {
                  page: Math.floor(from / perPage) + 2,
                  starting_after: Buffer.from(`${last.updated_at}:${last.id}`).toString('base64'),
                },
              }
            : {}),
        },
      },
    };
  }

  const server = await startJsonServer(
    handle,
    (h) => h.authorization === `Bearer ${opts.token}`,
    () => errorList(401, 'unauthorized', 'Access Token Invalid'),
  );

  return Object.assign(server, {
    data,
    updateConversation(id: string, change: (c: IcConversation) => void) {
      const c = data.conversations.find((x) => x.id === id);
      if (!c) throw new Error(`no conversation ${id}`);
      change(c);
      // Real time, as the connector reads the server's Date header to place its next run.
      clock = Math.max(clock + 1, Math.floor(Date.now() / 1000));
      c.updated_at = clock;
    },
  });
}

function test(c: IcConversation, f: Filter): boolean {
  if (f.operator === 'AND' || f.operator === 'OR') {
    if (!Array.isArray(f.value)) throw new Error(`${f.operator} needs an array of filters`);
    const parts = (f.value as Filter[]).map((x) => test(c, x));
    return f.operator === 'AND' ? parts.every(Boolean) : parts.some(Boolean);
  }
  const actual =
    f.field === 'updated_at'
      ? c.updated_at
      : f.field === 'created_at'
        ? c.created_at
        : f.field === 'id'
          ? c.id
          : f.field === 'state'
            ? c.state
            : undefined;
  if (actual === undefined) throw new Error(`field ${String(f.field)} is not searchable here`);
  if (
    (f.field === 'updated_at' || f.field === 'created_at') &&
    typeof f.value !== 'number' &&
    !/^\d+$/.test(String(f.value))
  ) {
    throw new Error(`${f.field} expects a date (Unix timestamp)`);
  }
  const v = typeof actual === 'number' ? Number(f.value) : f.value;
  switch (f.operator) {
    case '=':
      return actual === v;
    case '!=':
      return actual !== v;
    case '>':
      return (actual as number) > (v as number);
    case '<':
      return (actual as number) < (v as number);
    case 'IN':
      return Array.isArray(f.value) && f.value.includes(actual);
    case 'NIN':
      return Array.isArray(f.value) && !f.value.includes(actual);
    default:
      throw new Error(`operator ${f.operator} is not supported`);
  }
}

function plaintext(c: IcConversation): IcConversation {
  return {
    ...c,
    source: { ...c.source, body: htmlToText(c.source.body) },
    conversation_parts: {
      ...c.conversation_parts,
      conversation_parts: c.conversation_parts.conversation_parts.map((p) => ({
        ...p,
        body: p.body === null ? null : htmlToText(p.body),
      })),
    },
  };
}

function notFound(): Reply {
  return errorList(404, 'not_found', 'Resource Not Found');
}

function errorList(status: number, code: string, message: string): Reply {
  return { status, body: { type: 'error.list', request_id: 'fake-request', errors: [{ code, message }] } };
}

/** Intercom's plaintext rendering, roughly: tags dropped, paragraphs on their own lines. */
function htmlToText(html: string): string {
  return html
    .replace(/<\/p>/g, '\n')
    .replace(/<[^>]+>/g, '')
    .trim();
}
