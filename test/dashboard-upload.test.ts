/**
 * Uploads: checked by content and size, each file on its own, so a bad file is refused with a
 * message a person can act on while the rest of the upload is imported and classified.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { TRANSCRIPT_VTT, writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { createDashboard } from '../dashboard/server.ts';
import { createApiToken, createUser } from '../dashboard/auth.ts';
import { getCustomerByKey, unitsWithTags } from '../db/queries.ts';

let t: TestDb;
let dash: ReturnType<typeof createDashboard>;
let auth: Record<string, string>;

beforeAll(async () => {
  t = await createTestDb();
  const config = testConfig();
  await importInProcessForTest(t.handle, config, { path: writeBundle({ transcripts: false }) });
  const u = await createUser(t.handle.db, { email: 'rita@example.com', role: 'researcher' });
  auth = {
    Authorization: `Bearer ${(await createApiToken(t.handle.db, { userId: u.id, name: 't' })).token}`,
  };
  dash = createDashboard({
    config,
    handle: t.handle,
    limits: { fileBytes: 64 * 1024, requestBytes: 512 * 1024 },
  });
});

afterAll(async () => {
  await dash?.background.close();
  await t?.drop();
});

const upload = async (files: File[], fields: Record<string, string> = {}) => {
  const fd = new FormData();
  for (const f of files) fd.append('files', f, f.name);
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  const res = await dash.app.request('/api/imports', { method: 'POST', headers: auth, body: fd });
  return { status: res.status, json: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
};

const SURVEY = [
  'response_id,customer,submitted_at,question,answer,score',
  'S-77,kiln-cafe,2026-03-09T10:00:00Z,What would you improve?,"=HYPERLINK(""http://x"") Let staff see the rota on their phones",6',
].join('\n');

describe('uploads', () => {
  it('imports the good files, refuses the bad ones with a message, and classifies what came in', async () => {
    const png = new Uint8Array([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
    ]);
    const res = await upload(
      [
        new File([TRANSCRIPT_VTT.replaceAll('Tom Baker', 'Tess Baker')], 'kiln-tess.vtt'),
        new File([png], 'photo-named-survey.csv'),
        new File(['Just some words about nothing in particular.'], 'fake.vtt'),
        new File(['x'.repeat(70 * 1024)], 'huge.jsonl'),
        new File([SURVEY], 'march.csv'),
      ],
      { customer: 'kiln-cafe', speakers: JSON.stringify({ 'kiln-tess.vtt': ['Tess Baker'] }) },
    );
    expect(res.status).toBe(202);
    const byName = Object.fromEntries(res.json.files.map((f: { file: string }) => [f.file, f]));
    expect(byName['kiln-tess.vtt']).toMatchObject({ status: 'accepted', format: 'vtt' });
    expect(byName['march.csv']).toMatchObject({ status: 'accepted', format: 'surveys' });
    expect(byName['photo-named-survey.csv'].status).toBe('refused');
    expect(byName['photo-named-survey.csv'].message).toMatch(
      /photo-named-survey\.csv: not a format Gapmap reads \(judged by its content/,
    );
    expect(byName['fake.vtt'].status).toBe('refused');
    expect(byName['huge.jsonl'].message).toMatch(
      /^huge\.jsonl: 70 KB is over the 64 KB limit for one file: split it/,
    );

    await dash.background.idle();
    const customer = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!;
    const units = await unitsWithTags(t.handle.db, customer.id);
    const turns = units.filter((u) => u.ref.startsWith('transcript:kiln-tess.vtt#'));
    expect(turns.length).toBe(2);
    expect(turns.every((u) => u.kind !== null && u.speaker === 'Tess Baker')).toBe(true);
    expect(units.find((u) => u.ref === 'survey:S-77')?.kind).not.toBeNull();

    const runs = (await (await dash.app.request('/api/imports', { headers: auth })).json()) as {
      id: number;
      status: string;
      error: string | null;
      progress: { phase: string } | null;
    }[];
    const accepted = runs.find((r) => r.id === byName['kiln-tess.vtt'].run_id)!;
    expect(accepted.status).toBe('done');
    expect(accepted.progress?.phase).toBe('done');
    const refused = runs.find((r) => r.id === byName['fake.vtt'].run_id)!;
    expect(refused).toMatchObject({ status: 'failed' });
    expect(refused.error).toMatch(/fake\.vtt/);

    // The formula in the survey answer is text in the CSV export.
    const lead = await createUser(t.handle.db, { email: 'lead@example.com', role: 'viewer' });
    const tok = (await createApiToken(t.handle.db, { userId: lead.id, name: 'x' })).token;
    const csv = await (
      await dash.app.request('/api/customers/kiln-cafe/export.csv', {
        headers: { Authorization: `Bearer ${tok}` },
      })
    ).text();
    expect(csv).toContain(`"'=HYPERLINK(""http://x"") Let staff`);
  });

  it('a transcript without its customer or speakers is refused, saying what to pick', async () => {
    const noCustomer = await upload([new File([TRANSCRIPT_VTT], 'a.vtt')]);
    expect(noCustomer.status).toBe(400);
    expect(noCustomer.json.files[0].message).toMatch(/a\.vtt: pick the customer/);
    const noSpeakers = await upload([new File([TRANSCRIPT_VTT], 'b.vtt')], { customer: 'kiln-cafe' });
    expect(noSpeakers.json.files[0].message).toMatch(/b\.vtt: pick which speakers are the customer/);
  });

  it('an upload over the request limit is refused whole, with the limit in the message', async () => {
    const res = await upload([new File(['y'.repeat(600 * 1024)], 'big.csv')]);
    expect(res.status).toBe(413);
    expect(res.json.error.message).toMatch(/upload over 512 KB in one go: upload fewer files/);
  });

  it('a viewer cannot upload', async () => {
    const v = await createUser(t.handle.db, { email: 'vic@example.com', role: 'viewer' });
    const tok = (await createApiToken(t.handle.db, { userId: v.id, name: 'v' })).token;
    const fd = new FormData();
    fd.append('files', new File([SURVEY], 's.csv'));
    const res = await dash.app.request('/api/imports', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tok}` },
      body: fd,
    });
    expect(res.status).toBe(403);
  });
});
