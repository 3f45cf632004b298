/**
 * The dashboard's pages, rendered on the server. Feedback text only ever goes through `html`
 * interpolation (escaped); the little behaviour the pages have lives in /static/app.js.
 */
import { html, trusted, type Html } from './html.ts';
import type { Actor } from './auth.ts';
import { roleAtLeast } from './auth.ts';
import type { MapJson } from '../app/map.ts';
import type { CustomerSummary, EvidenceUnit } from './queries.ts';
import type { MapRow, SentimentMix } from '../db/schema/index.ts';
import { JOB_TEXT_MAX, type JobDef } from '../ingest/types.ts';
import { KINDS, SENTIMENTS } from '../db/reviews.ts';

export const ROW_TITLES: Record<MapRow, string> = {
  touchpoints: 'Key touchpoints',
  high_points: 'Key high points',
  friction: 'Points of friction',
  value_gaps: 'Value gaps',
  internal_processes: 'Internal processes',
  opportunities: 'Key opportunities',
};

export const KIND_TITLES: Record<string, string> = {
  touchpoint: 'Touchpoint',
  high_point: 'High point',
  friction: 'Friction',
  value_gap: 'Value gap',
  other: 'Other',
};

const enc = encodeURIComponent;

export function layout(p: {
  title: string;
  actor: Actor | null;
  active?: string;
  body: Html;
  data?: Record<string, string>;
  wide?: boolean;
}): Html {
  const a = p.actor;
  const nav = (href: string, label: string, key: string) =>
    html`<a href="${href}" class="${p.active === key ? 'active' : ''}">${label}</a>`;
  const data = Object.entries(p.data ?? {}).map(
    ([k, v]) => html` data-${trusted(k.replace(/[^a-z-]/g, ''))}="${v}"`,
  );
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title} · Gapmap</title>
<link rel="stylesheet" href="/static/app.css">
<link rel="icon" href="/static/icon.svg" type="image/svg+xml">
<script src="/static/app.js" defer></script>
</head>
<body${data}>
<header class="top">
  <a class="brand" href="/customers">Gapmap</a>
  ${
    a
      ? html`<nav>
    ${nav('/customers', 'Customers', 'customers')}
    ${nav('/imports', 'Imports', 'imports')}
    ${roleAtLeast(a.role, 'lead') ? nav('/people', 'People', 'people') : ''}
  </nav>
  <div class="who"><span title="role">${a.name} · ${a.role}</span>
    ${a.via === 'session' ? html`<form method="post" action="/signout"><button class="link">Sign out</button></form>` : ''}
  </div>`
      : ''
  }
</header>
<main class="${p.wide ? 'wide' : ''}">
${p.body}
</main>
</body>
</html>`;
}

export function errorPage(actor: Actor | null, status: number, message: string): Html {
  return layout({
    title: `${status}`,
    actor,
    body: html`<section class="panel"><h1>${status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong'}</h1><p>${message}</p><p><a href="/customers">Back to customers</a></p></section>`,
  });
}

export function signinPage(p: { next: string; error?: string; email?: string }): Html {
  return layout({
    title: 'Sign in',
    actor: null,
    body: html`<section class="panel narrow">
<h1>Sign in</h1>
${p.error ? html`<p class="error" role="alert">${p.error}</p>` : ''}
<form method="post" action="/signin" class="stack">
  <input type="hidden" name="next" value="${p.next}">
  <label>Email <input name="email" type="email" autocomplete="username" required value="${p.email ?? ''}"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit" class="primary">Sign in</button>
</form>
<p class="hint">No account yet? Ask a lead to add you on the People page, or run <code>gapmap users add</code>.</p>
</section>`,
  });
}

const pct = (n: number, d: number) => (d === 0 ? 0 : Math.round((n / d) * 1000) / 10);

function mixText(s: SentimentMix): string {
  const parts = [
    s.negative ? `${s.negative} neg` : '',
    s.neutral ? `${s.neutral} neu` : '',
    s.positive ? `${s.positive} pos` : '',
  ].filter(Boolean);
  return parts.join(' · ');
}

