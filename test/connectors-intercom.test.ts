import { afterEach, describe, expect, it } from 'vitest';
import { intercomPages, type IntercomConfig } from '../ingest/connectors/intercom.ts';
import { ConnectorError, type ConnectorPage, type HttpEvent } from '../ingest/connectors/http.ts';
import { generateIntercom, startFakeIntercom, type FakeIntercom } from './helpers/fake-intercom.ts';
import { virtualClock } from './helpers/fake-zendesk.ts';

const TOKEN = 'ic-secret-access-token-81d3';

let server: FakeIntercom | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(n: number) {
  server = await startFakeIntercom({ token: TOKEN, data: generateIntercom({ conversations: n }) });
  return server;
}

function config(s: FakeIntercom, over: Partial<IntercomConfig> = {}): IntercomConfig {
  return {
    baseUrl: s.url,
    accessToken: TOKEN,
    perPage: 15,
    mapping: { domains: { 'org0.example': 'acme', 'org1.example': 'bolt' } },
    ...over,
  };
}

async function collect(it: AsyncIterable<ConnectorPage>): Promise<ConnectorPage[]> {
  const pages: ConnectorPage[] = [];
  for await (const p of it) pages.push(p);
  return pages;
}
const ids = (pages: ConnectorPage[]) => pages.flatMap((p) => p.items.map((i) => i.externalId));

