/**
 * The lead's pages under the conditions a lead meets: two tabs on one review queue, a slow server
 * while keys are pressed, a job key from customers.json the jobs page would not accept as new. Headless Chromium against the real server and PostgreSQL; the slow server is
 * playwright's route interception holding the decision requests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createTestDb, tempDir, testConfig, type TestDb } from './helpers/db.ts';
import { writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { launchBrowser, screenshot, watchPage } from './helpers/browser.ts';
import { startServer } from '../dashboard/server.ts';

const POLL = { timeout: 15_000, interval: 100 };

let t: TestDb;
let server: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;

beforeAll(async () => {
  t = await createTestDb();
  const config = testConfig();
  await importInProcessForTest(t.handle, config, { path: writeBundle() });
  const rooms = tempDir('gapmap-customers-');
  fs.writeFileSync(
    path.join(rooms, 'customers.json'),
    JSON.stringify([
      {
        key: 'qa-rooms',
        name: 'QA Rooms',
        jobs: [{ key: 'Book Rooms', statement: 'Book meeting rooms for the team', desired_outcome: '' }],
      },
    ]),
  );
  await importInProcessForTest(t.handle, config, { path: rooms });
  // No users: on 127.0.0.1 the page's requests are the local lead's.
  server = await startServer({ config, handle: t.handle, port: 0, host: '127.0.0.1' });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await t?.drop();
});

async function open(
  path: string,
  prompt?: string,
): Promise<{ page: Page; watch: ReturnType<typeof watchPage> }> {
  const page = await browser.newPage({ viewport: { width: 1366, height: 860 } });
  const watch = watchPage(page, server.url);
  page.on('dialog', (d) => void (prompt === undefined ? d.dismiss() : d.accept(prompt)));
  await page.goto(server.url + path);
  return { page, watch };
}

type Decision = { ref: string | null; action: string; value: unknown; who: string };
async function decisionsOf(ref: string): Promise<Decision[]> {
  const res = await fetch(`${server.url}/api/customers/kiln-cafe/decisions?limit=1000`);
  // Newest first from the API: oldest first here, the order they were stored in.
  return ((await res.json()) as Decision[]).filter((d) => d.ref === ref).reverse();
}

describe('review page', () => {
  it('an accept from a tab that still shows the old job is refused with the tags now, and nothing is recorded', async () => {
    const { page: a } = await open('/customers/kiln-cafe/review');
    const { page: b, watch } = await open('/customers/kiln-cafe/review');
    await b.waitForSelector('#queue li.qitem');
    const ref = (await a.locator('#queue li.qitem').nth(1).getAttribute('data-ref'))!;
    const inA = a.locator(`#queue li.qitem[data-ref="${ref}"]`);
    const inB = b.locator(`#queue li.qitem[data-ref="${ref}"]`);
    const jobs = await inA
      .locator('select[data-field="set_job"] option')
      .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const was = await inA.locator('select[data-field="set_job"]').inputValue();
    const moved = jobs.find((j) => j !== was)!;

    await inA.locator('select[data-field="set_job"]').selectOption(moved);
    await expect.poll(() => inA.count(), POLL).toBe(0);
    await expect.poll(async () => (await decisionsOf(ref)).length, POLL).toBe(1);

    await inB.locator('[data-unit-action="accept"]').click();
    await expect.poll(() => b.locator('#review-live').textContent(), POLL).toMatch(/reload/);
    expect(await b.locator('#review-live').getAttribute('class')).toContain('error');
    const message = (await b.locator('#review-live').textContent())!;
    expect(message).toContain(`job ${moved || '(no job)'}`);
    await screenshot(b, 'review-stale-accept');
    // Only tab A's move is stored; the unit stays in tab B, unchanged, for the lead to reload.
    expect((await decisionsOf(ref)).map((d) => d.action)).toEqual(['set_job']);
    expect(await inB.count()).toBe(1);
    expect(watch.errors).toEqual([]);
    await a.close();
    await b.close();
  });

  it('keys pressed while a unit’s decision is on its way wait for it: stored in order, counted once, selection on the next unit', async () => {
    const { page, watch } = await open('/customers/kiln-cafe/review');
    await page.waitForSelector('#queue li.qitem.current');
    // A slow server: the first request of a burst stalls longest, so requests sent together would be
    // stored in reverse order. Requests sent one after another are stored as sent.
    let stalls: number[] = [];
    await page.route('**/units/decide', async (route) => {
      await new Promise((r) => setTimeout(r, stalls.shift() ?? 0));
      await route.continue();
    });
    const refs = async () =>
      page.locator('#queue li.qitem').evaluateAll((ls) => ls.map((l) => (l as HTMLElement).dataset.ref!));
    const currentRef = () => page.locator('#queue li.qitem.current').getAttribute('data-ref');
    const total = async () => Number(await page.locator('#queue-total').textContent());
    // The note on how far the decisions are from teaching the customer's kind head: its count so far.
    const kindSoFar = async () =>
      Number(
        /^Kind tags learn .*? \((\d+) so far\)/.exec((await page.locator('#learning').textContent())!)?.[1],
      );
    const kindAtStart = await kindSoFar();
    expect(kindAtStart).toBeGreaterThanOrEqual(0);

    // `f` then `-` on the second unit: both stored, in order; the count goes down once; the third unit is next.
    await page.keyboard.press('j');
    const [, second, third] = await refs();
    expect(await currentRef()).toBe(second);
    const before = await total();
    stalls = [900, 450];
    await page.keyboard.press('f');
    await page.keyboard.press('-');
    await expect.poll(async () => (await decisionsOf(second!)).length, POLL).toBe(2);
    await expect.poll(() => page.locator(`#queue li.qitem[data-ref="${second}"]`).count(), POLL).toBe(0);
    expect((await decisionsOf(second!)).map((d) => [d.action, d.value])).toEqual([
      ['set_kind', 'friction'],
      ['set_sentiment', 'negative'],
    ]);
    expect(await total()).toBe(before - 1);
    expect(await currentRef()).toBe(third);

    // `=` `t` `h` during a stall: stored as pressed, the last kind wins.
    stalls = [900, 450, 0];
    await page.keyboard.press('=');
    await page.keyboard.press('t');
    await page.keyboard.press('h');
    await expect.poll(async () => (await decisionsOf(third!)).length, POLL).toBe(3);
    await expect.poll(() => page.locator(`#queue li.qitem[data-ref="${third}"]`).count(), POLL).toBe(0);
    expect((await decisionsOf(third!)).map((d) => [d.action, d.value])).toEqual([
      ['set_sentiment', 'neutral'],
      ['set_kind', 'touchpoint'],
      ['set_kind', 'high_point'],
    ]);
    expect(await total()).toBe(before - 2);
    // Two more units' kinds decided (the third's twice): the note, updated from the answers, counts them.
    await expect.poll(kindSoFar, POLL).toBe(kindAtStart + 2);
    const units = (await (await fetch(`${server.url}/api/customers/kiln-cafe/units`)).json()) as {
      ref: string;
      tags: { kind: string; sentiment: string };
    }[];
    expect(units.find((u) => u.ref === third)!.tags).toMatchObject({
      kind: 'high_point',
      sentiment: 'neutral',
    });
    expect(await page.locator('#queue li.qitem.current').count()).toBe(1);
    expect(watch.errors).toEqual([]);
    await page.close();
  });
});

