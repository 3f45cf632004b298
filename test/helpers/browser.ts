/**
 * Headless Chromium for the dashboard tests: Debian's chromium through playwright-core, no
 * download, no network beyond the server under test. Screenshots go to test-output/screenshots/,
 * which CI prints in its log output.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.GAPMAP_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.resolve('test-output/screenshots');

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set GAPMAP_CHROMIUM`,
    );
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Fails the test on any script error in the page, and on any request leaving the server under test. */
export function watchPage(page: Page, origin: string): { errors: string[]; foreign: string[] } {
  const out = { errors: [] as string[], foreign: [] as string[] };
  page.on('pageerror', (e) => out.errors.push(e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) out.foreign.push(u);
  });
  return out;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  // Named in the test log, so a CI run says where to look at what a user sees.
  console.log(`screenshot: ${path.relative(process.cwd(), file)}`);
  return file;
}
