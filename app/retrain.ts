/**
 * After people correct tags (or edit jobs), the customer's heads learn from it on their next use
 * (workers/processors.ts gives each customer's tags a version that includes its corrections and
 * jobs). After a correction this picks the units the new heads could tag differently, so only
 * those are classified again: units whose tags were unsure, and units that say something close to
 * a corrected one. A job added or reworded can move any unit: then all of them are
 * (customers.jobsVersion, read by enqueueClassification).
 */
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { classifications, customers, reviews, units } from '../db/schema/index.ts';
import { cosine, tokens } from '../classifiers/lexical.ts';
import type { Runtime } from '../workers/processors.ts';
import { OWN_HEADS_FROM, type OwnHeadsFrom } from '../classifiers/types.ts';

// Tags less sure than this may flip when the heads move.
const UNSURE = 0.6;
// Word-overlap (TF) cosine above which a unit reads like a corrected one.
const CLOSE = 0.3;

export function termVector(text: string): Map<string, number> {
  const v = new Map<string, number>();
  for (const t of tokens(text)) v.set(t, (v.get(t) ?? 0) + 1);
  const norm = Math.sqrt([...v.values()].reduce((s, w) => s + w * w, 0)) || 1;
  for (const [t, w] of v) v.set(t, w / norm);
  return v;
}

/** Which of a unit's tags the customer's new heads can tag differently. */
export interface Movable {
  job: boolean;
  kind: boolean;
  sentiment: boolean;
}

/**
 * Which tags new decisions can move: kind and sentiment where the customer's own heads learn from
 * them (OWN_HEADS_FROM), the job after a decision naming one or when the kind head learns (its
 * P(other) gates the job).
 */
export function movableAfter(learns: Movable): Movable {
  return { job: learns.job || learns.kind, kind: learns.kind, sentiment: learns.sentiment };
}

/**
 * Whether a unit's tags are likely to change after corrections (term vectors of the corrected
 * units): one of the tags that can move is unsure, or it reads like a corrected unit. `npm run
 * bench:retrain` measures what this catches and what it costs.
 */
export function likelyToChange(
  unit: { text: string; job: number; kind: number; sentiment: number },
  corrected: Map<string, number>[],
  movable: Movable,
): boolean {
  if (!movable.job && !movable.kind && !movable.sentiment) return false;
  const unsure = Math.min(
    movable.job ? unit.job : 1,
    movable.kind ? unit.kind : 1,
    movable.sentiment ? unit.sentiment : 1,
  );
  if (unsure < UNSURE) return true;
  const v = termVector(unit.text);
  return corrected.some((c) => cosine(v, c) >= CLOSE);
}

/**
 * The units the customer's decisions since the last retrain could change, and the newest review
 * id looked at. Decisions the last retrain already compared with are left out: the units near
 * them were classified again then. Comparing every unit with every decision ever made grows with
 * both: 100,000 units (tweets) against 300 decisions took 11.8 s of the server's CPU and sent 31,000
 * units to be classified again after each new decision; against the one new decision, 0.8 s and 69
 * units. No new decision: the heads are as they were, nothing to do.
 */