describe('jobs page', () => {
  it('saves an edit of a job whose key customers.json gave as "Book Rooms"', async () => {
    const { page, watch } = await open('/customers/qa-rooms/jobs');
    const form = page.locator('form[data-job-form="edit"]');
    expect(await form.locator('input[name="key"]').inputValue()).toBe('Book Rooms');
    await form.locator('input[name="statement"]').fill('Book meeting rooms for the whole team');
    await Promise.all([page.waitForEvent('load'), form.locator('button').click()]);
    const customers = (await (await fetch(`${server.url}/api/customers`)).json()) as {
      key: string;
      jobs: { key: string; statement: string }[];
    }[];
    expect(customers.find((c) => c.key === 'qa-rooms')!.jobs).toMatchObject([
      { key: 'Book Rooms', statement: 'Book meeting rooms for the whole team' },
    ]);
    expect(await page.locator('form[data-job-form="edit"] input[name="statement"]').inputValue()).toBe(
      'Book meeting rooms for the whole team',
    );
    expect(watch.errors).toEqual([]);
    await page.close();
  });
});

describe('evidence page', () => {
  it('shows the label as the server stored it after a rename (trimmed), without a reload', async () => {
    const map = (await (await fetch(`${server.url}/api/customers/kiln-cafe/map`)).json()) as {
      columns: { cells: Record<string, { key: string }[]> }[];
    };
    const key = map.columns.flatMap((c) => Object.values(c.cells).flat())[0]!.key;
    const { page, watch } = await open(`/customers/kiln-cafe/entries/${key}`, '   Tables given twice   ');
    await page.locator('[data-entry-action="rename"]').click();
    await expect.poll(() => page.locator('#entry-live').textContent(), POLL).toBe('Renamed.');
    expect(await page.locator('#entry-label').textContent()).toBe('Tables given twice');
    const entry = (await (await fetch(`${server.url}/api/customers/kiln-cafe/entries/${key}`)).json()) as {
      label: string;
    };
    expect(entry.label).toBe('Tables given twice');
    expect(watch.errors).toEqual([]);
    await page.close();
  });
});