/** Negative, neutral and positive as one bar (SVG attributes, so the strict CSP needs no inline styles). */
export function sentimentBar(s: SentimentMix): Html {
  const total = s.negative + s.neutral + s.positive;
  const neg = pct(s.negative, total);
  const neu = pct(s.neutral, total);
  const pos = Math.max(0, 100 - neg - neu);
  const title = `${s.negative} negative, ${s.neutral} neutral, ${s.positive} positive`;
  return html`<span class="mix" title="${title}"><svg class="bar" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true"><rect class="neg" x="0" y="0" width="${neg}" height="6"/><rect class="neu" x="${neg}" y="0" width="${neu}" height="6"/><rect class="pos" x="${neg + neu}" y="0" width="${total ? pos : 0}" height="6"/></svg><span class="mix-text">${mixText(s)}</span></span>`;
}

export function customersPage(actor: Actor, rows: CustomerSummary[]): Html {
  return layout({
    title: 'Customers',
    actor,
    active: 'customers',
    body: html`<h1>Customers</h1>
${
  rows.length === 0
    ? html`<section class="panel"><p>No customers yet. ${roleAtLeast(actor.role, 'researcher') ? html`<a href="/imports">Import feedback</a> (a bundle's customers.json first), or run <code>gapmap demo</code>.` : 'Ask a researcher to import feedback.'}</p></section>`
    : html`<table class="list customers">
<thead><tr><th>Customer</th><th>Jobs</th><th class="num">Units</th><th class="num">Value gaps</th><th class="num">Friction</th><th>Last week</th></tr></thead>
<tbody>
${rows.map(
  (c) => html`<tr>
  <td><a href="/customers/${enc(c.key)}" class="strong">${c.name}</a><div class="muted">${c.key}</div></td>
  <td><ul class="plain">${c.jobs.map((j) => html`<li>${j.statement}</li>`)}</ul></td>
  <td class="num">${c.units}</td>
  <td class="num"><span class="badge gap">${c.valueGaps}</span></td>
  <td class="num"><span class="badge friction">${c.friction}</span></td>
  <td>${c.newEntries || c.growingEntries ? html`${c.newEntries ? html`<span class="badge new">${c.newEntries} new</span> ` : ''}${c.growingEntries ? html`<span class="badge grow">${c.growingEntries} growing</span>` : ''}` : html`<span class="muted">no change</span>`}
    ${c.lastFeedbackAt ? html`<div class="muted small">latest feedback ${c.lastFeedbackAt.toISOString().slice(0, 10)}</div>` : ''}</td>
</tr>`,
)}
</tbody></table>`
}`,
  });
}

export function mapTable(map: MapJson, opts: { lead: boolean }): Html {
  const key = map.customer.key;
  const columns = map.columns.filter(
    (c) => c.job !== null || Object.values(c.cells).some((es) => es.length > 0),
  );
  return html`<div class="map-scroll"><table class="map" id="map-table">
<colgroup><col class="rowhead">${columns.map(() => html`<col>`)}</colgroup>
<thead><tr><th class="corner" scope="col"><span class="muted">Jobs →</span></th>
${columns.map(
  (c) => html`<th scope="col" class="job">
  ${
    c.job === null
      ? html`<div class="statement muted">No job</div><div class="outcome muted">Feedback that bears on none of the jobs</div>`
      : html`<div class="statement">${c.statement}</div><div class="outcome">${c.desired_outcome}${opts.lead ? html` <a class="edit noprint" href="/customers/${enc(key)}/jobs#job-${c.job}">edit job</a>` : ''}</div>`
  }
</th>`,
)}
</tr></thead>
<tbody>
${map.rows.map(
  (row) => html`<tr class="row-${row}"><th scope="row">${ROW_TITLES[row as MapRow] ?? row}</th>
${columns.map((c) => {
  const entries = (c.cells as Record<string, MapJson['columns'][number]['cells'][MapRow]>)[row] ?? [];
  return html`<td>${
    entries.length === 0
      ? html`<span class="empty">—</span>`
      : entries.map(
          (
            e,
          ) => html`<a class="entry" href="/customers/${enc(key)}/entries/${enc(e.key)}" data-entry="${e.key}">
  <span class="label">${e.label}</span>
  <span class="meta"><span class="count" title="units of evidence">${e.count}</span>${sentimentBar(e.sentiment)}${e.origin === 'person' ? html`<span class="tag" title="made by a person">edited</span>` : ''}</span>
</a>`,
        )
  }</td>`;
})}
</tr>`,
)}
</tbody></table></div>`;
}

