/**
 * Redaction of personal data before any text leaves the machine for an LLM endpoint.
 *
 * `redact` swaps e-mail addresses, phone numbers, payment card numbers, IBAN-like account
 * numbers and the given people's names for placeholders such as `[EMAIL_1]` and `[NAME_2]`, and
 * returns the map back to the originals so `restore` can make quotes readable again locally.
 *
 * Rules, chosen so that feedback about invoices stays intact:
 * - a card number is 13-19 digits (spaces or dashes allowed) starting 2-6 that passes Luhn;
 * - an IBAN is two letters, two check digits and 11-30 letters/digits, unspaced or in groups of four,
 *   that pass ISO 13616 mod 97;
 * - a phone number is 7-15 digits that look like one: a leading `+` or `(area)`, a phone word
 *   ("call", "phone", "mobile", ...) shortly before, `555-123-4567` grouping, or a national
 *   `0xx xxxx xxxx` form. Dates, amounts (currency next to them, thousands grouping) and numbers
 *   right after "invoice", "order", "#", ... are never phone numbers. A bare digit run with no
 *   such sign is left alone: it is far more often an id than a phone number in support tickets.
 * - names match whole words, case-insensitively: the full name, the first name, and the last name
 *   after a title (Mr, Ms, Dr, ...; the title stays).
 *
 * Deterministic: the same text and names give the same output. Each distinct original string gets
 * its own placeholder (numbered per kind in order of appearance), so `restore` is exact.
 */

export type RedactionKind = 'EMAIL' | 'PHONE' | 'CARD' | 'IBAN' | 'NAME';

export interface RedactOptions {
  /** Names of the people in the conversation (transcript speakers, ticket requester). */
  speakerNames?: string[];
}

export interface Redaction {
  text: string;
  /** Placeholder -> original text. */
  map: Record<string, string>;
}

interface Span {
  start: number;
  end: number;
  kind: RedactionKind;
}

const PLACEHOLDER = /\[(?:EMAIL|PHONE|CARD|IBAN|NAME)_\d+\]/g;

export function redact(text: string, opts: RedactOptions = {}): Redaction {
  const redactor = createRedactor(opts);
  return { text: redactor.redact(text), map: redactor.map };
}

export function restore(text: string, map: Record<string, string>): string {
  return text.replace(PLACEHOLDER, (ph) => map[ph] ?? ph);
}

/**
 * A redactor shares one placeholder map across several texts (the quotes of one suggestion
 * request), so the same address gets the same placeholder in all of them.
 */
export interface Redactor {
  redact(text: string): string;
  readonly map: Record<string, string>;
}

export function createRedactor(opts: RedactOptions = {}): Redactor {
  const map: Record<string, string> = {};
  const byOriginal = new Map<string, string>();
  const counters: Record<RedactionKind, number> = { EMAIL: 0, PHONE: 0, CARD: 0, IBAN: 0, NAME: 0 };
  const namePatterns = buildNamePatterns(opts.speakerNames ?? []);
  const seenText: string[] = [];

  function placeholderFor(kind: RedactionKind, original: string): string {
    const key = `${kind}\u0000${original}`;
    const known = byOriginal.get(key);
    if (known) return known;
    let ph: string;
    // Skip numbers whose placeholder already appears literally in a text, so restore stays exact.
    do ph = `[${kind}_${++counters[kind]}]`;
    while (seenText.some((t) => t.includes(ph)));
    byOriginal.set(key, ph);
    map[ph] = original;
    return ph;
  }

  return {
    map,
    redact(text: string): string {
      seenText.push(text);
      const spans = removeOverlaps([
        ...findEmails(text),
        ...findIbans(text),
        ...findCards(text),
        ...findPhones(text),
        ...findNames(text, namePatterns),
      ]);
      let out = '';
      let at = 0;
      for (const s of spans) {
        out += text.slice(at, s.start) + placeholderFor(s.kind, text.slice(s.start, s.end));
        at = s.end;
      }
      return out + text.slice(at);
    },
  };
}

/** Spans come in priority order (e-mail first); a later span overlapping an earlier one is dropped. */
function removeOverlaps(spans: Span[]): Span[] {
  const kept: Span[] = [];
  for (const s of spans) {
    if (!kept.some((k) => s.start < k.end && k.start < s.end)) kept.push(s);
  }
  return kept.sort((a, b) => a.start - b.start);
}

