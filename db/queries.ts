/**
 * Queries as plain functions of (db, params), so a test or a caller can pass a transaction.
 */
import {
  and,
  asc,
  desc,
  eq,
  getTableColumns,
  inArray,
  isNull,
  gt,
  lt,
  sql,
  type AnyColumn,
  type SQL,
} from 'drizzle-orm';
import type { Db } from './client.ts';
import {
  classifications,
  customerHeads,
  customers,
  importErrors,
  importRuns,
  items,
  jobAnchors,
  jobHeadChoices,
  jobs,
  mapEntries,
  mapState,
  reviews,
  units,
} from './schema/index.ts';
import type { ImportCounts } from './schema/index.ts';
import type { CustomerDef, ImportIssue, JobDef } from '../ingest/types.ts';
import {
  ANCHOR_CAP,
  type HeadsStore,
  type JobAnchor,
  type LabelledExample,
  type RegressionChoice,
  type Tags,
} from '../classifiers/types.ts';

/**
 * `column = any($1)`: one array parameter where drizzle's inArray writes one parameter per value.
 * For the classify stage's batches of 256 ids it is the cheaper statement to build, send and plan
 * (this process's CPU per batch of 256, measured on 2026-12-06: the units and their items 6.5 ->
 * 4.6 ms, the tags they have 2.5-3.1 -> 1.2 ms).
 */
export const anyOf = (column: AnyColumn, values: number[] | string[], type: 'int' | 'text') =>
  type === 'int'
    ? sql`${column} = any(${sql.param(values)}::int[])`
    : sql`${column} = any(${sql.param(values)}::text[])`;

export const emptyCounts = (): ImportCounts => ({
  itemsNew: 0,
  itemsUpdated: 0,
  itemsUnchanged: 0,
  unitsNew: 0,
  unitsUpdated: 0,
  unitsUnchanged: 0,
  unitsRemoved: 0,
  errors: 0,
});

export async function createImportRun(
  db: Db,
  p: { source: string; kind: string; status?: 'queued' | 'running' },
) {
  const [row] = await db
    .insert(importRuns)
    .values({ source: p.source, kind: p.kind, status: p.status ?? 'running', counts: emptyCounts() })
    .returning();
  return row!;
}

export async function getImportRun(db: Db, id: number) {
  const [row] = await db.select().from(importRuns).where(eq(importRuns.id, id));
  return row;
}

export async function updateImportRun(
  db: Db,
  id: number,
  p: Partial<{
    status: 'queued' | 'running' | 'done' | 'failed';
    counts: ImportCounts;
    error: string | null;
    customerKeys: string[];
    finishedAt: Date;
  }>,
) {
  await db.update(importRuns).set(p).where(eq(importRuns.id, id));
}

export async function addImportErrors(db: Db, runId: number, errors: ImportIssue[]) {
  if (errors.length === 0) return;
  await db
    .insert(importErrors)
    .values(
      errors.map((e) => ({ runId, file: e.file, line: e.line, field: e.field ?? null, message: e.message })),
    );
}

export async function listImportRuns(db: Db, p: { limit?: number } = {}) {
  const runs = await db
    .select()
    .from(importRuns)
    .orderBy(desc(importRuns.id))
    .limit(p.limit ?? 50);
  if (runs.length === 0) return [];
  const errs = await db
    .select()
    .from(importErrors)
    .where(
      inArray(
        importErrors.runId,
        runs.map((r) => r.id),
      ),
    )
    .orderBy(asc(importErrors.id));
  return runs.map((r) => ({ ...r, errors: errs.filter((e) => e.runId === r.id) }));
}

/**
 * Customers from customers.json: new ones are added, names and imported jobs refreshed; jobs a
 * person edited stay as they are. A known customer whose jobs this adds or changes gets its
 * jobsVersion bumped (its units are then all classified again); those customers are returned.
 */
