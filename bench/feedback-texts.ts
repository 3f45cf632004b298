/**
 * Synthetic support-ticket and feedback sentences for embedder benchmarks: 5 to 60 words, a seeded
 * generator (same texts every run), lengths spread like real imports (many short units, a tail of
 * long ones). Written for the benchmarks; no customer data.
 */

import { seededRandom } from '../classifiers/random.ts';

const PRODUCTS = [
  'the mobile app',
  'the dashboard',
  'the billing page',
  'the export tool',
  'the booking flow',
  'the Android app',
  'the iOS app',
  'the admin console',
  'the reporting module',
  'the checkout',
  'the calendar sync',
  'the API',
  'the search',
  'the onboarding wizard',
  'the Slack integration',
  'the invoice generator',
];
const FEATURES = [
  'CSV export',
  'two-factor login',
  'dark mode',
  'bulk editing',
  'recurring invoices',
  'seat selection',
  'offline mode',
  'custom fields',
  'audit log',
  'single sign-on',
  'push notifications',
  'saved filters',
  'team permissions',
  'multi-currency support',
];
const SYMPTOMS = [
  'crashes as soon as I open it',
  'keeps logging me out',
  'is really slow since the last update',
  'shows the wrong totals',
  'times out after a minute',
  'does not load on Safari',
  'charged my card twice',
  'lost all my settings',
  'sends duplicate emails',
  'freezes when I upload a file',
  'shows an error 500',
  'will not accept my promo code',
  'displays dates in the wrong time zone',
  'drops the last row of every report',
];
const FEELINGS = [
  'This is really frustrating.',
  'Honestly I love it.',
  'We are thinking about cancelling.',
  'Great job overall, thanks!',
  'Very disappointed, to be honest.',
  'It works, but it could be easier.',
  'My team relies on this every day.',
  'Not happy at all.',
  'Thanks for the quick fix last time.',
  'I have been a customer for five years.',
];
const ASKS = [
  'Can you please refund the second charge?',
  'When will this be fixed?',
  'Please add an option to turn this off.',
  'Is there a workaround in the meantime?',
  'Could someone call me back today?',
  'How do I reset my password without the old phone?',
  'Can we get this on the roadmap?',
  'Please escalate this to engineering.',
  'Do you offer a discount for nonprofits?',
  'Where can I download last month’s invoices?',
];
const WHEN = [
  'since Monday',
  'every morning',
  'after the update on the 3rd',
  'for about two weeks',
  'only on my laptop',
  'when the file is larger than 10 MB',
  'whenever two people edit at once',
  'during the month-end close',
];
const PEOPLE = [
  'our accountant',
  'my manager',
  'the whole support team',
  'two of our drivers',
  'a new hire',
  'our biggest client',
];

const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);

function sentence(r: () => number): string {
  switch (Math.floor(r() * 9)) {
    case 0:
      return `${cap(pick(r, PRODUCTS))} ${pick(r, SYMPTOMS)} ${pick(r, WHEN)}.`;
    case 1:
      return `We really need ${pick(r, FEATURES)} in ${pick(r, PRODUCTS)}.`;
    case 2:
      return pick(r, FEELINGS);
    case 3:
      return pick(r, ASKS);
    case 4:
      return `${cap(pick(r, PEOPLE))} says ${pick(r, PRODUCTS)} ${pick(r, SYMPTOMS)}.`;
    case 5:
      return `The new ${pick(r, FEATURES)} is ${pick(r, ['great', 'confusing', 'half finished', 'exactly what we wanted', 'hard to find'])}.`;
    case 6:
      return `Ticket #${1000 + Math.floor(r() * 9000)} is still open and nobody has replied ${pick(r, WHEN)}.`;
    case 7:
      return `I tried clearing the cache and reinstalling but ${pick(r, PRODUCTS)} still ${pick(r, SYMPTOMS)}.`;
    default:
      return `Compared to your competitors, ${pick(r, FEATURES)} feels ${pick(r, ['behind', 'much better', 'about the same', 'too expensive'])} and ${pick(r, PEOPLE)} noticed it too.`;
  }
}

/** `n` distinct texts of 5 to 60 words (median about 20), deterministic for a seed. */
export function feedbackTexts(n: number, seed = 42): string[] {
  const r = seededRandom(seed);
  const out: string[] = [];
  const seen = new Set<string>();
  while (out.length < n) {
    // Target length: mostly one or two sentences, sometimes a longer complaint.
    const u = r();
    const target =
      u < 0.15 ? 5 + Math.floor(r() * 6) : u < 0.75 ? 10 + Math.floor(r() * 20) : 30 + Math.floor(r() * 31);
    let words: string[] = [];
    while (words.length < target) words = words.concat(sentence(r).split(' '));
    if (words.length > 60) words = words.slice(0, 60);
    if (words.length > target + 8) words = words.slice(0, target + 8);
    const text = words.join(' ');
    if (words.length < 5 || seen.has(text)) continue;
    seen.add(text);
    out.push(text);
  }
  return out;
}