describe('intercomPages', () => {
  it('searches updated_at > since page by page and fetches each conversation with its parts', async () => {
    const s = await start(40);
    const pages = await collect(intercomPages(config(s, { since: 1_700_000_009 }), null));
    const expected = s.data.conversations
      .filter((c) => c.updated_at > 1_700_000_009)
      .map((c) => `intercom-${c.id}`);

    expect(expected).toHaveLength(30);
    expect(ids(pages)).toEqual(expected);
    expect(pages.map((p) => [p.items.length, p.done])).toEqual([
      [15, false],
      [15, true],
    ]);

    const searches = s.requests.filter((r) => r.path === '/conversations/search');
    expect(searches).toHaveLength(2);
    for (const r of s.requests) {
      expect(r.authorized).toBe(true);
      expect(r.headers['intercom-version']).toBe('2.11');
    }
    expect(s.requests.filter((r) => /^\/conversations\/\d+$/.test(r.path))).toHaveLength(30);

    const src = s.data.conversations[11]!; // odd index: has a subject
    const item = pages.flatMap((p) => p.items).find((i) => i.externalId === `intercom-${src.id}`)!;
    const body = src.source.body.replace(/<[^>]+>/g, '');
    expect(item.units).toEqual([
      {
        ref: `ticket:intercom-${src.id}`,
        ordinal: 1,
        speaker: src.source.author.name,
        text: `${src.source.subject}\n${body}`,
        occurredAt: new Date(src.created_at * 1000),
        offsetMs: null,
      },
    ]);
    expect(item.meta.group).toBe(s.data.teams.find((t) => t.id === src.team_assignee_id)!.name);
    expect(item.meta.tags).toEqual(src.tags.tags.map((t) => t.name));
    expect(item.meta.status).toBe(src.state);
    expect(item.meta.comments).toEqual([
      {
        author_role: 'agent',
        body: 'Thanks, we are looking into it.',
        created_at: new Date(src.created_at * 1000).toISOString(),
        public: true,
      },
    ]);
    const noSubject = pages
      .flatMap((p) => p.items)
      .find((i) => i.externalId === `intercom-${s.data.conversations[12]!.id}`)!;
    expect(noSubject.units[0]!.text).toBe(s.data.conversations[12]!.source.body.replace(/<[^>]+>/g, ''));

    const all = pages.flatMap((p) => p.items);
    for (const i of all) {
      const domain = s.data.conversations
        .find((c) => `intercom-${c.id}` === i.externalId)!
        .source.author.email!.split('@')[1];
      if (domain === 'org0.example') expect(i.customerKey).toBe('acme');
      else if (domain === 'org1.example') expect(i.customerKey).toBe('bolt');
      else expect([i.customerKey, i.meta.unmappedOrganization]).toEqual(['', '@unknown.example']);
    }
    expect(all.some((i) => i.customerKey === '')).toBe(true);
  });

  it('resumes inside a walk from the saved cursor, and the next run meets only conversations updated since', async () => {
    const s = await start(40);
    const first = await collect(intercomPages(config(s), null));
    expect(ids(first)).toHaveLength(40);
    const resumed = await collect(intercomPages(config(s), first[1]!.cursor));
    expect(ids(resumed)).toEqual(ids(first).slice(30));

    const last = first.at(-1)!.cursor;
    expect(ids(await collect(intercomPages(config(s), last)))).toEqual([]);
    const target = s.data.conversations[5]!;
    s.updateConversation(target.id, (c) => {
      c.source.body = '<p>Edited: the night team still cannot swap a shift.</p>';
    });
    const next = await collect(intercomPages(config(s), last));
    expect(ids(next)).toEqual([`intercom-${target.id}`]);
    expect(next[0]!.items[0]!.units[0]!.text).toContain('Edited: the night team');
  });

  it('meets in the next run a conversation updated while this run walks', async () => {
    const s = await start(40);
    const target = s.data.conversations[0]!;
    s.onRequest = (r) => {
      if (r.path === '/conversations/search' && s.requests.filter((x) => x.path === r.path).length === 2) {
        s.updateConversation(target.id, (c) => {
          c.state = 'closed';
        });
      }
    };
    const first = await collect(intercomPages(config(s), null));
    s.onRequest = undefined;
    const next = await collect(intercomPages(config(s), first.at(-1)!.cursor));
    expect(ids(next)).toContain(`intercom-${target.id}`);
    expect(
      next.flatMap((p) => p.items).find((i) => i.externalId === `intercom-${target.id}`)!.meta.status,
    ).toBe('closed');
  });

  it('honours 429 with X-RateLimit-Reset, retries 5xx and a search cut off mid-body', async () => {
    const s = await start(20);
    const clean = await collect(intercomPages(config(s, { overlapSeconds: 0 }), null));
    s.requests.length = 0;
    const reset = Math.floor(Date.now() / 1000) + 30;
    s.fail({
      path: '/conversations/search',
      fault: { kind: 'status', status: 429, headers: { 'x-ratelimit-reset': String(reset) } },
    });
    s.fail({ path: '/conversations/search', fault: { kind: 'drop', fraction: 0.3 } });
    s.fail({ path: '/conversations/500', fault: { kind: 'status', status: 502 }, times: 2 });
    const clock = virtualClock();
    const events: HttpEvent[] = [];
    const pages = await collect(
      intercomPages(config(s, { overlapSeconds: 0 }), null, { ...clock, log: (e) => events.push(e) }),
    );

    expect(ids(pages)).toEqual(ids(clean));
    expect(pages.map((p) => p.items)).toEqual(clean.map((p) => p.items));
    expect(clock.sleeps[0]).toBeGreaterThan(25_000);
    expect(clock.sleeps[0]).toBeLessThanOrEqual(30_000);
    expect(s.requests.filter((r) => r.fault).map((r) => r.fault)).toEqual([
      'status',
      'drop',
      'status',
      'status',
    ]);
    expect(events.filter((e) => e.type === 'retry')).toHaveLength(4);
  });

  it('walks again from since when Intercom refuses a saved starting_after', async () => {
    const s = await start(20);
    const stale = JSON.stringify({ since: 0, after: 'bm90LWEtY3Vyc29y', next: 1_700_000_100 });
    const pages = await collect(intercomPages(config(s), stale));
    expect(ids(pages)).toEqual(s.data.conversations.map((c) => `intercom-${c.id}`));
    expect(JSON.parse(pages.at(-1)!.cursor)).toEqual({ since: 1_700_000_100, after: null, next: null });
    expect(s.requests.filter((r) => r.path === '/conversations/search').map((r) => r.status)).toEqual([
      400, 200, 200,
    ]);
  });

  it('refuses a wrong token at once, without repeating it', async () => {
    const s = await start(3);
    const err = await collect(intercomPages(config(s, { accessToken: 'not-the-token-9999' }), null)).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as ConnectorError).code).toBe('unauthorized');
    expect((err as ConnectorError).message).toMatch(/^Intercom GET \/teams: HTTP 401 after 1 attempt/);
    expect(JSON.stringify([(err as Error).message, (err as Error).stack])).not.toContain(
      'not-the-token-9999',
    );
  });
});