const EMAIL = /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/gu;

function findEmails(text: string): Span[] {
  return [...text.matchAll(EMAIL)].map((m) => ({
    start: m.index,
    end: m.index + m[0].length,
    kind: 'EMAIL',
  }));
}

/** Groups of a run ("4111 1111-1111 1111") with their offsets, to try sub-ranges of the run. */
function groupsOf(
  run: string,
  offset: number,
  separator: RegExp,
): { start: number; end: number; value: string }[] {
  const groups: { start: number; end: number; value: string }[] = [];
  let start = -1;
  for (let i = 0; i <= run.length; i++) {
    const ch = run[i];
    const isSep = ch === undefined || separator.test(ch);
    if (!isSep && start < 0) start = i;
    if (isSep && start >= 0) {
      groups.push({ start: offset + start, end: offset + i, value: run.slice(start, i) });
      start = -1;
    }
  }
  return groups;
}

/**
 * The longest range of consecutive groups (first match from the left) whose joined value passes
 * `accept`: a card or IBAN followed by another number in the same run is still found.
 */
function bestRange(
  groups: { start: number; end: number; value: string }[],
  accept: (joined: string) => boolean,
): { start: number; end: number } | null {
  for (let i = 0; i < groups.length; i++) {
    for (let j = groups.length - 1; j >= i; j--) {
      const joined = groups
        .slice(i, j + 1)
        .map((g) => g.value)
        .join('');
      if (accept(joined)) return { start: groups[i]!.start, end: groups[j]!.end };
    }
  }
  return null;
}

const DIGIT_RUN = /(?<![\p{L}\p{N}_])\d(?:[ -]?\d)+(?![\p{L}\p{N}_])/gu;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

function isCardNumber(digits: string): boolean {
  return (
    digits.length >= 13 &&
    digits.length <= 19 &&
    /^[2-6]/.test(digits) &&
    !/^(\d)\1+$/.test(digits) &&
    luhnValid(digits)
  );
}

function findCards(text: string): Span[] {
  const spans: Span[] = [];
  for (const m of text.matchAll(DIGIT_RUN)) {
    if (m[0].replace(/\D/g, '').length < 13) continue;
    const range = bestRange(groupsOf(m[0], m.index, /[ -]/), isCardNumber);
    if (range) spans.push({ ...range, kind: 'CARD' });
  }
  return spans;
}

const IBAN_RUN = /(?<![\p{L}\p{N}_])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,40}/giu;

/** Unspaced or in groups of four, in one case: "UA936 4hrs ago" passing mod 97 by chance is no IBAN. */
const IBAN_SHAPE =
  /^(?:[A-Z]{2}\d{2}(?:[A-Z0-9]+|(?: [A-Z0-9]{4})+(?: [A-Z0-9]{1,3})?)|[a-z]{2}\d{2}(?:[a-z0-9]+|(?: [a-z0-9]{4})+(?: [a-z0-9]{1,3})?))$/;

export function ibanValid(candidate: string): boolean {
  const s = candidate.toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(s)) return false;
  const rearranged = s.slice(4) + s.slice(0, 4);
  let rest = 0;
  for (const ch of rearranged) {
    const v = ch >= 'A' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of v) rest = (rest * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rest === 1;
}

function findIbans(text: string): Span[] {
  const spans: Span[] = [];
  const re = new RegExp(IBAN_RUN.source, IBAN_RUN.flags);
  for (let m = re.exec(text); m; m = re.exec(text)) {
    // Try whole-group ranges from the country code, longest first, so "DE89 ... 00 and" drops " and".
    const groups = groupsOf(m[0], m.index, / /);
    const first = groups[0]!;
    let found: { start: number; end: number } | null = null;
    for (let j = groups.length - 1; j >= 0 && !found; j--) {
      const end = groups[j]!.end;
      const next = text[end];
      const boundary = next === undefined || !/[\p{L}\p{N}_]/u.test(next);
      const candidate = text.slice(first.start, end);
      if (boundary && IBAN_SHAPE.test(candidate) && ibanValid(candidate.replace(/ /g, ''))) {
        found = { start: first.start, end };
      }
    }
    if (found) spans.push({ ...found, kind: 'IBAN' });
    // The run may have swallowed the start of the next IBAN: scan on from where this one ended.
    re.lastIndex = found ? found.end : m.index + 1;
  }
  return spans;
}

