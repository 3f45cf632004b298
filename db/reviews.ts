/**
 * People's decisions. Every decision is a new row of `reviews` with who and when; nothing here
 * updates or deletes a review, and no pipeline run writes to it, so a later run cannot overwrite one.
 * Unit decisions (set_job/set_kind/set_sentiment) are applied over machine tags by `unitsWithTags`
 * and become training examples through `reviewedExamples`; entry decisions (accept/reject/rename)
 * are applied by `buildMap`. Merged and split entries are kept as map entries of origin 'person',
 * which aggregation never touches; `refreshPersonEntries` recounts them from the current tags.
 */
import { and, asc, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { classifications, customers, items, jobs, mapEntries, reviews, units } from './schema/index.ts';
import type { MapRow, SentimentMix } from './schema/index.ts';
import { GapmapError } from '../app/errors.ts';
import { rowsOf, unitsWithTags } from './queries.ts';
import { OWN_HEADS_FROM, type OwnHeadsFrom } from '../classifiers/types.ts';
import { hashOf } from '../app/store.ts';
import { JOB_TEXT_MAX, jobTextTooLong } from '../ingest/types.ts';

export const KINDS = ['touchpoint', 'high_point', 'friction', 'value_gap', 'other'] as const;
export const SENTIMENTS = ['negative', 'neutral', 'positive'] as const;
export type Kind = (typeof KINDS)[number];
export type Sentiment = (typeof SENTIMENTS)[number];

export type UnitDecision =
  | { action: 'accept' }
  | { action: 'reject' }
  | { action: 'set_job'; value: string | null }
  | { action: 'set_kind'; value: Kind }
  | { action: 'set_sentiment'; value: Sentiment };

export type EntryDecision = { action: 'accept' } | { action: 'reject' } | { action: 'rename'; value: string };

async function unitOf(db: Db, customerId: number, ref: string, p: { lock?: boolean } = {}) {
  const q = db
    .select({ id: units.id, ref: units.ref })
    .from(units)
    .where(and(eq(units.customerId, customerId), eq(units.ref, ref), isNull(units.deletedAt)));
  const [u] = p.lock ? await q.for('update') : await q;
  if (!u) throw new GapmapError('not_found', `no unit "${ref}" for this customer`);
  return u;
}

async function jobKeys(db: Db, customerId: number): Promise<string[]> {
  const rows = await db.select({ key: jobs.key }).from(jobs).where(eq(jobs.customerId, customerId));
  return rows.map((r) => r.key);
}

/** The tags a page showed when its lead pressed accept; a field left out is not compared. */
export type ShownTags = { job?: string | null; kind?: string; sentiment?: string };

const tagsText = (t: ShownTags) =>
  [
    t.job !== undefined ? `job ${t.job ?? '(no job)'}` : null,
    t.kind !== undefined ? `kind ${t.kind}` : null,
    t.sentiment !== undefined ? `sentiment ${t.sentiment}` : null,
  ]
    .filter(Boolean)
    .join(', ');

/**
 * Records a person's decision about one unit. Accept confirms the unit's current tags (three rows,
 * so they become a training example); with `expected` (what the person's page showed) it is refused
 * when the current tags differ, since someone changed them meanwhile and the person never saw them.
 * Reject says it bears on no job ("other", no job). One decision about a unit at a time (row lock),
 * so accept compares with the tags it then confirms.
 */
export async function decideUnit(
  db: Db,
  p: { customerId: number; ref: string; who: string; decision: UnitDecision; expected?: ShownTags },
): Promise<{ unitId: number; rows: number }> {
  return db.transaction(async (tx) => {
    const unit = await unitOf(tx, p.customerId, p.ref, { lock: true });
    const rows = await decisionRows(tx, p.customerId, unit.id, p.ref, p.decision, p.expected);
    const at = new Date();
    await tx.insert(reviews).values(
      rows.map((r) => ({
        customerId: p.customerId,
        unitId: unit.id,
        action: r.action,
        value: r.value,
        who: p.who,
        at,
      })),
    );
    return { unitId: unit.id, rows: rows.length };
  });
}

async function decisionRows(
  db: Db,
  customerId: number,
  unitId: number,
  ref: string,
  d: UnitDecision,
  expected: ShownTags | undefined,
): Promise<{ action: string; value: unknown }[]> {
  switch (d.action) {
    case 'accept': {
      const [tags] = (await unitsWithTagsByIds(db, customerId, [unitId])) ?? [];
      if (!tags || tags.kind === null)
        throw new GapmapError(
          'conflict',
          `unit "${ref}" has no tags yet: wait for it to be classified, or set them`,
        );
      if (expected) {
        const changed =
          (expected.job !== undefined && expected.job !== tags.job) ||
          (expected.kind !== undefined && expected.kind !== tags.kind) ||
          (expected.sentiment !== undefined && expected.sentiment !== tags.sentiment);
        if (changed)
          throw new GapmapError(
            'conflict',
            `unit "${ref}" changed since your page showed it (${tagsText(expected)}): it is now ${tagsText({ job: tags.job, kind: tags.kind, sentiment: tags.sentiment ?? undefined })}. Nothing was recorded: reload the page to see the current tags, then decide again`,
          );
      }
      return [
        { action: 'set_job', value: tags.job },
        { action: 'set_kind', value: tags.kind },
        { action: 'set_sentiment', value: tags.sentiment },
      ];
    }
    case 'reject':
      return [
        { action: 'set_job', value: null },
        { action: 'set_kind', value: 'other' },
      ];
    case 'set_job':
      if (d.value !== null && !(await jobKeys(db, customerId)).includes(d.value))
        throw new GapmapError('bad_input', `job "${d.value}": not a job of this customer`);
      return [{ action: 'set_job', value: d.value }];
    case 'set_kind':
      if (!KINDS.includes(d.value))
        throw new GapmapError('bad_input', `kind "${String(d.value)}": expected one of ${KINDS.join(', ')}`);
      return [{ action: 'set_kind', value: d.value }];
    case 'set_sentiment':
      if (!SENTIMENTS.includes(d.value))
        throw new GapmapError(
          'bad_input',
          `sentiment "${String(d.value)}": expected one of ${SENTIMENTS.join(', ')}`,
        );
      return [{ action: 'set_sentiment', value: d.value }];
    default:
      throw new GapmapError(
        'bad_input',
        `action: expected accept, reject, set_job, set_kind or set_sentiment`,
      );
  }
}

async function unitsWithTagsByIds(db: Db, customerId: number, ids: number[]) {
  // unitsWithTags reads the whole customer; a decision needs one unit's current tags.
  const want = new Set(ids);
  const rows = await db
    .select({
      id: units.id,
      job: classifications.job,
      kind: classifications.kind,
      sentiment: classifications.sentiment,
    })
    .from(units)
    .leftJoin(classifications, eq(classifications.unitId, units.id))
    .where(inArray(units.id, ids));
  const decided = await db
    .select()
    .from(reviews)
    .where(and(eq(reviews.customerId, customerId), inArray(reviews.unitId, ids)))
    .orderBy(asc(reviews.id));
  return rows
    .filter((r) => want.has(r.id))
    .map((r) => {
      const t = { ...r };
      for (const d of decided.filter((x) => x.unitId === r.id)) {
        if (d.action === 'set_job') t.job = (d.value as string | null) ?? null;
        if (d.action === 'set_kind') t.kind = d.value as string;
        if (d.action === 'set_sentiment') t.sentiment = d.value as string;
      }
      return t;
    });
}

/**
 * Records a decision about a map entry, and applies it to the stored map at once (aggregation
 * reapplies it). Returns the entry's label as stored (a rename is trimmed).
 */
export async function decideEntry(
  db: Db,
  p: { customerId: number; entryKey: string; who: string; decision: EntryDecision },
): Promise<{ label: string }> {
  const [entry] = await db
    .select()
    .from(mapEntries)
    .where(and(eq(mapEntries.customerId, p.customerId), eq(mapEntries.entryKey, p.entryKey)));
  if (!entry) throw new GapmapError('not_found', `no map entry "${p.entryKey}" for this customer`);
  const d = p.decision;
  if (d.action === 'rename') {
    const label = typeof d.value === 'string' ? d.value.trim() : '';
    if (!label || label.length > 200)
      throw new GapmapError('bad_input', 'label: expected 1 to 200 characters');
    d.value = label;
  } else if (d.action !== 'accept' && d.action !== 'reject') {
    throw new GapmapError('bad_input', 'action: expected accept, reject or rename');
  }
  await db.transaction(async (tx) => {
    await tx.insert(reviews).values({
      customerId: p.customerId,
      entryKey: p.entryKey,
      action: d.action,
      value: d.action === 'rename' ? d.value : null,
      who: p.who,
    });
    if (d.action === 'rename')
      await tx
        .update(mapEntries)
        .set({ label: d.value, computedAt: new Date() })
        .where(eq(mapEntries.id, entry.id));
    if (d.action === 'reject') await tx.delete(mapEntries).where(eq(mapEntries.id, entry.id));
  });
  return { label: d.action === 'rename' ? d.value : entry.label };
}

/** Joins entries of one cell into a person entry; the originals are rejected so the map shows the merge. */
export async function mergeEntries(
  db: Db,
  p: { customerId: number; entryKeys: string[]; label?: string; who: string },
): Promise<{ entryKey: string }> {
  const keys = [...new Set(p.entryKeys)];
  if (keys.length < 2) throw new GapmapError('bad_input', 'entries: expected at least two entries to merge');
  const found = await db
    .select()
    .from(mapEntries)
    .where(and(eq(mapEntries.customerId, p.customerId), inArray(mapEntries.entryKey, keys)));
  const missing = keys.filter((k) => !found.some((e) => e.entryKey === k));
  if (missing.length)
    throw new GapmapError(
      'not_found',
      `no map entry ${missing.map((k) => `"${k}"`).join(', ')} for this customer`,
    );
  // The merged entry lives in one cell: units of another cell would be counted there by no one.
  const cell = (e: (typeof found)[number]) => `(${e.job ?? 'no job'}, ${e.row})`;
  const other = found.find((e) => cell(e) !== cell(found[0]!));
  if (other)
    throw new GapmapError(
      'bad_input',
      `entries: "${found[0]!.entryKey}" ${cell(found[0]!)} and "${other.entryKey}" ${cell(other)} are in different cells: merge entries of one cell (the same job and row) only`,
    );
  const first = found.sort((a, b) => a.rank - b.rank)[0]!;
  const refs = [...new Set(found.flatMap((e) => e.refs))].sort();
  const entryKey = 'p' + hashOf(`${p.customerId}|merge|${keys.sort().join(',')}`).slice(0, 15);
  const label = p.label?.trim() || first.label;
  await db.transaction(async (tx) => {
    const at = new Date();
    await tx.insert(reviews).values([
      { customerId: p.customerId, entryKey, action: 'merge', value: { from: keys, label }, who: p.who, at },
      ...keys.map((k) => ({
        customerId: p.customerId,
        entryKey: k,
        action: 'reject',
        value: { mergedInto: entryKey },
        who: p.who,
        at,
      })),
    ]);
    await tx
      .delete(mapEntries)
      .where(and(eq(mapEntries.customerId, p.customerId), inArray(mapEntries.entryKey, keys)));
    await tx.insert(mapEntries).values({
      customerId: p.customerId,
      entryKey,
      job: first.job,
      row: first.row,
      rank: first.rank,
      label,
      count: refs.length,
      sentiment: first.sentiment,
      quote: first.quote,
      quoteRef: first.quoteRef,
      refs,
      origin: 'person',
    });
  });
  await refreshPersonEntries(db, p.customerId);
  return { entryKey };
}

/** Moves some of an entry's evidence into a new person entry; the rest stays together as another. */
export async function splitEntry(
  db: Db,
  p: { customerId: number; entryKey: string; refs: string[]; label: string; who: string },
): Promise<{ entryKeys: [string, string] }> {
  const [entry] = await db
    .select()
    .from(mapEntries)
    .where(and(eq(mapEntries.customerId, p.customerId), eq(mapEntries.entryKey, p.entryKey)));
  if (!entry) throw new GapmapError('not_found', `no map entry "${p.entryKey}" for this customer`);
  const moving = [...new Set(p.refs)].filter((r) => entry.refs.includes(r)).sort();
  const staying = entry.refs.filter((r) => !moving.includes(r)).sort();
  if (moving.length === 0 || staying.length === 0)
    throw new GapmapError(
      'bad_input',
      'refs: expected some, but not all, of the entry’s evidence to split off',
    );
  const label = p.label.trim();
  if (!label) throw new GapmapError('bad_input', 'label: expected a name for the new entry');
  const keyA = 'p' + hashOf(`${p.customerId}|split|${p.entryKey}|${staying.join(',')}`).slice(0, 15);
  const keyB = 'p' + hashOf(`${p.customerId}|split|${p.entryKey}|${moving.join(',')}`).slice(0, 15);
  await db.transaction(async (tx) => {
    const at = new Date();
    await tx.insert(reviews).values([
      {
        customerId: p.customerId,
        entryKey: p.entryKey,
        action: 'split',
        value: { into: [keyA, keyB], refs: moving, label },
        who: p.who,
        at,
      },
      {
        customerId: p.customerId,
        entryKey: p.entryKey,
        action: 'reject',
        value: { splitInto: [keyA, keyB] },
        who: p.who,
        at,
      },
    ]);
    await tx.delete(mapEntries).where(eq(mapEntries.id, entry.id));
    const base = {
      customerId: p.customerId,
      job: entry.job,
      row: entry.row,
      sentiment: entry.sentiment,
      origin: 'person' as const,
    };
    await tx.insert(mapEntries).values([
      {
        ...base,
        entryKey: keyA,
        rank: entry.rank,
        label: entry.label,
        count: staying.length,
        quote: entry.quote,
        quoteRef: entry.quoteRef,
        refs: staying,
      },
      {
        ...base,
        entryKey: keyB,
        rank: entry.rank,
        label,
        count: moving.length,
        quote: entry.quote,
        quoteRef: moving[0]!,
        refs: moving,
      },
    ]);
  });
  await refreshPersonEntries(db, p.customerId);
  return { entryKeys: [keyA, keyB] };
}

/** Recounts person entries from the units' current tags: units gone or moved out of the cell drop out. */
export async function refreshPersonEntries(db: Db, customerId: number) {
  const entries = await db
    .select()
    .from(mapEntries)
    .where(and(eq(mapEntries.customerId, customerId), eq(mapEntries.origin, 'person')));
  if (entries.length === 0) return;
  const ROW_OF_KIND: Record<string, MapRow> = {
    touchpoint: 'touchpoints',
    high_point: 'high_points',
    friction: 'friction',
    value_gap: 'value_gaps',
  };
  const byRef = new Map((await unitsWithTags(db, customerId)).map((u) => [u.ref, u]));
  for (const e of entries) {
    const members = e.refs
      .map((r) => byRef.get(r))
      .filter(
        (u) =>
          u &&
          (e.row === 'internal_processes' ||
            e.row === 'opportunities' ||
            (u.kind && ROW_OF_KIND[u.kind] === e.row && u.job === e.job)),
      );
    const sentiment: SentimentMix = { negative: 0, neutral: 0, positive: 0 };
    for (const u of members)
      if (u?.sentiment && u.sentiment in sentiment) sentiment[u.sentiment as keyof SentimentMix]++;
    const rep = members.find((u) => u!.ref === e.quoteRef) ?? members[0];
    if (members.length === 0) {
      await db.delete(mapEntries).where(eq(mapEntries.id, e.id));
      continue;
    }
    await db
      .update(mapEntries)
      .set({
        refs: members.map((u) => u!.ref).sort(),
        count: members.length,
        sentiment,
        quote: rep!.text,
        quoteRef: rep!.ref,
        computedAt: new Date(),
      })
      .where(eq(mapEntries.id, e.id));
  }
}

/**
 * What nobody has checked yet, least sure first: units with machine tags and no decision, ordered by
 * the lowest of their three confidences.
 */
export async function unitQueue(db: Db, customerId: number, p: { limit?: number } = {}) {
  const confidence = sql<number>`least(${classifications.jobConfidence}, ${classifications.kindConfidence}, ${classifications.sentimentConfidence})`;
  return db
    .select({
      id: units.id,
      ref: units.ref,
      text: units.text,
      speaker: units.speaker,
      sourceType: items.sourceType,
      job: classifications.job,
      jobConfidence: classifications.jobConfidence,
      kind: classifications.kind,
      kindConfidence: classifications.kindConfidence,
      sentiment: classifications.sentiment,
      sentimentConfidence: classifications.sentimentConfidence,
      confidence,
    })
    .from(units)
    .innerJoin(items, eq(items.id, units.itemId))
    .innerJoin(classifications, eq(classifications.unitId, units.id))
    .where(
      and(
        eq(units.customerId, customerId),
        isNull(units.deletedAt),
        isNull(items.deletedAt),
        sql`not exists (select 1 from ${reviews} where ${reviews.unitId} = ${units.id})`,
      ),
    )
    .orderBy(asc(confidence), asc(units.id))
    .limit(p.limit ?? 50);
}

export async function countUnitQueue(db: Db, customerId: number): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(units)
    .innerJoin(classifications, eq(classifications.unitId, units.id))
    .where(
      and(
        eq(units.customerId, customerId),
        isNull(units.deletedAt),
        sql`not exists (select 1 from ${reviews} where ${reviews.unitId} = ${units.id})`,
      ),
    );
  return row!.n;
}

