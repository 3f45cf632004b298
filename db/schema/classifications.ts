import {
  doublePrecision,
  integer,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  index,
} from 'drizzle-orm/pg-core';
import { customers } from './customers.ts';
import { units } from './items.ts';

/**
 * The machine's current tags for a unit: one row per unit, replaced when the unit is classified
 * again. Writing is an upsert keyed by unit, so a batch done twice (a worker killed after writing,
 * before acknowledging) leaves exactly the same rows.
 */
export const classifications = pgTable(
  'classifications',
  {
    unitId: integer('unit_id')
      .primaryKey()
      .references(() => units.id, { onDelete: 'cascade' }),
    customerId: integer('customer_id').notNull(),
    /** The unit's content hash that was classified. */
    contentHash: text('content_hash').notNull(),
    classifier: text('classifier').notNull(),
    version: text('version').notNull(),
    job: text('job'),
    jobConfidence: real('job_confidence').notNull(),
    kind: text('kind').notNull(),
    kindConfidence: real('kind_confidence').notNull(),
    sentiment: text('sentiment').notNull(),
    sentimentConfidence: real('sentiment_confidence').notNull(),
    classifiedAt: timestamp('classified_at', { withTimezone: true }).notNull().defaultNow(),
    /**
     * The customer's jobsVersion the tags were made under (read before its jobs): a tag older
     * than the customer's jobs is out of date, and `import --wait` waits for its re-tag.
     */
    jobsVersion: integer('jobs_version').notNull().default(0),
  },
  (t) => [index('classifications_customer').on(t.customerId)],
);

/**
 * The job head's anchors (classifiers/index.ts, pickAnchors) a customer's import batches chose,
 * the surest ANCHOR_CAP per job: a retrain, which sends a few unsure units, scores them with these
 * instead of with what those few units alone would teach. One row per anchored unit, with the
 * content hash it was chosen for: a unit removed or edited since is no anchor. Rows, not one
 * array per customer: a batch's merge writes its dozen anchors and reads only its jobs' rows,
 * where rewriting a 77-job customer's 2,464 took 15-18 ms of the worker's CPU per batch.
 */
export const jobAnchors = pgTable(
  'job_anchors',
  {
    customerId: integer('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    unitId: integer('unit_id')
      .notNull()
      .references(() => units.id, { onDelete: 'cascade' }),
    contentHash: text('content_hash').notNull(),
    job: text('job').notNull(),
    confidence: doublePrecision('confidence').notNull(),
  },
  (t) => [primaryKey({ columns: [t.customerId, t.unitId] })],
);
