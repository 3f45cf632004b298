/**
 * The dashboard as a person uses it, in headless Chromium: the map, evidence, the review queue
 * changing the map without a reload, an upload classified, and feedback markup shown as text.
 * Screenshots land in test-output/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { TICKETS, TRANSCRIPT_VTT, ticket, writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { launchBrowser, screenshot, watchPage } from './helpers/browser.ts';
import { startServer } from '../dashboard/server.ts';

const HOSTILE =
  'Booking page broke <script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> and we lost a table';

// Conditions, not sleeps: the page is polled until it shows what it should.
const POLL = { timeout: 15_000, interval: 100 };
const SLOW = { timeout: 30_000, interval: 200 };

let t: TestDb;
let server: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;

beforeAll(async () => {
  t = await createTestDb();
  const config = testConfig();
  const tickets = [
    ...TICKETS,
    ticket({
      id: 900,
      subject: 'Double booking <b>again</b>',
      description: HOSTILE,
      tags: ['double_booking'],
      group: 'Bookings',
    }),
  ];
  await importInProcessForTest(t.handle, config, { path: writeBundle({ tickets, transcripts: false }) });
  // No users: on 127.0.0.1 this is the newcomer's `gapmap demo` then `gapmap serve`.
  server = await startServer({ config, handle: t.handle, port: 0, host: '127.0.0.1' });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await t?.drop();
});

async function open(path: string): Promise<{ page: Page; watch: ReturnType<typeof watchPage> }> {
  const page = await browser.newPage({ viewport: { width: 1366, height: 860 } });
  const watch = watchPage(page, server.url);
  page.on('dialog', (d) => void d.dismiss());
  await page.goto(server.url + path);
  return { page, watch };
}

async function mapRefs(): Promise<Map<string, string[]>> {
  const res = await fetch(`${server.url}/api/customers/kiln-cafe/map`);
  const map = (await res.json()) as {
    columns: { cells: Record<string, { key: string; refs: string[] }[]> }[];
  };
  return new Map(map.columns.flatMap((c) => Object.values(c.cells).flat()).map((e) => [e.key, e.refs]));
}

describe('dashboard in a browser', () => {
  it('shows the customers and a map with jobs as columns and the six rows, fetching nothing from elsewhere', async () => {
    const { page, watch } = await open('/customers');
    await expect.poll(() => page.locator('table.customers').textContent(), POLL).toContain('Kiln Café');
    await page.click('text=Kiln Café');
    await page.waitForSelector('#map-table');
    const heads = await page.locator('#map-table thead th.job .statement').allTextContents();
    expect(heads).toContain('Fill every table on weekend evenings without double bookings');
    expect(await page.locator('#map-table thead th.job .outcome').first().textContent()).toMatch(
      /Minimize the number of empty tables/,
    );
    expect(await page.locator('#map-table tbody th').allTextContents()).toEqual([
      'Key touchpoints',
      'Key high points',
      'Points of friction',
      'Value gaps',
      'Internal processes',
      'Key opportunities',
    ]);
    expect(await page.locator('a.entry').count()).toBeGreaterThan(2);
    expect(await page.locator('a.entry .count').first().textContent()).toMatch(/^\d+$/);
    await screenshot(page, 'map');
    // Printed: no navigation or buttons, just the map.
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('header.top').isVisible()).toBe(false);
    expect(await page.locator('.actions').isVisible()).toBe(false);
    expect(await page.locator('#map-table').isVisible()).toBe(true);
    await screenshot(page, 'map-print');
    expect(watch.errors).toEqual([]);
    expect(watch.foreign).toEqual([]);
    await page.close();
  });

  it('opens an entry’s evidence with the matched span, the source and its neighbouring turns', async () => {
    const { page, watch } = await open('/customers/kiln-cafe');
    const entry = page.locator('a.entry').first();
    const label = (await entry.locator('.label').textContent())!.trim();
    await entry.click();
    await expect
      .poll(async () => (await page.locator('#entry-label').textContent())?.trim(), POLL)
      .toBe(label);
    const quotes = page.locator('ol.evidence li.quote');
    expect(await quotes.count()).toBeGreaterThan(0);
    expect(await page.locator('ol.evidence mark').count()).toBeGreaterThan(0);
    await expect
      .poll(() => quotes.first().locator('.src').textContent(), POLL)
      .toMatch(/Ticket #\d+|Survey response S-\d+/);
    await screenshot(page, 'evidence');
    await quotes.first().locator('a', { hasText: 'open source' }).click();
    await page.waitForSelector('ol.turns li.turn.selected');
    expect(watch.errors).toEqual([]);
    await page.close();
  });

  it('shows feedback containing HTML and script as text and never runs it', async () => {
    for (const path of ['/customers/kiln-cafe/source?ref=ticket%3A900', '/customers/kiln-cafe/review']) {
      const { page } = await open(path);
      const text = path.includes('review')
        ? page.locator('li.qitem[data-ref="ticket:900"] .qtext')
        : page.locator('li.turn.selected .text');
      await expect.poll(() => text.textContent(), POLL).toContain('<script>window.__pwned = 1</script>');
      await expect.poll(() => text.textContent(), POLL).toContain('<img src=x onerror=');
      expect(await page.locator('li img, .qtext b, .text b').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      await page.close();
    }
  });

  it('accept and reject in the review queue change the open map without a reload', async () => {
    const { page: map } = await open('/customers/kiln-cafe');
    await map.evaluate(() => ((window as unknown as { __same: boolean }).__same = true));
    const { page: review, watch } = await open('/customers/kiln-cafe/review');
    await review.waitForSelector('#queue li.qitem');
    await screenshot(review, 'review-queue');

    // Reject a whole entry: it leaves the map.
    const entries = await mapRefs();
    const entryLi = review.locator('#entry-queue > li').first();
    const entryKey = (await entryLi.getAttribute('data-entry'))!;
    expect(entries.has(entryKey)).toBe(true);
    await expect.poll(() => map.locator(`a.entry[data-entry="${entryKey}"]`).count(), POLL).toBe(1);
    await entryLi.locator('[data-entry-action="reject"]').click();
    await expect.poll(() => map.locator(`a.entry[data-entry="${entryKey}"]`).count(), POLL).toBe(0);

    // Reject a unit that is evidence of an entry still on the map: that entry shrinks or goes.
    const now = await mapRefs();
    const [key, refs] = [...now].find(([, rs]) =>
      rs.some((r) => r.startsWith('ticket:') || r.startsWith('survey:')),
    )!;
    const ref = refs.find((r) => r.startsWith('ticket:') || r.startsWith('survey:'))!;
    const before = (await map.locator(`a.entry[data-entry="${key}"] .count`).textContent())!;
    const item = review.locator(`#queue li.qitem[data-ref="${ref}"]`);
    await item.click();
    await review.keyboard.press('x');
    await expect.poll(() => item.count(), POLL).toBe(0);
    await expect
      .poll(async () => {
        const el = map.locator(`a.entry[data-entry="${key}"] .count`);
        return (await el.count()) === 0 ? 'gone' : await el.textContent();
      }, SLOW)
      .not.toBe(before);

    // Accept with the keyboard: the unit is checked, leaves the queue, and the decision is listed.
    const first = review.locator('#queue li.qitem.current');
    const acceptedRef = (await first.getAttribute('data-ref'))!;
    await review.keyboard.press('a');
    await expect
      .poll(() => review.locator(`#queue li.qitem[data-ref="${acceptedRef}"]`).count(), POLL)
      .toBe(0);
    await expect
      .poll(() => review.locator('#decisions').textContent(), POLL)
      .toContain(`accept ${acceptedRef}`);
    const decisions = (await (await fetch(`${server.url}/api/customers/kiln-cafe/decisions`)).json()) as {
      ref: string | null;
      who: string;
      action: string;
    }[];
    expect(decisions.find((d) => d.ref === acceptedRef)).toMatchObject({ who: 'local' });

    expect(await map.evaluate(() => (window as unknown as { __same?: boolean }).__same)).toBe(true);
    await screenshot(map, 'map-after-review');
    expect(watch.errors).toEqual([]);
    await map.close();
    await review.close();
  });

  it('offers the speakers of a meeting tool’s transcript: numbered and tagged names, no voice tags', async () => {
    const { page, watch } = await open('/imports');
    const meeting = [
      'WEBVTT',
      '',
      '00:00:01.000 --> 00:00:03.000',
      'Speaker 1: How do you take bookings?',
      '',
      '00:00:04.000 --> 00:00:08.000',
      'Tom Baker (Guest): On paper, and the phone rings all evening.',
      '',
      '00:00:09.000 --> 00:00:10.000',
      'P2: Same here.',
      '',
    ].join('\n');
    await page.setInputFiles('#file-input', [
      { name: 'meeting.vtt', mimeType: 'text/vtt', buffer: Buffer.from(meeting) },
    ]);
    const speakers = page.locator('fieldset.speakers label');
    await expect
      .poll(async () => (await speakers.allTextContents()).map((s) => s.trim()), POLL)
      .toEqual(['Speaker 1', 'Tom Baker (Guest)', 'P2']);
    // The first speaker usually asks: the others are picked.
    const checked = async (name: string) =>
      page.locator('fieldset.speakers label', { hasText: name }).locator('input').isChecked();
    expect([await checked('Speaker 1'), await checked('Tom Baker'), await checked('P2')]).toEqual([
      false,
      true,
      true,
    ]);
    expect(watch.errors).toEqual([]);
    await page.close();
  });

  it('uploads a transcript with a speaker picked, refuses a bad file beside it, and the transcript gets classified', async () => {
    const { page, watch } = await open('/imports');
    await page.setInputFiles('#file-input', [
      { name: 'kiln-tom.vtt', mimeType: 'text/vtt', buffer: Buffer.from(TRANSCRIPT_VTT) },
      {
        name: 'holiday.jpg.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46]),
      },
    ]);
    // The interviewer speaks first; the customer's speaker is picked for us and can be changed.
    const speakers = page.locator('fieldset.speakers label');
    await expect.poll(() => speakers.count(), POLL).toBe(2);
    expect(
      await page.locator('fieldset.speakers label', { hasText: 'Tom Baker' }).locator('input').isChecked(),
    ).toBe(true);
    expect(
      await page.locator('fieldset.speakers label', { hasText: 'Ana Ruiz' }).locator('input').isChecked(),
    ).toBe(false);
    await page.selectOption('#upload-customer', 'kiln-cafe');
    await page.click('#upload-button');
    await expect
      .poll(() => page.locator('#upload-result').textContent(), POLL)
      .toContain('kiln-tom.vtt: accepted');
    await expect
      .poll(() => page.locator('#upload-result .error').textContent(), POLL)
      .toContain('holiday.jpg.csv: not a format Gapmap reads');
    const row = page.locator('#runs tr', { hasText: 'kiln-tom.vtt' });
    await expect.poll(async () => (await row.locator('td.status').textContent())?.trim(), SLOW).toBe('done');
    await screenshot(page, 'imports');

    const units = (await (await fetch(`${server.url}/api/customers/kiln-cafe/units`)).json()) as {
      ref: string;
      speaker: string;
      tags: { kind: string } | null;
    }[];
    const turns = units.filter((u) => u.ref.startsWith('transcript:kiln-tom.vtt#'));
    expect(turns.length).toBe(2);
    expect(turns.every((u) => u.speaker === 'Tom Baker' && u.tags !== null)).toBe(true);
    expect(watch.errors).toEqual([]);
    await page.close();
  });
});