export function mapPage(p: { actor: Actor; map: MapJson; version: string }): Html {
  const { actor, map } = p;
  const key = map.customer.key;
  const lead = roleAtLeast(actor.role, 'lead');
  return layout({
    title: `${map.customer.name}: Value Gap Map`,
    actor,
    active: 'customers',
    wide: true,
    data: { page: 'map', customer: key, version: p.version },
    body: html`<div class="page-head">
  <div><h1>${map.customer.name} <span class="muted">Value Gap Map</span></h1>
  <p class="muted small" id="map-built">${map.units} units · built ${map.built_at ? map.built_at.replace('T', ' ').slice(0, 16) + ' UTC' : 'never'}</p></div>
  <div class="actions noprint">
    ${lead ? html`<a class="button primary" href="/customers/${enc(key)}/review">Review queue <span class="badge" id="review-count"></span></a>` : ''}
    <a class="button" href="/api/customers/${enc(key)}/export.md" download>Markdown</a>
    <a class="button" href="/api/customers/${enc(key)}/export.csv" download>CSV</a>
    <a class="button" href="/api/customers/${enc(key)}/export.json" download>JSON</a>
    <button class="button" data-action="print">Print</button>
  </div>
</div>
<p class="live noprint" id="map-live" role="status" aria-live="polite"></p>
<div id="map-container">${mapTable(map, { lead })}</div>
<p class="legend small"><span class="count">n</span> units of evidence · bar: <span class="sw neg"></span> negative <span class="sw neu"></span> neutral <span class="sw pos"></span> positive · click an entry for its evidence</p>`,
  });
}