export async function unitsToReclassify(
  db: Db,
  customerId: number,
  from: OwnHeadsFrom = OWN_HEADS_FROM,
): Promise<{ ids: number[]; through: number | null }> {
  const [customer] = await db
    .select({ through: customers.retrainedThrough })
    .from(customers)
    .where(eq(customers.id, customerId));
  const before = customer?.through ?? 0;
  // Every decision on a unit of the customer, with its text: the new ones (since the last retrain)
  // are compared with the units, all of them say which fields a person decided and how many.
  const decided = await db
    .select({ reviewId: reviews.id, unitId: reviews.unitId, action: reviews.action, text: units.text })
    .from(reviews)
    .innerJoin(units, eq(units.id, reviews.unitId))
    .where(eq(reviews.customerId, customerId));
  const fresh = decided.filter((d) => d.reviewId > before);
  if (fresh.length === 0) return { ids: [], through: customer?.through ?? null };
  const through = Math.max(...fresh.map((d) => d.reviewId));
  const fieldsOf = new Map<number | null, Set<string>>();
  for (const d of decided) {
    if (!fieldsOf.has(d.unitId)) fieldsOf.set(d.unitId, new Set());
    fieldsOf.get(d.unitId)!.add(d.action);
  }
  // The customer's own kind and sentiment heads learn from its decisions once it has enough of
  // them (OWN_HEADS_FROM, as the classifier's headsLessons): below that its units' kind and
  // sentiment cannot change; the decision that reaches the count can change every unit's.
  const unitsDecided = (action: string, upTo = Infinity) =>
    new Set(decided.filter((d) => d.action === action && d.reviewId <= upTo).map((d) => d.unitId)).size;
  const learning = (action: string, from: number) => {
    const now = unitsDecided(action);
    return {
      learns: now >= from && fresh.some((d) => d.action === action),
      reached: now >= from && unitsDecided(action, before) < from,
    };
  };
  const kind = learning('set_kind', from.kind);
  const sentiment = learning('set_sentiment', from.sentiment);
  const corrected = [...new Map(fresh.map((d) => [d.unitId, termVector(d.text)])).values()];
  const rows = await db
    .select({
      id: units.id,
      text: units.text,
      job: classifications.jobConfidence,
      kind: classifications.kindConfidence,
      sentiment: classifications.sentimentConfidence,
    })
    .from(units)
    .innerJoin(classifications, eq(classifications.unitId, units.id))
    .where(and(eq(units.customerId, customerId), isNull(units.deletedAt)));
  // A person's decision on a field stays (the classifier answers it with the decision, and reads
  // overlay it): a unit is worth classifying again for the fields left to the machine that can
  // move (movableAfter). A unit with the words of a new decision takes that decision's fields (the
  // classifier's same-text rule).
  const everyUnit = kind.reached || sentiment.reached;
  const moves = movableAfter({
    kind: kind.learns,
    sentiment: sentiment.learns,
    job: fresh.some((d) => d.action === 'set_job'),
  });
  const freshUnits = new Map(fresh.map((d) => [d.unitId, d.text]));
  const freshTexts = new Set(freshUnits.values());
  const ids = rows
    .filter((r) => {
      const f = fieldsOf.get(r.id);
      const open = (action: string) => !f?.has(action);
      if (freshTexts.has(r.text) && !freshUnits.has(r.id))
        return open('set_job') || open('set_kind') || open('set_sentiment');
      const movable = {
        job: moves.job && open('set_job'),
        kind: moves.kind && open('set_kind'),
        sentiment: moves.sentiment && open('set_sentiment'),
      };
      if (!movable.job && !movable.kind && !movable.sentiment) return false;
      return everyUnit || likelyToChange(r, corrected, movable);
    })
    .map((r) => r.id);
  return { ids, through };
}

/** Enqueues classify jobs for the units a customer's corrections could change. */
export async function enqueueRetrain(
  rt: Pick<Runtime, 'enqueue' | 'config' | 'db'>,
  customerId: number,
): Promise<number> {
  const { ids, through } = await unitsToReclassify(rt.db, customerId);
  for (let i = 0; i < ids.length; i += rt.config.classifyBatch) {
    // With the anchors their imports chose: alone, these few unsure units would teach each other
    // other words than the batches they came in (on our dev bundle 23 of 164 unsure units changed
    // job when classified again on their own, none with the stored anchors).
    await rt.enqueue('classify', {
      unitIds: ids.slice(i, i + rt.config.classifyBatch),
      anchors: 'stored',
    });
  }
  // Only once the jobs are queued: a retrain that fails before this is done again in full.
  if (through !== null)
    await rt.db
      .update(customers)
      .set({ retrainedThrough: through })
      .where(
        and(
          eq(customers.id, customerId),
          or(isNull(customers.retrainedThrough), lt(customers.retrainedThrough, through)),
        ),
      );
  return ids.length;
}