/** Map entries nobody has accepted yet, least sure first (mean kind confidence of their evidence). */
export async function entryQueue(db: Db, customerId: number, p: { limit?: number } = {}) {
  const rows = await rowsOf<{
    entry_key: string;
    job: string | null;
    row: MapRow;
    label: string;
    count: number;
    origin: string;
    confidence: number | string | null;
  }>(
    db,
    sql`
    select e.entry_key, e.job, e.row, e.label, e.count, e.origin,
      (select avg(c.kind_confidence) from jsonb_array_elements_text(e.refs) r(ref)
         join ${units} u on u.ref = r.ref join ${classifications} c on c.unit_id = u.id) as confidence
    from ${mapEntries} e
    where e.customer_id = ${customerId} and e.origin = 'machine'
      and not exists (select 1 from ${reviews} v where v.customer_id = e.customer_id and v.entry_key = e.entry_key and v.action = 'accept')
    order by confidence asc nulls first, e.rank asc
    limit ${p.limit ?? 50}`,
  );
  return rows.map((r) => ({
    ...r,
    count: Number(r.count),
    confidence: r.confidence === null ? null : Number(r.confidence),
  }));
}

export async function listDecisions(db: Db, customerId: number, p: { limit?: number } = {}) {
  return db
    .select({
      id: reviews.id,
      ref: units.ref,
      entryKey: reviews.entryKey,
      action: reviews.action,
      value: reviews.value,
      who: reviews.who,
      at: reviews.at,
    })
    .from(reviews)
    .leftJoin(units, eq(units.id, reviews.unitId))
    .where(eq(reviews.customerId, customerId))
    .orderBy(desc(reviews.id))
    .limit(p.limit ?? 100);
}