const PHONE_CANDIDATE =
  /(?<![\p{L}\p{N}_+@#/.,-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d+(?:[ .-]\d+){0,6}(?![\p{L}\p{N}_])/gu;
const PHONE_WORD =
  /\b(?:phone|tel|telephone|mobile|cell|cellphone|call|text|sms|whatsapp|signal|fax|ring|dial|reach (?:me|us)|contact (?:me|us)|number is)\b[^.!?\n\d]{0,25}$/i;
const REFERENCE_WORD =
  /\b(?:invoice|inv|order|ticket|ref|reference|case|account|acct|id|po|receipt|quote|contract|sku|version|v|no|nr)\.?\s*(?:number|no\.?|nr\.?|#)?\s*[:#]?\s*$/i;
const CURRENCY_BEFORE = /(?:[$€£¥₹]|\b(?:usd|eur|gbp|chf|sek|nok|dkk|aud|cad|jpy))\s*$/i;
const CURRENCY_AFTER =
  /^\s*(?:[$€£¥₹%]|(?:usd|eur|gbp|chf|sek|nok|dkk|aud|cad|jpy|dollars?|euros?|pounds?|cents?|k|m)\b)/i;
const DATE_LIKE = /^(?:\d{4}[ .-]\d{1,2}[ .-]\d{1,2}|\d{1,2}[ .-]\d{1,2}[ .-]\d{2,4})$/;
const THOUSANDS = /^\d{1,3}(?:[ .]\d{3})+$/;
const NANP = /^\d{3}[ .-]\d{3}[ .-]\d{4}$/;
const NATIONAL = /^0\d{1,4}(?:[ .-]\d{2,8}){1,3}$/;

function findPhones(text: string): Span[] {
  const spans: Span[] = [];
  for (const m of text.matchAll(PHONE_CANDIDATE)) {
    const value = m[0];
    const digits = value.replace(/\D/g, '').length;
    if (digits < 7 || digits > 15) continue;
    const before = text.slice(Math.max(0, m.index - 40), m.index);
    const after = text.slice(m.index + value.length, m.index + value.length + 12);
    const phoneWord = PHONE_WORD.test(before);
    if (DATE_LIKE.test(value)) continue;
    if (CURRENCY_BEFORE.test(before) || CURRENCY_AFTER.test(after)) continue;
    if (REFERENCE_WORD.test(before) && !phoneWord) continue;
    const international = value.startsWith('+') || value.includes('(');
    if (THOUSANDS.test(value) && !international && !phoneWord) continue;
    if (international || phoneWord || NANP.test(value) || NATIONAL.test(value)) {
      spans.push({ start: m.index, end: m.index + value.length, kind: 'PHONE' });
    }
  }
  return spans;
}

const AFTER_TITLE = '(?<=\\b(?:mr|mrs|ms|miss|mx|dr|prof)\\.?\\s+)';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function buildNamePatterns(names: string[]): RegExp[] {
  const full = new Set<string>();
  const first = new Set<string>();
  const last = new Set<string>();
  for (const raw of names) {
    const tokens = raw.trim().split(/\s+/).filter(Boolean);
    if (tokens.length === 0) continue;
    full.add(tokens.join(' '));
    if (tokens.length > 1) {
      first.add(tokens[0]!);
      last.add(tokens[tokens.length - 1]!);
    }
  }
  const word = (body: string) => new RegExp(`(?<![\\p{L}\\p{N}_])${body}(?![\\p{L}\\p{N}_])`, 'giu');
  const byLength = (a: string, b: string) => b.length - a.length || a.localeCompare(b);
  // Longest first: "Dana Whitfield" must win over "Dana"; overlaps are dropped later.
  return [
    ...[...full].sort(byLength).map((n) => word(n.split(' ').map(escapeRegExp).join('\\s+'))),
    ...[...last].sort(byLength).map((n) => word(`${AFTER_TITLE}${escapeRegExp(n)}`)),
    ...[...first].sort(byLength).map((n) => word(escapeRegExp(n))),
  ];
}

function findNames(text: string, patterns: RegExp[]): Span[] {
  const spans: Span[] = [];
  for (const re of patterns) {
    for (const m of text.matchAll(re))
      spans.push({ start: m.index, end: m.index + m[0].length, kind: 'NAME' });
  }
  return spans;
}
