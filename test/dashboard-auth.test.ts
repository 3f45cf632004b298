/**
 * Access to every route: 401 without credentials, 403 below the route's role, through for the
 * role and above; sign-in with a cookie; the local lead on a loopback server with no users.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { createDashboard } from '../dashboard/server.ts';
import { createApiToken, createUser } from '../dashboard/auth.ts';
import type { Role } from '../db/schema/index.ts';

let t: TestDb;
let dash: ReturnType<typeof createDashboard>;
const tokens: Record<Role, string> = { viewer: '', researcher: '', lead: '' };
let entryKey = '';

beforeAll(async () => {
  t = await createTestDb();
  const config = testConfig();
  await importInProcessForTest(t.handle, config, { path: writeBundle() });
  for (const role of ['viewer', 'researcher', 'lead'] as Role[]) {
    const u = await createUser(t.handle.db, {
      email: `${role}@example.com`,
      role,
      password: 'correct horse',
    });
    tokens[role] = (await createApiToken(t.handle.db, { userId: u.id, name: role })).token;
  }
  dash = createDashboard({ config, handle: t.handle, host: '127.0.0.1' });
  const map = (await (
    await dash.app.request('/api/customers/kiln-cafe/map', { headers: bearer('viewer') })
  ).json()) as {
    columns: { cells: Record<string, { key: string }[]> }[];
  };
  entryKey = map.columns.flatMap((c) => Object.values(c.cells).flat())[0]!.key;
});

afterAll(async () => {
  await dash?.background.close();
  await t?.drop();
});

const bearer = (role: Role) => ({ Authorization: `Bearer ${tokens[role]}` });

// Every route, the least role it needs, and a body that gets past authorization.
const ROUTES: { method: string; path: () => string; role: Role; body?: unknown; page?: boolean }[] = [
  { method: 'GET', path: () => '/customers', role: 'viewer', page: true },
  { method: 'GET', path: () => '/customers/kiln-cafe', role: 'viewer', page: true },
  { method: 'GET', path: () => '/customers/kiln-cafe/map-fragment', role: 'viewer', page: true },
  { method: 'GET', path: () => `/customers/kiln-cafe/entries/${entryKey}`, role: 'viewer', page: true },
  { method: 'GET', path: () => '/customers/kiln-cafe/source?ref=ticket%3A101', role: 'viewer', page: true },
  { method: 'GET', path: () => '/customers/kiln-cafe/review', role: 'lead', page: true },
  { method: 'GET', path: () => '/customers/kiln-cafe/jobs', role: 'lead', page: true },
  { method: 'GET', path: () => '/imports', role: 'viewer', page: true },
  { method: 'GET', path: () => '/people', role: 'lead', page: true },
  { method: 'GET', path: () => '/api/me', role: 'viewer' },
  { method: 'GET', path: () => '/api/customers', role: 'viewer' },
  { method: 'GET', path: () => '/api/customers/kiln-cafe/map', role: 'viewer' },
  { method: 'GET', path: () => '/api/customers/kiln-cafe/map/state', role: 'viewer' },
  { method: 'GET', path: () => '/api/customers/kiln-cafe/units', role: 'viewer' },
  { method: 'GET', path: () => `/api/customers/kiln-cafe/entries/${entryKey}`, role: 'viewer' },
  { method: 'GET', path: () => '/api/customers/kiln-cafe/review-queue', role: 'lead' },
  { method: 'GET', path: () => '/api/customers/kiln-cafe/review-count', role: 'lead' },
  { method: 'GET', path: () => '/api/customers/kiln-cafe/decisions', role: 'viewer' },
  { method: 'GET', path: () => '/api/customers/kiln-cafe/export.json', role: 'viewer' },
  { method: 'GET', path: () => '/api/customers/kiln-cafe/export.md', role: 'viewer' },
  { method: 'GET', path: () => '/api/customers/kiln-cafe/export.csv', role: 'viewer' },
  {
    method: 'POST',
    path: () => '/api/customers/kiln-cafe/units/decide',
    role: 'lead',
    body: { ref: 'survey:S-2', action: 'set_sentiment', value: 'positive' },
  },
  {
    method: 'POST',
    path: () => `/api/customers/kiln-cafe/entries/${entryKey}/decide`,
    role: 'lead',
    body: { action: 'accept' },
  },
  {
    method: 'POST',
    path: () => '/api/customers/kiln-cafe/entries/merge',
    role: 'lead',
    body: { entries: ['nope-a', 'nope-b'] },
  },
  {
    method: 'POST',
    path: () => '/api/customers/kiln-cafe/entries/nope/split',
    role: 'lead',
    body: { refs: ['x'], label: 'x' },
  },
  {
    method: 'POST',
    path: () => '/api/customers/kiln-cafe/jobs',
    role: 'lead',
    body: { key: 'roles-test', statement: 'Test a job' },
  },
  {
    method: 'PUT',
    path: () => '/api/customers/kiln-cafe/jobs/staff-rota',
    role: 'lead',
    body: { statement: 'Plan the staff rota for the week without phoning everyone' },
  },
  { method: 'GET', path: () => '/api/imports', role: 'viewer' },
  { method: 'POST', path: () => '/api/imports', role: 'researcher', body: 'form' },
  { method: 'GET', path: () => '/api/users', role: 'lead' },
  {
    method: 'POST',
    path: () => '/api/users',
    role: 'lead',
    body: { email: `x${Math.random()}@example.com`, role: 'viewer', password: 'long enough' },
  },
  { method: 'POST', path: () => '/api/tokens', role: 'lead', body: { user_id: 1, name: 'roles test' } },
  { method: 'DELETE', path: () => '/api/tokens/999999', role: 'lead' },
];

function request(r: (typeof ROUTES)[number], headers: Record<string, string>) {
  let body: BodyInit | undefined;
  const h: Record<string, string> = { ...headers };
  if (r.body === 'form') {
    const fd = new FormData();
    fd.append('files', new File(['not feedback at all'], 'x.bin'));
    body = fd;
  } else if (r.body !== undefined) {
    body = JSON.stringify(r.body);
    h['Content-Type'] = 'application/json';
  }
  // A server bound to a public address: no local lead, whatever the Host says.
  return dash.app.request(`http://gapmap.example.com${r.path()}`, { method: r.method, headers: h, body });
}

describe('every route checks the role it needs', () => {
  const ROLES: Role[] = ['viewer', 'researcher', 'lead'];
  for (const r of ROUTES) {
    it(`${r.method} ${r.path().replace(/[0-9a-f_-]{16}/i, ':entry')} needs ${r.role}`, async () => {
      const anon = await request(r, {});
      if (r.page && r.method === 'GET') {
        expect(anon.status).toBe(303);
        expect(anon.headers.get('location')).toMatch(/^\/signin\?next=/);
      } else {
        expect(anon.status).toBe(401);
        expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      }
      for (const role of ROLES) {
        const res = await request(r, bearer(role));
        const allowed = ROLES.indexOf(role) >= ROLES.indexOf(r.role);
        if (allowed)
          expect([401, 403], `${role} on ${r.method} ${r.path()}: ${res.status}`).not.toContain(res.status);
        else expect(res.status, `${role} on ${r.method} ${r.path()}`).toBe(403);
      }
    });
  }
});

describe('tokens and sessions', () => {
  it('refuses a malformed or unknown token with a message saying what to do', async () => {
    const bad = await dash.app.request('/api/customers', { headers: { Authorization: 'Token abc' } });
    expect(bad.status).toBe(401);
    const unknown = await dash.app.request('/api/customers', {
      headers: { Authorization: 'Bearer gm_nope' },
    });
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(/People page/);
  });

  it('signs in with email and password, sets an httpOnly cookie, and the cookie opens the pages', async () => {
    const wrong = await dash.app.request('http://gapmap.example.com/signin', {
      method: 'POST',
      body: new URLSearchParams({
        email: 'lead@example.com',
        password: 'wrong password',
        next: '/customers',
      }),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();

    const res = await dash.app.request('http://gapmap.example.com/signin', {
      method: 'POST',
      body: new URLSearchParams({
        email: 'Lead@Example.com',
        password: 'correct horse',
        next: '/customers/kiln-cafe',
      }),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/customers/kiln-cafe');
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/gapmap_session=gs_/);
    expect(setCookie).toMatch(/HttpOnly/i);
    const cookie = setCookie.split(';')[0]!;
    const page = await dash.app.request('http://gapmap.example.com/customers/kiln-cafe/review', {
      headers: { Cookie: cookie },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);

    // A change made with the cookie must come from our own pages.
    const forged = await dash.app.request('http://gapmap.example.com/api/customers/kiln-cafe/units/decide', {
      method: 'POST',
      headers: { Cookie: cookie, Origin: 'http://evil.example', 'Content-Type': 'application/json' },
      body: JSON.stringify({ ref: 'survey:S-1', action: 'accept' }),
    });
    expect(forged.status).toBe(403);
    const ours = await dash.app.request('http://gapmap.example.com/api/customers/kiln-cafe/units/decide', {
      method: 'POST',
      headers: { Cookie: cookie, Origin: 'http://gapmap.example.com', 'Content-Type': 'application/json' },
      body: JSON.stringify({ ref: 'survey:S-1', action: 'accept' }),
    });
    expect(ours.status).toBe(200);

    await dash.app.request('http://gapmap.example.com/signout', {
      method: 'POST',
      headers: { Cookie: cookie, Origin: 'http://gapmap.example.com' },
    });
    const after = await dash.app.request('http://gapmap.example.com/api/me', { headers: { Cookie: cookie } });
    expect(after.status).toBe(401);
  });

  it('after sign-in goes only to a path on this server: /\\host, //host and other sites go to /customers', async () => {
    const signin = (next: string) =>
      dash.app.request('http://gapmap.example.com/signin', {
        method: 'POST',
        body: new URLSearchParams({ email: 'viewer@example.com', password: 'correct horse', next }),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
    const ok = await signin('/customers/kiln-cafe?tab=map#top');
    expect(ok.headers.get('location')).toBe('/customers/kiln-cafe?tab=map#top');
    const cookie = ok.headers.get('set-cookie')!.split(';')[0]!;
    // Browsers read a backslash as a slash: /\example.org is //example.org, another site.
    const BAD = [
      '/\\example.org/x',
      '/\\/example.org',
      '//example.org/x',
      '/\t/example.org',
      '/.//example.org',
      'https://example.org/x',
      'example.org',
      '/customers\\..\\..\\\\example.org',
    ];
    for (const next of BAD) {
      const posted = await signin(next);
      expect(posted.status, next).toBe(303);
      expect(posted.headers.get('location'), next).toBe('/customers');
      // Already signed in, GET /signin?next= redirects at once; %5C is how QA sent the backslash.
      const query = encodeURIComponent(next).replace(/%5C/g, '%5c');
      const got = await dash.app.request(`http://gapmap.example.com/signin?next=${query}`, {
        headers: { Cookie: cookie },
      });
      expect(got.headers.get('location'), next).toBe('/customers');
      // Signed out, the form does not carry it either.
      const form = await (await dash.app.request(`http://gapmap.example.com/signin?next=${query}`)).text();
      expect(form, next).not.toContain('example.org');
    }
  });

  it('a revoked token stops working', async () => {
    const u = await createUser(t.handle.db, { email: 'temp@example.com', role: 'viewer' });
    const { id, token } = await createApiToken(t.handle.db, { userId: u.id, name: 'temp' });
    expect(
      (await dash.app.request('/api/me', { headers: { Authorization: `Bearer ${token}` } })).status,
    ).toBe(200);
    const del = await dash.app.request(`/api/tokens/${id}`, { method: 'DELETE', headers: bearer('lead') });
    expect(del.status).toBe(200);
    expect(
      (await dash.app.request('/api/me', { headers: { Authorization: `Bearer ${token}` } })).status,
    ).toBe(401);
  });

  it('refuses a token id that is not a number (400) and a token for a person who does not exist (404)', async () => {
    const json = { ...bearer('lead'), 'Content-Type': 'application/json' };
    const notId = await dash.app.request('/api/tokens/abc', { method: 'DELETE', headers: bearer('lead') });
    expect(notId.status).toBe(400);
    expect(((await notId.json()) as { error: { message: string } }).error.message).toMatch(/token id "abc"/);
    const nobody = await dash.app.request('/api/tokens', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ user_id: 9999, name: 'ghost' }),
    });
    expect(nobody.status).toBe(404);
    expect(((await nobody.json()) as { error: { message: string } }).error.message).toMatch(
      /no person with id 9999/,
    );
  });
});

describe('the local lead', () => {
  it('with no users, a loopback server lets this computer in as lead; the first user ends it', async () => {
    const fresh = await createTestDb();
    const local = createDashboard({ config: testConfig(), handle: fresh.handle, host: '127.0.0.1' });
    const publicBind = createDashboard({ config: testConfig(), handle: fresh.handle, host: '0.0.0.0' });
    try {
      const me = await local.app.request('http://127.0.0.1:3000/api/me');
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ name: 'local', role: 'lead', via: 'local' });

      // Not on a server listening beyond this computer, nor through a Host that is not loopback (DNS rebinding).
      expect((await publicBind.app.request('http://127.0.0.1:3000/api/me')).status).toBe(401);
      expect((await local.app.request('http://attacker.example:3000/api/me')).status).toBe(401);
      // Another site cannot make the local lead's browser change anything.
      const csrf = await local.app.request('http://127.0.0.1:3000/api/users', {
        method: 'POST',
        headers: { Origin: 'http://attacker.example', 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: 'evil@example.com', role: 'lead', password: 'long enough' }),
      });
      expect(csrf.status).toBe(403);

      const created = await local.app.request('http://127.0.0.1:3000/api/users', {
        method: 'POST',
        headers: { Origin: 'http://127.0.0.1:3000', 'Content-Type': 'application/json' },
        body: JSON.stringify({
          email: 'ana@example.com',
          name: 'Ana',
          role: 'lead',
          password: 'long enough',
        }),
      });
      expect(created.status).toBe(201);
      const cookie = created.headers.get('set-cookie')!.split(';')[0]!;
      expect((await local.app.request('http://127.0.0.1:3000/api/me')).status).toBe(401);
      const me2 = await local.app.request('http://127.0.0.1:3000/api/me', { headers: { Cookie: cookie } });
      expect(await me2.json()).toMatchObject({ email: 'ana@example.com', role: 'lead', via: 'session' });
    } finally {
      await local.background.close();
      await publicBind.background.close();
      await fresh.drop();
    }
  });
});