export async function upsertCustomers(db: Db, defs: CustomerDef[]): Promise<number[]> {
  const retag: number[] = [];
  for (const c of defs) {
    const [known] = await db.select({ id: customers.id }).from(customers).where(eq(customers.key, c.key));
    const [row] = await db
      .insert(customers)
      .values({ key: c.key, name: c.name })
      .onConflictDoUpdate({ target: customers.key, set: { name: c.name } })
      .returning();
    let changed = false;
    for (const j of c.jobs) {
      // Returns a row only when the job is new or its words differ from the stored ones.
      const written = await db
        .insert(jobs)
        .values({
          customerId: row!.id,
          key: j.key,
          statement: j.statement,
          desiredOutcome: j.desiredOutcome,
          examples: j.examples,
        })
        .onConflictDoUpdate({
          target: [jobs.customerId, jobs.key],
          set: {
            statement: j.statement,
            desiredOutcome: j.desiredOutcome,
            examples: j.examples,
            updatedAt: new Date(),
          },
          setWhere: and(
            eq(jobs.origin, 'import'),
            sql`(${jobs.statement}, ${jobs.desiredOutcome}, ${jobs.examples}) is distinct from (excluded.statement, excluded.desired_outcome, excluded.examples)`,
          ),
        })
        .returning({ id: jobs.id });
      changed ||= written.length > 0;
    }
    if (known && changed) {
      await db
        .update(customers)
        .set({ jobsVersion: sql`${customers.jobsVersion} + 1` })
        .where(eq(customers.id, row!.id));
      retag.push(row!.id);
    }
  }
  return retag;
}

/** Customers whose jobs changed since their units were last all sent to be classified, with the version to record. */
export async function customersToRetag(db: Db): Promise<Map<number, number>> {
  const rows = await db
    .select({ id: customers.id, version: customers.jobsVersion })
    .from(customers)
    .where(sql`${customers.jobsVersion} > ${customers.retaggedJobsVersion}`);
  return new Map(rows.map((r) => [r.id, r.version]));
}

/** Forgets a customer's anchors: chosen under jobs that have changed since. */
export async function clearAnchors(db: Db, customerId: number): Promise<void> {
  await db.delete(jobAnchors).where(eq(jobAnchors.customerId, customerId));
}

/** Records that every unit was sent to be classified with the customer's jobs at `version`. */
export async function markRetagged(db: Db, customerId: number, version: number) {
  await db
    .update(customers)
    .set({ retaggedJobsVersion: version })
    .where(and(eq(customers.id, customerId), lt(customers.retaggedJobsVersion, version)));
}

/** Every live unit of a customer, in id order. */
export async function liveUnitIds(db: Db, customerId: number): Promise<number[]> {
  return (
    await db
      .select({ id: units.id })
      .from(units)
      .where(and(eq(units.customerId, customerId), isNull(units.deletedAt)))
      .orderBy(asc(units.id))
  ).map((r) => r.id);
}

export async function listCustomers(db: Db) {
  const rows = await db.select().from(customers).orderBy(asc(customers.key));
  const allJobs = await db.select().from(jobs).orderBy(asc(jobs.id));
  const counts = await db
    .select({ customerId: units.customerId, n: sql<number>`count(*)::int` })
    .from(units)
    .where(isNull(units.deletedAt))
    .groupBy(units.customerId);
  return rows.map((c) => ({
    ...c,
    units: counts.find((x) => x.customerId === c.id)?.n ?? 0,
    jobs: allJobs.filter((j) => j.customerId === c.id),
  }));
}

export async function getCustomerByKey(db: Db, key: string) {
  const [row] = await db.select().from(customers).where(eq(customers.key, key));
  return row;
}

export async function customerKeyMap(db: Db): Promise<Map<string, number>> {
  const rows = await db.select({ id: customers.id, key: customers.key }).from(customers);
  return new Map(rows.map((r) => [r.key, r.id]));
}

export async function jobsOf(db: Db, customerId: number): Promise<JobDef[]> {
  const rows = await db.select().from(jobs).where(eq(jobs.customerId, customerId)).orderBy(asc(jobs.id));
  return rows.map((j) => ({
    key: j.key,
    statement: j.statement,
    desiredOutcome: j.desiredOutcome,
    examples: j.examples,
  }));
}

/** People's latest decision per unit and field, as training examples for that customer's heads. */
export async function reviewedExamples(db: Db, customerId: number): Promise<LabelledExample[]> {
  const rows = await db
    .select({ unitId: reviews.unitId, action: reviews.action, value: reviews.value, text: units.text })
    .from(reviews)
    .innerJoin(units, eq(units.id, reviews.unitId))
    .where(and(eq(reviews.customerId, customerId)))
    .orderBy(asc(reviews.id));
  return examplesOf(rows);
}