/**
 * How far a customer's decisions are from teaching its own kind and sentiment heads: per field,
 * how many units people decided it for and the count from which they teach (OWN_HEADS_FROM, as
 * the classifier's headsLessons counts them), and a sentence for the review page.
 */
export async function headsLearning(
  db: Db,
  customerId: number,
  from: OwnHeadsFrom = OWN_HEADS_FROM,
): Promise<{
  kind: { decided: number; from: number };
  sentiment: { decided: number; from: number };
  note: string;
}> {
  const [row] = await db
    .select({
      kind: sql<number>`(count(distinct ${reviews.unitId}) filter (where ${reviews.action} = 'set_kind'))::int`,
      sentiment: sql<number>`(count(distinct ${reviews.unitId}) filter (where ${reviews.action} = 'set_sentiment'))::int`,
    })
    .from(reviews)
    .where(eq(reviews.customerId, customerId));
  const kind = { decided: row?.kind ?? 0, from: from.kind };
  const sentiment = { decided: row?.sentiment ?? 0, from: from.sentiment };
  const part = (name: string, f: { decided: number; from: number }) =>
    f.decided >= f.from
      ? `${name} tags learn from this customer's ${f.decided} ${name} decisions`
      : `${name} tags learn from this customer's decisions once there are ${f.from} (${f.decided} so far)`;
  const waiting = kind.decided < kind.from || sentiment.decided < sentiment.from;
  const both = `${part('kind', kind)}; ${part('sentiment', sentiment)}.`;
  const note =
    both[0]!.toUpperCase() +
    both.slice(1) +
    (waiting ? ' Until then a decision fixes its own unit and units with the same words.' : '') +
    ' Jobs learn from every decision.';
  return { kind, sentiment, note };
}