export function formatOffset(ms: number | null): string | null {
  if (ms === null) return null;
  const s = Math.floor(ms / 1000);
  const hh = String(Math.floor(s / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return `${hh}:${mm}:${ss}`;
}

const WORD = /[\p{L}\p{N}']+/gu;
const wordsOf = (s: string) => new Set((s.toLowerCase().match(WORD) ?? []).filter((w) => w.length > 2));

/**
 * The span of a unit that matched its entry: a quotation the notes parser kept, else the sentence
 * sharing the most words with the entry's label and quote.
 */
export function matchedSpan(text: string, against: string, quotes: string[] | null): [number, number] | null {
  for (const q of quotes ?? []) {
    const at = text.indexOf(q);
    if (q && at >= 0) return [at, at + q.length];
  }
  const target = wordsOf(against);
  let best: [number, number] | null = null;
  let bestScore = 0;
  for (const m of text.matchAll(/[^.!?\n]+[.!?]*/g)) {
    const ws = wordsOf(m[0]);
    let score = 0;
    for (const w of ws) if (target.has(w)) score++;
    if (score > bestScore) {
      bestScore = score;
      const lead = m[0].length - m[0].trimStart().length;
      best = [m.index! + lead, m.index! + m[0].trimEnd().length];
    }
  }
  return best;
}

export function highlighted(text: string, span: [number, number] | null): Html {
  if (!span) return html`${text}`;
  return html`${text.slice(0, span[0])}<mark>${text.slice(span[0], span[1])}</mark>${text.slice(span[1])}`;
}

function sourceLabel(u: EvidenceUnit): Html {
  const meta = u.meta as Record<string, unknown>;
  switch (u.sourceType) {
    case 'ticket':
      return html`Ticket <strong>#${u.externalId}</strong>${typeof meta.group === 'string' ? html` · ${meta.group}` : ''}`;
    case 'survey':
      return html`Survey response <strong>${u.externalId}</strong>${typeof meta.score === 'number' ? html` · score ${meta.score}` : ''}`;
    case 'transcript':
      return html`Transcript <strong>${u.externalId}</strong>${u.speaker ? html` · ${u.speaker}` : ''}${u.offsetMs !== null ? html` · <time>${formatOffset(u.offsetMs)}</time>` : ''}`;
    default:
      return html`${u.sourceType} <strong>${u.externalId}</strong>${u.section ? html` · ${u.section}` : ''}`;
  }
}

function tagLine(u: EvidenceUnit, jobs: JobDef[]): Html {
  const job = u.job ? (jobs.find((j) => j.key === u.job)?.statement ?? u.job) : 'no job';
  const conf = (x: number | null) => (x === null ? '' : ` ${Math.round(x * 100)}%`);
  return html`<span class="tags"><span class="tag kind-${u.kind ?? 'none'}">${KIND_TITLES[u.kind ?? ''] ?? 'untagged'}${conf(u.kindConfidence)}</span><span class="tag">${job}${conf(u.jobConfidence)}</span><span class="tag sent-${u.sentiment ?? 'none'}">${u.sentiment ?? ''}${conf(u.sentimentConfidence)}</span>${u.reviewedBy ? html`<span class="tag reviewed">checked by ${u.reviewedBy}</span>` : ''}</span>`;
}

export function evidencePage(p: {
  actor: Actor;
  customer: { key: string; name: string };
  entry: {
    key: string;
    job: string | null;
    row: MapRow;
    label: string;
    count: number;
    sentiment: SentimentMix;
    quote: string;
    origin: string;
  };
  evidence: EvidenceUnit[];
  jobs: JobDef[];
  from: number;
  pageSize: number;
}): Html {
  const { customer, entry } = p;
  const total = entry.count;
  const base = `/customers/${enc(customer.key)}/entries/${enc(entry.key)}`;
  const lead = roleAtLeast(p.actor.role, 'lead');
  const job = p.jobs.find((j) => j.key === entry.job);
  const against = `${entry.label} ${entry.quote}`;
  return layout({
    title: entry.label,
    actor: p.actor,
    active: 'customers',
    data: { page: 'evidence', customer: customer.key, entry: entry.key },
    body: html`<p class="crumbs"><a href="/customers/${enc(customer.key)}">${customer.name} map</a> › ${ROW_TITLES[entry.row]}${job ? html` › ${job.statement}` : ''}</p>
<div class="page-head"><div>
<h1 id="entry-label">${entry.label}</h1>
<p class="muted">${entry.count} units of evidence ${sentimentBar(entry.sentiment)} ${entry.origin === 'person' ? html`<span class="tag">edited by a person</span>` : ''}</p>
</div>
${
  lead
    ? html`<div class="actions">
  <button class="button" data-entry-action="accept">Accept</button>
  <button class="button danger" data-entry-action="reject">Reject</button>
  <button class="button" data-entry-action="rename">Rename…</button>
  <button class="button" data-entry-action="split" title="Select evidence below, then split it off">Split selected…</button>
</div>`
    : ''
}
</div>
<p class="live" id="entry-live" role="status" aria-live="polite"></p>
<ol class="evidence">
${p.evidence.map(
  (u) => html`<li class="quote" id="u-${u.id}" data-ref="${u.ref}">
  ${lead ? html`<input type="checkbox" class="pick" aria-label="select for split" value="${u.ref}">` : ''}
  <blockquote>${highlighted(u.text, matchedSpan(u.text, against, u.quotes))}</blockquote>
  <div class="src">${sourceLabel(u)}${u.occurredAt ? html` · ${u.occurredAt.toISOString().slice(0, 10)}` : ''} · <a href="/customers/${enc(customer.key)}/source?ref=${enc(u.ref)}#${enc(u.ref)}">open source and neighbouring turns</a></div>
  <div>${tagLine(u, p.jobs)}</div>
</li>`,
)}
</ol>
${
  total > p.pageSize
    ? html`<p class="pager">Showing ${p.from + 1}–${Math.min(total, p.from + p.pageSize)} of ${total}.
  ${p.from > 0 ? html`<a href="${base}?from=${Math.max(0, p.from - p.pageSize)}">previous</a>` : ''}
  ${p.from + p.pageSize < total ? html`<a href="${base}?from=${p.from + p.pageSize}">next</a>` : ''}</p>`
    : p.evidence.length < total
      ? html`<p class="muted">${total - p.evidence.length} units of this entry are no longer in the feedback (deleted at the source).</p>`
      : ''
}`,
  });
}

type OtherTurn = { speaker: string; text: string; offsetMs: number | null };

/**
 * A transcript keeps its whole conversation (ingest/turns.ts `conversation`): the customer's turns
 * are its units, the others (the interviewer's) are shown between them. Other sources: the units.
 */
function conversationOf(meta: Record<string, unknown>, units: EvidenceUnit[]): (EvidenceUnit | OtherTurn)[] {
  const turns = meta.turns;
  if (!Array.isArray(turns)) return units;
  const byOrdinal = new Map(units.map((u) => [Number(u.ref.slice(u.ref.lastIndexOf('#') + 1)), u]));
  return (turns as (OtherTurn & { unit: number | null })[]).flatMap((t): (EvidenceUnit | OtherTurn)[] => {
    if (t.unit === null) return [{ speaker: t.speaker, text: t.text, offsetMs: t.offsetMs }];
    const u = byOrdinal.get(t.unit);
    return u ? [u] : [];
  });
}

export function sourcePage(p: {
  actor: Actor;
  customer: { key: string; name: string };
  item: {
    sourceType: string;
    externalId: string;
    occurredAt: Date | null;
    meta: Record<string, unknown>;
    origin: { file: string; line: number | null };
  };
  units: EvidenceUnit[];
  selected: string;
  jobs: JobDef[];
}): Html {
  const { item } = p;
  const meta = item.meta;
  const comments = Array.isArray(meta.comments)
    ? (meta.comments as { author_role: string | null; body: string; created_at: string | null }[])
    : [];
  const title =
    item.sourceType === 'ticket'
      ? `Ticket #${item.externalId}`
      : item.sourceType === 'survey'
        ? `Survey response ${item.externalId}`
        : `${item.sourceType.charAt(0).toUpperCase()}${item.sourceType.slice(1)} ${item.externalId}`;
  return layout({
    title,
    actor: p.actor,
    active: 'customers',
    body: html`<p class="crumbs"><a href="/customers/${enc(p.customer.key)}">${p.customer.name} map</a> › source</p>
<h1>${title}</h1>
<p class="muted small">${item.occurredAt ? item.occurredAt.toISOString().slice(0, 16).replace('T', ' ') + ' UTC · ' : ''}from ${item.origin.file}${item.origin.line ? `, line ${item.origin.line}` : ''}
${typeof meta.question === 'string' ? html`<br>Question: ${meta.question}` : ''}${typeof meta.score === 'number' ? html` · score ${meta.score}` : ''}
${typeof meta.group === 'string' ? html`<br>Group: ${meta.group}` : ''}${Array.isArray(meta.tags) && meta.tags.length ? html` · tags: ${(meta.tags as unknown[]).map(String).join(', ')}` : ''}</p>
<ol class="turns">
${conversationOf(item.meta, p.units).map((t) =>
  'ref' in t
    ? html`<li id="${t.ref}" class="${t.ref === p.selected ? 'turn selected' : 'turn'}">
  <div class="who">${t.speaker ?? (item.sourceType === 'ticket' ? 'Customer' : '')}${t.offsetMs !== null ? html` <time>${formatOffset(t.offsetMs)}</time>` : ''}${t.section ? html` <span class="muted">§ ${t.section}</span>` : ''}</div>
  <div class="text">${t.text}</div>
  <div>${tagLine(t, p.jobs)}</div>
</li>`
    : html`<li class="turn agent"><div class="who">${t.speaker}${t.offsetMs !== null ? html` <time>${formatOffset(t.offsetMs)}</time>` : ''}</div><div class="text">${t.text}</div></li>`,
)}
${comments.map(
  (c) =>
    html`<li class="turn ${c.author_role === 'agent' ? 'agent' : ''}"><div class="who">${c.author_role ?? 'comment'}${c.created_at ? html` <time>${c.created_at}</time>` : ''}</div><div class="text">${c.body}</div></li>`,
)}
</ol>
${item.sourceType === 'transcript' && !Array.isArray(meta.turns) ? html`<p class="muted small">Only the customer speakers’ turns are kept as feedback; the interviewer’s questions are in the original file.</p>` : ''}`,
  });
}

export function reviewPage(p: {
  actor: Actor;
  customer: { key: string; name: string };
  jobs: JobDef[];
  queue: {
    ref: string;
    text: string;
    speaker: string | null;
    sourceType: string;
    job: string | null;
    kind: string;
    sentiment: string;
    confidence: number;
    jobConfidence: number;
    kindConfidence: number;
    sentimentConfidence: number;
  }[];
  total: number;
  entries: {
    entry_key: string;
    job: string | null;
    row: MapRow;
    label: string;
    count: number;
    confidence: number | null;
  }[];
  decisions: {
    ref: string | null;
    entryKey: string | null;
    action: string;
    value: unknown;
    who: string;
    at: Date;
  }[];
  /** headsLearning's note: how far the decisions are from teaching kind and sentiment. */
  learning: string;
}): Html {
  const key = p.customer.key;
  const jobName = (k: string | null) =>
    k === null ? 'no job' : (p.jobs.find((j) => j.key === k)?.statement ?? k);
  const conf = (x: number) => `${Math.round(x * 100)}%`;
  return layout({
    title: `Review: ${p.customer.name}`,
    actor: p.actor,
    active: 'customers',
    wide: true,
    data: { page: 'review', customer: key },
    body: html`<p class="crumbs"><a href="/customers/${enc(key)}">${p.customer.name} map</a> › review</p>
<div class="page-head"><h1>Review queue <span class="muted">${p.customer.name}</span></h1>
<p class="muted"><span id="queue-total">${p.total}</span> units nobody has checked, least sure first</p>
<p class="muted small" id="learning">${p.learning}</p></div>
<p class="live" id="review-live" role="status" aria-live="polite"></p>
<div class="review-grid">
<section aria-labelledby="units-h">
<h2 id="units-h">Units</h2>
<div class="keys small" aria-label="keyboard shortcuts"><kbd>j</kbd>/<kbd>k</kbd> next/previous · <kbd>a</kbd> accept · <kbd>x</kbd> reject · <kbd>1</kbd>–<kbd>9</kbd> move to job · <kbd>0</kbd> no job · <kbd>t</kbd> <kbd>h</kbd> <kbd>f</kbd> <kbd>g</kbd> <kbd>o</kbd> kind · <kbd>-</kbd> <kbd>=</kbd> <kbd>+</kbd> sentiment</div>
<ol class="queue" id="queue">
${p.queue.map(
  (u, i) => html`<li class="qitem${i === 0 ? ' current' : ''}" tabindex="-1" data-ref="${u.ref}">
  <div class="qtext">${u.text}</div>
  <div class="small muted">${u.ref}${u.speaker ? html` · ${u.speaker}` : ''} · least sure ${conf(u.confidence)}</div>
  <div class="qtags">
    <label>Job <select data-field="set_job">
      <option value="" ${u.job === null ? trusted('selected') : ''}>0 · no job</option>
      ${p.jobs.map((j, n) => html`<option value="${j.key}" ${u.job === j.key ? trusted('selected') : ''}>${n + 1} · ${j.statement}</option>`)}
    </select> <span class="muted small">${conf(u.jobConfidence)}</span></label>
    <label>Kind <select data-field="set_kind">${KINDS.map((k) => html`<option value="${k}" ${u.kind === k ? trusted('selected') : ''}>${KIND_TITLES[k]}</option>`)}</select> <span class="muted small">${conf(u.kindConfidence)}</span></label>
    <label>Sentiment <select data-field="set_sentiment">${SENTIMENTS.map((s) => html`<option value="${s}" ${u.sentiment === s ? trusted('selected') : ''}>${s}</option>`)}</select> <span class="muted small">${conf(u.sentimentConfidence)}</span></label>
  </div>
  <div class="qactions"><button class="button primary" data-unit-action="accept">Accept <kbd>a</kbd></button><button class="button danger" data-unit-action="reject">Reject <kbd>x</kbd></button></div>
</li>`,
)}
</ol>
${p.queue.length === 0 ? html`<p class="panel">Nothing left to review. 🎉</p>` : ''}
</section>
<section aria-labelledby="entries-h">
<h2 id="entries-h">Map entries</h2>
<p class="small muted">Select two or more in one cell to merge them.</p>
<ul class="entries" id="entry-queue">
${p.entries.map(
  (e) => html`<li data-entry="${e.entry_key}">
  <label class="pickrow"><input type="checkbox" class="merge-pick" value="${e.entry_key}"> <a href="/customers/${enc(key)}/entries/${enc(e.entry_key)}">${e.label}</a></label>
  <div class="small muted">${ROW_TITLES[e.row]} · ${jobName(e.job)} · ${e.count} unit${e.count === 1 ? '' : 's'}${e.confidence !== null ? ` · ${conf(e.confidence)}` : ''}</div>
  <div class="qactions"><button class="button small" data-entry-action="accept">Accept</button><button class="button small danger" data-entry-action="reject">Reject</button><button class="button small" data-entry-action="rename">Rename…</button></div>
</li>`,
)}
</ul>
<button class="button" id="merge-button">Merge selected…</button>
<h2>Latest decisions</h2>
<ul class="decisions small" id="decisions">
${p.decisions.map((d) => html`<li><strong>${d.who}</strong> ${d.action} ${d.ref ?? d.entryKey ?? ''}${d.value !== null && d.value !== undefined ? html` → <code>${typeof d.value === 'string' ? d.value : JSON.stringify(d.value)}</code>` : ''} <time class="muted">${d.at.toISOString().slice(0, 16).replace('T', ' ')}</time></li>`)}
</ul>
</section>
</div>`,
  });
}

export function jobsPage(p: {
  actor: Actor;
  customer: { key: string; name: string };
  jobs: (JobDef & { origin: string })[];
}): Html {
  const key = p.customer.key;
  const form = (
    j: (JobDef & { origin: string }) | null,
  ) => html`<form class="job-form stack" data-job-form="${j ? 'edit' : 'add'}" id="${j ? `job-${j.key}` : 'job-new'}">
  <label>Key <input name="key" required pattern="[a-z0-9][a-z0-9_\\-]{0,63}" value="${j?.key ?? ''}" ${j ? trusted('readonly') : ''}></label>
  <label>Job statement <span class="muted small">verb + object + circumstances</span><input name="statement" required maxlength="${JOB_TEXT_MAX}" value="${j?.statement ?? ''}"></label>
  <label>Desired outcome <span class="muted small">delta + measure + focus</span><input name="desired_outcome" maxlength="${JOB_TEXT_MAX}" value="${j?.desiredOutcome ?? ''}"></label>
  <div><button class="button primary">${j ? 'Save' : 'Add job'}</button> ${j ? html`<span class="muted small">${j.origin === 'person' ? 'edited by a person: imports keep it' : 'from customers.json'}</span>` : ''}</div>
</form>`;
  return layout({
    title: `Jobs: ${p.customer.name}`,
    actor: p.actor,
    active: 'customers',
    data: { page: 'jobs', customer: key },
    body: html`<p class="crumbs"><a href="/customers/${enc(key)}">${p.customer.name} map</a> › jobs</p>
<h1>Jobs <span class="muted">${p.customer.name}</span></h1>
<p class="muted">Adding or rewording a job tags every unit of this customer again; the map follows once that is done.</p>
<p class="live" id="jobs-live" role="status" aria-live="polite"></p>
${p.jobs.map((j) => html`<section class="panel">${form(j)}</section>`)}
<section class="panel"><h2>Add a job</h2>${form(null)}</section>`,
  });
}

export function importsPage(p: {
  actor: Actor;
  customers: { key: string; name: string }[];
  maxFile: string;
}): Html {
  const canUpload = roleAtLeast(p.actor.role, 'researcher');
  return layout({
    title: 'Imports',
    actor: p.actor,
    active: 'imports',
    data: { page: 'imports' },
    body: html`<h1>Imports</h1>
${
  canUpload
    ? html`<section class="panel">
<h2>Upload feedback</h2>
<form id="upload-form" class="stack">
<div id="drop" class="drop" tabindex="0">Drop transcripts (.vtt, .srt, .txt, .docx), survey CSVs, ticket files (.jsonl, Zendesk .json), notes or customers.json here, or <label class="link">choose files<input type="file" id="file-input" multiple hidden></label>. Up to ${p.maxFile} each.</div>
<label>Customer <span class="muted small">for transcripts and notes, and files without a customer column</span>
<select name="customer" id="upload-customer"><option value="">—</option>${p.customers.map((c) => html`<option value="${c.key}">${c.name} (${c.key})</option>`)}</select></label>
<ul id="upload-files" class="files"></ul>
<button class="button primary" id="upload-button" disabled>Upload</button>
</form>
<div id="upload-result" role="status" aria-live="polite"></div>
</section>`
    : ''
}
<h2>Import runs</h2>
<div id="runs"><p class="muted">Loading…</p></div>`,
  });
}

export function peoplePage(p: {
  actor: Actor;
  users: { id: number; email: string; name: string; role: string; createdAt: Date }[];
  tokens: {
    id: number;
    name: string;
    userEmail: string;
    createdAt: Date;
    lastUsedAt: Date | null;
    revokedAt: Date | null;
  }[];
}): Html {
  return layout({
    title: 'People',
    actor: p.actor,
    active: 'people',
    data: { page: 'people' },
    body: html`<h1>People and API tokens</h1>
${p.actor.via === 'local' ? html`<p class="panel notice">You are the local lead: this server listens on this computer only and has no users yet. Add the first user (a lead, with a password) and you will be signed in as them; from then on everyone signs in.</p>` : ''}
<p class="live" id="people-live" role="status" aria-live="polite"></p>
<table class="list"><thead><tr><th>Name</th><th>Email</th><th>Role</th><th>Since</th></tr></thead><tbody>
${p.users.length === 0 ? html`<tr><td colspan="4" class="muted">No one yet.</td></tr>` : ''}
${p.users.map((u) => html`<tr><td>${u.name}</td><td>${u.email}</td><td>${u.role}</td><td>${u.createdAt.toISOString().slice(0, 10)}</td></tr>`)}
</tbody></table>
<section class="panel"><h2>Add a person</h2>
<form id="user-form" class="stack">
<label>Email <input name="email" type="email" required></label>
<label>Name <input name="name"></label>
<label>Role <select name="role"><option value="viewer">viewer: reads maps and evidence</option><option value="researcher">researcher: also uploads feedback</option><option value="lead" selected>lead: also reviews and manages people</option></select></label>
<label>Password <input name="password" type="password" minlength="8" required autocomplete="new-password"></label>
<button class="button primary">Add</button>
</form></section>
<section class="panel"><h2>API tokens</h2>
<p class="small muted">For scripts: <code>curl -H "Authorization: Bearer TOKEN" http://host/api/customers</code>. A token acts with its person's role.</p>
<table class="list"><thead><tr><th>Name</th><th>Person</th><th>Created</th><th>Last used</th><th></th></tr></thead><tbody>
${p.tokens.map((t) => html`<tr><td>${t.name}</td><td>${t.userEmail}</td><td>${t.createdAt.toISOString().slice(0, 10)}</td><td>${t.lastUsedAt?.toISOString().slice(0, 16).replace('T', ' ') ?? '—'}</td><td>${t.revokedAt ? 'revoked' : html`<button class="button small danger" data-revoke="${t.id}">Revoke</button>`}</td></tr>`)}
</tbody></table>
<form id="token-form" class="inline">
<label>Person <select name="user_id">${p.users.map((u) => html`<option value="${u.id}">${u.email} (${u.role})</option>`)}</select></label>
<label>Name <input name="name" placeholder="nightly export" required></label>
<button class="button" ${p.users.length === 0 ? trusted('disabled') : ''}>Create token</button>
</form>
<p id="token-secret" class="secret" hidden></p>
</section>`,
  });
}