/** Review rows in the order they were made -> one example per unit, its latest decision per field. */
function examplesOf(
  rows: { unitId: number | null; action: string; value: unknown; text: string }[],
): LabelledExample[] {
  const byUnit = new Map<number, LabelledExample>();
  for (const r of rows) {
    const ex = byUnit.get(r.unitId!) ?? { text: r.text };
    if (r.action === 'set_job') ex.job = (r.value as string | null) ?? null;
    if (r.action === 'set_kind') ex.kind = r.value as LabelledExample['kind'];
    if (r.action === 'set_sentiment') ex.sentiment = r.value as LabelledExample['sentiment'];
    byUnit.set(r.unitId!, ex);
  }
  return [...byUnit.values()];
}

/** Raw SQL rows, the same for node-postgres and PGlite (both answer `{ rows }`). */
export async function rowsOf<T>(db: Db, query: SQL): Promise<T[]> {
  const res = (await db.execute(query)) as unknown as { rows: T[] };
  return res.rows;
}

/**
 * The job head's anchors a customer's batches chose (job_anchors), of live units only, one per text
 * (the surest, where units with the same text were both anchored), by job and confidence.
 */
export async function customerAnchors(db: Db, customerId: number): Promise<JobAnchor[]> {
  const rows = await rowsOf<{ text: string; job: string; confidence: number }>(
    db,
    sql`
    select text, job, confidence from (
      select distinct on (${units.text}) ${units.text} as text, ${jobAnchors.job} as job,
        ${jobAnchors.confidence} as confidence
      from ${jobAnchors} join ${units} on ${liveAnchorUnit}
      where ${jobAnchors.customerId} = ${customerId}
      order by ${units.text}, ${jobAnchors.confidence} desc
    ) a order by job, confidence desc, text`,
  );
  return rows.map((r) => ({ text: r.text, job: r.job, confidence: Number(r.confidence) }));
}

/** An anchor's unit, live and with the text it was chosen for (a unit edited since is no anchor). */
const liveAnchorUnit = sql`${units.id} = ${jobAnchors.unitId} and ${units.deletedAt} is null
  and ${units.contentHash} = ${jobAnchors.contentHash}`;

/** Serializes merges of one customer's anchors (with the customer's id as the second key). */
const ANCHOR_LOCK = 727274003;

/** An anchor a batch chose, with the unit whose text it is. */
export type UnitAnchor = JobAnchor & { unitId: number; contentHash: string };

/**
 * Adds a batch's anchors to the customer's (job_anchors), keeping per job the surest ANCHOR_CAP
 * of live units (one row per unit: a batch classified again replaces its own). Only the batch's
 * jobs' rows are read and rewritten; the anchors of units removed since are dropped from those
 * jobs here, and never read. Merges of one customer take turns (a transaction lock), so two
 * batches finishing together both count.
 */