const JOB_KEY = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * Adds a job or edits one; either way it becomes origin 'person', which imports never overwrite.
 * An edit keeps a field it leaves out (undefined). Returns the key as stored (trimmed).
 */
export async function saveJob(
  db: Db,
  p: {
    customerId: number;
    key: string;
    statement?: string;
    desiredOutcome?: string;
    who: string;
    create: boolean;
  },
): Promise<{ key: string }> {
  // Only a new key is held to the jobs page's form: customers.json allows any non-empty key
  // ("Book Rooms"), and such a job must stay editable under the key it has.
  const key = p.create ? p.key.trim() : p.key;
  const statement = p.statement?.trim();
  const desiredOutcome = p.desiredOutcome?.trim();
  if (p.create && !JOB_KEY.test(key))
    throw new GapmapError(
      'bad_input',
      `job key "${p.key}": expected lowercase letters, digits, - or _ (like "get-paid")`,
    );
  if (statement === '' || (p.create && statement === undefined))
    throw new GapmapError(
      'bad_input',
      'statement: expected verb + object + circumstances ("Get paid for finished work without chasing clients")',
    );
  for (const [field, text] of [
    ['statement', statement],
    ['desired_outcome', desiredOutcome],
  ] as const)
    if (text !== undefined && text.length > JOB_TEXT_MAX)
      throw new GapmapError('bad_input', `${field}: ${jobTextTooLong(text.length)}`);
  const [existing] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.customerId, p.customerId), eq(jobs.key, key)));
  if (p.create && existing) throw new GapmapError('conflict', `job "${key}" already exists: edit it instead`);
  if (!p.create && !existing) throw new GapmapError('not_found', `no job "${key}" for this customer`);
  const values = {
    statement: statement ?? existing!.statement,
    desiredOutcome: desiredOutcome ?? existing?.desiredOutcome ?? '',
    origin: 'person' as const,
    updatedAt: new Date(),
  };
  await db.transaction(async (tx) => {
    if (existing) await tx.update(jobs).set(values).where(eq(jobs.id, existing.id));
    else await tx.insert(jobs).values({ customerId: p.customerId, key, examples: [], ...values });
    await tx
      .update(customers)
      .set({ jobsVersion: sql`${customers.jobsVersion} + 1` })
      .where(eq(customers.id, p.customerId));
    await tx.insert(reviews).values({
      customerId: p.customerId,
      action: p.create ? 'add_job' : 'edit_job',
      value: { key, statement: values.statement, desired_outcome: values.desiredOutcome },
      who: p.who,
    });
  });
  return { key };
}

/** A cheap fingerprint of a customer's stored map: it changes whenever the map does (pages poll it). */
export async function mapVersion(db: Db, customerId: number): Promise<string> {
  const rows = await rowsOf<{ v: string | null }>(
    db,
    sql`
    select concat_ws('|', (select built_at::text from map_state where customer_id = ${customerId}),
      (select count(*)::text || ':' || coalesce(max(computed_at)::text, '') || ':' || coalesce(sum(count), 0)::text
         from ${mapEntries} where customer_id = ${customerId}),
      (select coalesce(max(id), 0)::text from ${reviews} where customer_id = ${customerId})) as v`,
  );
  return rows[0]?.v ?? '';
}