export async function mergeAnchors(db: Db, customerId: number, anchors: UnitAnchor[]): Promise<void> {
  if (anchors.length === 0) return;
  // One row per unit (units of a batch with the same text share one), the surest.
  const byUnit = new Map<number, UnitAnchor>();
  for (const a of anchors) {
    const had = byUnit.get(a.unitId);
    if (!had || a.confidence > had.confidence) byUnit.set(a.unitId, a);
  }
  const col = <T>(f: (a: UnitAnchor) => T) => sql.param([...byUnit.values()].map(f));
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${ANCHOR_LOCK}, ${customerId})`);
    // One statement: the batch's anchors and its jobs' live ones ranked together, the batch's
    // among the surest ANCHOR_CAP per job written, the rest of those jobs' rows deleted (the two
    // sets do not meet).
    await tx.execute(sql`
      with incoming as (
        select * from unnest(${col((a) => a.unitId)}::int[], ${col((a) => a.contentHash)}::text[],
          ${col((a) => a.job)}::text[], ${col((a) => a.confidence)}::float8[])
          as t(unit_id, content_hash, job, confidence)
      ), kept as (
        select unit_id, content_hash, job, confidence from (
          select *, row_number() over (partition by job order by confidence desc, unit_id) as rank
          from (
            select * from incoming
            union all
            select ${jobAnchors.unitId}, ${jobAnchors.contentHash}, ${jobAnchors.job},
              ${jobAnchors.confidence}
            from ${jobAnchors} join ${units} on ${liveAnchorUnit}
            where ${jobAnchors.customerId} = ${customerId}
              and ${jobAnchors.job} in (select job from incoming)
              and ${jobAnchors.unitId} not in (select unit_id from incoming)
          ) candidates
        ) ranked where rank <= ${ANCHOR_CAP}
      ), dropped as (
        delete from ${jobAnchors}
        where ${jobAnchors.customerId} = ${customerId}
          and (${jobAnchors.job} in (select job from incoming)
            or ${jobAnchors.unitId} in (select unit_id from incoming))
          and ${jobAnchors.unitId} not in (select unit_id from kept)
      )
      insert into ${jobAnchors} (customer_id, unit_id, content_hash, job, confidence)
      select ${customerId}::int, unit_id, content_hash, job, confidence from kept
      where unit_id in (select unit_id from incoming)
      on conflict (customer_id, unit_id) do update set content_hash = excluded.content_hash,
        job = excluded.job, confidence = excluded.confidence`);
  });
}

/** Units whose current machine tags are missing or were made for other text. */
export async function pendingUnitIds(
  db: Db,
  p: { customerIds?: number[]; limit?: number } = {},
): Promise<number[]> {
  const rows = await db
    .select({ id: units.id })
    .from(units)
    .leftJoin(classifications, eq(classifications.unitId, units.id))
    .where(
      and(
        isNull(units.deletedAt),
        p.customerIds ? inArray(units.customerId, p.customerIds) : undefined,
        sql`(${classifications.unitId} is null or ${classifications.contentHash} <> ${units.contentHash})`,
      ),
    )
    .orderBy(asc(units.id))
    .limit(p.limit ?? 1_000_000);
  return rows.map((r) => r.id);
}

/** Customers with units waiting for tags: a crash or an interrupted run leaves such units behind. */
export async function customersWithPendingUnits(db: Db): Promise<number[]> {
  const rows = await db
    .selectDistinct({ customerId: units.customerId })
    .from(units)
    .leftJoin(classifications, eq(classifications.unitId, units.id))
    .where(
      and(
        isNull(units.deletedAt),
        sql`(${classifications.unitId} is null or ${classifications.contentHash} <> ${units.contentHash})`,
      ),
    );
  return rows.map((r) => r.customerId);
}

export async function countUnits(db: Db, customerIds?: number[]) {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(units)
    .where(and(isNull(units.deletedAt), customerIds ? inArray(units.customerId, customerIds) : undefined));
  return row!.n;
}

/**
 * The live units of a classify batch with what classifying them needs: their item's source type
 * and meta, and the tag each has (content hash, classifier and version; null when it has none).
 * Each item's meta is read once, not once per unit: a transcript's meta holds all its turns, and a
 * batch of its sixty turns would otherwise carry them sixty times. The items are found from the
 * unit ids in the database, so both reads go at once (two connections of the pool): one round trip.
 */
export async function unitsForClassification(db: Db, unitIds: number[]): Promise<UnitToClassify[]> {
  if (unitIds.length === 0) return [];
  // Plain SQL rows: drizzle's select with a nested object took 2.2-3.0 ms of this process's CPU per
  // batch of 256, these 1.1-1.6 (a scratch timing, 600 batches each, alternating).
  const [rows, sources] = await Promise.all([
    rowsOf<{
      id: number;
      customer_id: number;
      item_id: number;
      text: string;
      ordinal: number;
      section: string | null;
      content_hash: string;
      tagged_hash: string | null;
      classifier: string | null;
      version: string | null;
    }>(db, batchQueries.units(unitIds)),
    rowsOf<{ id: number; source_type: string; meta: Record<string, unknown> }>(
      db,
      batchQueries.items(unitIds),
    ),
  ]);
  const byId = new Map<number, { source_type: string; meta: Record<string, unknown> }>();
  for (const i of sources) byId.set(i.id, i);
  return rows.map((r) => {
    const item = byId.get(r.item_id)!;
    return {
      id: r.id,
      customerId: r.customer_id,
      text: r.text,
      ordinal: r.ordinal,
      section: r.section,
      contentHash: r.content_hash,
      tagged:
        r.tagged_hash === null
          ? null
          : { hash: r.tagged_hash, classifier: r.classifier!, version: r.version! },
      sourceType: item.source_type,
      meta: item.meta,
    };
  });
}

/** unitsForClassification's two statements (exported for the test of their plans). */
export const batchQueries = {
  units: (unitIds: number[]) => sql`select ${units.id}, ${units.customerId}, ${units.itemId}, ${units.text},
      ${units.ordinal}, ${units.section}, ${units.contentHash},
      ${classifications.contentHash} as tagged_hash, ${classifications.classifier}, ${classifications.version}
    from ${units} left join ${classifications} on ${classifications.unitId} = ${units.id}
    where ${anyOf(units.id, unitIds, 'int')} and ${units.deletedAt} is null`,
  items: (unitIds: number[]) => sql`select ${items.id}, ${items.sourceType}, ${items.meta} from ${items}
    where ${items.id} in (select ${units.itemId} from ${units} where ${anyOf(units.id, unitIds, 'int')})`,
};

/** A live unit of a classify batch (unitsForClassification). */
export interface UnitToClassify {
  id: number;
  customerId: number;
  text: string;
  ordinal: number;
  section: string | null;
  contentHash: string;
  /** The tag the unit has: the content hash, classifier and version it was made for. */
  tagged: { hash: string; classifier: string; version: string } | null;
  sourceType: string;
  meta: Record<string, unknown>;
}

/** What a batch's tags share: one customer, one classifier and version, one jobs version, one time. */
export interface ClassificationBatch {
  customerId: number;
  classifier: string;
  version: string;
  jobsVersion: number;
  classifiedAt: Date;
}

/** One unit's tags in a ClassificationBatch: a classifier's Tags, for this unit and text. */
export type UnitTags = Tags & { unitId: number; contentHash: string };

/**
 * Writes a batch of tags, replacing each unit's row: what the units share as single parameters, and
 * the units' own tags as one array per column (`unnest`), so PostgreSQL parses and plans one
 * statement for the batch. Per batch of 256, against thirteen arrays (the shared values repeated in
 * each row): pg builds the arrays in 0.7 instead of 1.6 ms, and PostgreSQL's backend took about
 * 6 instead of 8-9 ms of CPU (60 inserts each, measured from /proc). One JSON array of rows was
 * quicker to build (0.3 ms) but took PostgreSQL as long as thirteen arrays.
 */
export async function saveClassifications(db: Db, batch: ClassificationBatch, tags: UnitTags[]) {
  if (tags.length === 0) return;
  // One parameter per column (sql.param: drizzle would spread a bare array into a list).
  const col = <T>(f: (t: UnitTags) => T) => sql.param(tags.map(f));
  await db.execute(sql`
    insert into ${classifications} (unit_id, customer_id, content_hash, classifier, version, job,
      job_confidence, kind, kind_confidence, sentiment, sentiment_confidence, classified_at, jobs_version)
    select u, ${batch.customerId}::int, h, ${batch.classifier}::text, ${batch.version}::text, j, jc, k,
      kc, s, sc, ${batch.classifiedAt.toISOString()}::timestamptz, ${batch.jobsVersion}::int
    from unnest(${col((t) => t.unitId)}::int[], ${col((t) => t.contentHash)}::text[],
      ${col((t) => t.job)}::text[], ${col((t) => t.jobConfidence)}::real[], ${col((t) => t.kind)}::text[],
      ${col((t) => t.kindConfidence)}::real[], ${col((t) => t.sentiment)}::text[],
      ${col((t) => t.sentimentConfidence)}::real[]) as t(u, h, j, jc, k, kc, s, sc)
    on conflict (unit_id) do update set
      content_hash = excluded.content_hash, classifier = excluded.classifier,
      version = excluded.version, job = excluded.job, job_confidence = excluded.job_confidence,
      kind = excluded.kind, kind_confidence = excluded.kind_confidence,
      sentiment = excluded.sentiment, sentiment_confidence = excluded.sentiment_confidence,
      classified_at = excluded.classified_at, jobs_version = excluded.jobs_version`);
}

/** What the classify stage reads of a customer (classifyStateOf). */
export interface ClassifyState {
  jobsVersion: number;
  regressions: RegressionChoice | undefined;
  jobs: JobDef[];
  examples: LabelledExample[];
}

/**
 * What a customer's jobs and people's decisions on its units are at, as one text that any change
 * to them changes: the jobs' version, count, newest id and last edit, and the decisions' version
 * (customers.decisionsVersion, which triggers bump when reviews of units come or go and when a
 * decided unit's text is edited). Joining every decided unit for its last edit instead cost
 * PostgreSQL 3 and 8 ms per batch with 1,000 and 3,000 decisions.
 */
const stateFingerprint = sql<string>`concat_ws('|', ${customers.jobsVersion},
  (select count(*) || ':' || coalesce(max(${jobs.id}), 0) || ':' || coalesce(max(${jobs.updatedAt})::text, '')
    from ${jobs} where ${jobs.customerId} = ${customers.id}),
  ${customers.decisionsVersion})`;

/**
 * What the classify stage reads of a customer, in one statement (one snapshot: the jobs are those
 * of the version read, and one round trip instead of three): the jobs' version, the job head's kept
 * regression choice (customer_job_head) if any, the jobs as jobsOf gives them and people's
 * decisions as reviewedExamples gives them.
 */
export async function classifyStateOf(db: Db, customerId: number): Promise<ClassifyState> {
  const { fingerprint: _, ...state } = await stateWithFingerprint(db, customerId);
  return state;
}

async function stateWithFingerprint(
  db: Db,
  customerId: number,
): Promise<ClassifyState & { fingerprint: string | undefined }> {
  const [row] = await db
    .select({
      v: customers.jobsVersion,
      choice: jobHeadChoices.choice,
      // json, not jsonb: the keys keep this order, as jobsOf's objects have them (the tags' version
      // digests the jobs).
      jobs: sql<JobDef[]>`coalesce((select json_agg(json_build_object('key', ${jobs.key},
        'statement', ${jobs.statement}, 'desiredOutcome', ${jobs.desiredOutcome},
        'examples', ${jobs.examples}) order by ${jobs.id}) from ${jobs}
        where ${jobs.customerId} = ${customers.id}), '[]'::json)`,
      reviews: sql<{ unitId: number; action: string; value: unknown; text: string }[]>`coalesce((select
        json_agg(json_build_object('unitId', ${reviews.unitId}, 'action', ${reviews.action},
        'value', ${reviews.value}, 'text', ${units.text}) order by ${reviews.id}) from ${reviews}
        join ${units} on ${units.id} = ${reviews.unitId}
        where ${reviews.customerId} = ${customers.id}), '[]'::json)`,
      fingerprint: stateFingerprint,
    })
    .from(customers)
    .leftJoin(jobHeadChoices, eq(jobHeadChoices.customerId, customers.id))
    .where(eq(customers.id, customerId));
  return {
    jobsVersion: row?.v ?? 0,
    regressions: row?.choice ?? undefined,
    jobs: row?.jobs ?? [],
    examples: examplesOf(row?.reviews ?? []),
    fingerprint: row?.fingerprint,
  };
}

/**
 * Customers whose ClassifyState a process keeps (per database), the most recently used (a state
 * holds the text of every unit people decided on).
 */
const STATES_KEPT = 64;
const keptStates = new WeakMap<Db, Map<number, { fingerprint: string; state: ClassifyState }>>();

/**
 * classifyStateOf as the classify stage reads it batch after batch: kept in this process, and read
 * again only when the customer's fingerprint (a small statement) says its jobs or decisions
 * changed. The regression choice is read every time. The jobs and examples arrays are the same
 * objects while nothing changed, so what is made from them can be kept by identity; callers must
 * not change them. Reading all of a customer's jobs and decisions for every batch took 2.3 ms of
 * the worker's CPU and 1 ms of PostgreSQL's for 77 jobs and no decisions, 11 and 13 ms with 3,000
 * decisions; the fingerprint takes a fraction of that.
 */
export async function classifyStateKept(db: Db, customerId: number): Promise<ClassifyState> {
  let kept = keptStates.get(db);
  if (!kept) keptStates.set(db, (kept = new Map()));
  const had = kept.get(customerId);
  if (had) {
    const [row] = await db
      .select({ fingerprint: stateFingerprint, choice: jobHeadChoices.choice })
      .from(customers)
      .leftJoin(jobHeadChoices, eq(jobHeadChoices.customerId, customers.id))
      .where(eq(customers.id, customerId));
    if (row && row.fingerprint === had.fingerprint) {
      kept.delete(customerId);
      kept.set(customerId, had);
      return { ...had.state, regressions: row.choice ?? undefined };
    }
  }
  const { fingerprint, ...state } = await stateWithFingerprint(db, customerId);
  kept.delete(customerId);
  if (fingerprint !== undefined) {
    kept.set(customerId, { fingerprint, state });
    if (kept.size > STATES_KEPT) kept.delete(kept.keys().next().value!);
  }
  return state;
}

/**
 * The customer's own kind and sentiment heads as the classifier keeps them between processes
 * (customer_heads, one row per customer: the latest key wins).
 */
export function customerHeadsStore(db: Db, customerId: number): HeadsStore {
  return {
    async load(key) {
      const [row] = await db
        .select({ heads: customerHeads.heads })
        .from(customerHeads)
        .where(and(eq(customerHeads.customerId, customerId), eq(customerHeads.key, key)));
      return row ? new Uint8Array(row.heads) : null;
    },
    async save(key, heads) {
      await db
        .insert(customerHeads)
        .values({ customerId, key, heads })
        .onConflictDoUpdate({
          target: customerHeads.customerId,
          set: { key, heads, updatedAt: new Date() },
        });
    },
  };
}

/** Keeps the job head's regression choice a classify batch made for a customer (the last one wins). */
export async function saveRegressionChoice(db: Db, customerId: number, choice: RegressionChoice) {
  await db
    .insert(jobHeadChoices)
    .values({ customerId, choice })
    .onConflictDoUpdate({ target: jobHeadChoices.customerId, set: { choice, updatedAt: new Date() } });
}

/** Tags found current under newer jobs (the jobs changed and changed back): they are up to date. */
export async function markTagsCurrent(db: Db, unitIds: number[], jobsVersion: number) {
  if (unitIds.length === 0) return;
  await db
    .update(classifications)
    .set({ jobsVersion })
    .where(and(anyOf(classifications.unitId, unitIds, 'int'), lt(classifications.jobsVersion, jobsVersion)));
}

/**
 * Live units of these customers still owed tags: `untagged` have none or have tags for other text
 * (pendingUnitIds), `stale` have tags made under older jobs than their customer's (a re-tag owes
 * them). One count, for the wait's poll: no list of ids.
 */
export async function countWaitingUnits(
  db: Db,
  customerIds: number[],
): Promise<{ untagged: number; stale: number }> {
  if (customerIds.length === 0) return { untagged: 0, stale: 0 };
  const [row] = await db
    .select({
      untagged: sql<number>`(count(*) filter (where ${classifications.unitId} is null or ${classifications.contentHash} <> ${units.contentHash}))::int`,
      stale: sql<number>`(count(*) filter (where ${classifications.jobsVersion} < ${customers.jobsVersion}))::int`,
    })
    .from(units)
    .leftJoin(classifications, eq(classifications.unitId, units.id))
    .innerJoin(customers, eq(customers.id, units.customerId))
    .where(and(inArray(units.customerId, customerIds), isNull(units.deletedAt)));
  return row!;
}

/** Every live unit of a customer with its source and its current tags (a person's decision over the machine's). */
export async function unitsWithTags(
  db: Db,
  customerId: number,
  only: { refs?: string[]; itemId?: number; afterId?: number; limit?: number } = {},
) {
  if (only.refs && only.refs.length === 0) return [];
  const query = db
    .select({
      id: units.id,
      ref: units.ref,
      ordinal: units.ordinal,
      speaker: units.speaker,
      text: units.text,
      section: units.section,
      quotes: units.quotes,
      occurredAt: units.occurredAt,
      offsetMs: units.offsetMs,
      itemId: units.itemId,
      sourceType: items.sourceType,
      externalId: items.externalId,
      meta: items.meta,
      classifier: classifications.classifier,
      version: classifications.version,
      job: classifications.job,
      jobConfidence: classifications.jobConfidence,
      kind: classifications.kind,
      kindConfidence: classifications.kindConfidence,
      sentiment: classifications.sentiment,
      sentimentConfidence: classifications.sentimentConfidence,
      classifiedAt: classifications.classifiedAt,
    })
    .from(units)
    .innerJoin(items, eq(items.id, units.itemId))
    .leftJoin(classifications, eq(classifications.unitId, units.id))
    .where(
      and(
        eq(units.customerId, customerId),
        isNull(units.deletedAt),
        isNull(items.deletedAt),
        only.refs ? inArray(units.ref, only.refs) : undefined,
        only.itemId !== undefined ? eq(units.itemId, only.itemId) : undefined,
        only.afterId !== undefined ? gt(units.id, only.afterId) : undefined,
      ),
    )
    .orderBy(...(only.itemId !== undefined ? [asc(units.ordinal), asc(units.id)] : [asc(units.id)]))
    .$dynamic();
  const rows = await (only.limit !== undefined ? query.limit(only.limit) : query);
  // A page's decisions only (a map build reads 10,000 units a page): not the customer's all again.
  const decided = await db
    .select()
    .from(reviews)
    .where(
      and(
        eq(reviews.customerId, customerId),
        only.limit !== undefined && rows.length
          ? inArray(
              reviews.unitId,
              rows.map((r) => r.id),
            )
          : sql`${reviews.unitId} is not null`,
      ),
    )
    .orderBy(asc(reviews.id));
  const decisions = new Map<
    number,
    { job?: string | null; kind?: string; sentiment?: string; who: string }
  >();
  for (const r of decided) {
    const d = decisions.get(r.unitId!) ?? { who: r.who };
    if (r.action === 'set_job') d.job = (r.value as string | null) ?? null;
    if (r.action === 'set_kind') d.kind = r.value as string;
    if (r.action === 'set_sentiment') d.sentiment = r.value as string;
    d.who = r.who;
    decisions.set(r.unitId!, d);
  }
  return rows.map((r) => {
    const d = decisions.get(r.id);
    return {
      ...r,
      job: d && 'job' in d ? (d.job ?? null) : r.job,
      jobConfidence: d && 'job' in d ? 1 : r.jobConfidence,
      kind: d?.kind ?? r.kind,
      kindConfidence: d?.kind ? 1 : r.kindConfidence,
      sentiment: d?.sentiment ?? r.sentiment,
      sentimentConfidence: d?.sentiment ? 1 : r.sentimentConfidence,
      reviewedBy: d?.who ?? null,
    };
  });
}

export type TaggedUnit = Awaited<ReturnType<typeof unitsWithTags>>[number];

export async function latestClassificationAt(db: Db, customerId: number): Promise<Date | null> {
  const [row] = await db
    .select({ at: sql<string | null>`max(${classifications.classifiedAt})` })
    .from(classifications)
    .where(eq(classifications.customerId, customerId));
  return row?.at ? new Date(row.at) : null;
}

/** Units of a customer with tags that a map is built from (neither the unit nor its item deleted). */
export async function countTaggedUnits(db: Db, customerId: number): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(units)
    .innerJoin(items, eq(items.id, units.itemId))
    .innerJoin(classifications, eq(classifications.unitId, units.id))
    .where(and(eq(units.customerId, customerId), isNull(units.deletedAt), isNull(items.deletedAt)));
  return row!.n;
}

export async function getMapState(db: Db, customerId: number) {
  const [row] = await db.select().from(mapState).where(eq(mapState.customerId, customerId));
  return row;
}

export async function mapEntriesOf(db: Db, customerId: number, opts: { refs?: boolean } = {}) {
  const { refs, ...withoutRefs } = getTableColumns(mapEntries);
  const rows = await db
    .select(opts.refs === false ? withoutRefs : { ...withoutRefs, refs })
    .from(mapEntries)
    .where(eq(mapEntries.customerId, customerId))
    .orderBy(asc(mapEntries.job), asc(mapEntries.row), asc(mapEntries.rank));
  return rows.map((r) => ({ refs: [] as string[], ...r }));
}

export async function getMapEntry(db: Db, customerId: number, entryKey: string) {
  const [row] = await db
    .select()
    .from(mapEntries)
    .where(and(eq(mapEntries.customerId, customerId), eq(mapEntries.entryKey, entryKey)));
  return row;
}
