import {
  customType,
  integer,
  jsonb,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/** Bytes: node-postgres reads a Buffer, PGlite a Uint8Array (a Buffer is one too). */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
});

export const customers = pgTable('customers', {
  id: serial('id').primaryKey(),
  key: text('key').notNull().unique(),
  name: text('name').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  /**
   * Bumped whenever its jobs change (an import's customers.json, a person on the jobs page). A job
   * can move any unit, so while it is ahead of retaggedJobsVersion the next enqueueClassification
   * sends every unit of the customer again, and only then moves retaggedJobsVersion up to it: a
   * run that fails before that is done again by the next one.
   */
  jobsVersion: integer('jobs_version').notNull().default(0),
  retaggedJobsVersion: integer('retagged_jobs_version').notNull().default(0),
  /**
   * The newest review (id) whose unit a retrain has already compared the customer's units with:
   * the next retrain looks only at decisions after it (app/retrain.ts).
   */
  retrainedThrough: integer('retrained_through'),
  /**
   * Bumped by triggers (migration 0013) whenever people's decisions on its units change: reviews
   * of a unit added or removed (a unit or the customer deleted), or a decided unit's text edited by
   * a re-import. The classify stage's kept state (db/queries.ts, classifyStateKept) compares it
   * instead of joining every decided unit for every batch.
   */
  decisionsVersion: integer('decisions_version').notNull().default(0),
});

/**
 * The job head's choice for a customer between similarity alone and similarity plus regressions
 * (classifiers/types.ts, RegressionChoice): a cross-validation of several seconds for a customer
 * with many jobs, made once and kept here, so a restarted worker does not make it again.
 */
export const jobHeadChoices = pgTable('customer_job_head', {
  customerId: integer('customer_id')
    .primaryKey()
    .references(() => customers.id, { onDelete: 'cascade' }),
  choice: jsonb('choice').$type<{ key: string; texts: number; help: boolean }>().notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * A customer's own kind and sentiment heads, trained with its corrections (classifiers/index.ts,
 * encodeCustomerHeads, about 2.5 MB): training them takes 3-4 s, which every worker process would
 * otherwise spend again for every customer with corrections. `key` names the classifier version and
 * the corrections they were trained with; one row per customer, the latest.
 */
export const customerHeads = pgTable('customer_heads', {
  customerId: integer('customer_id')
    .primaryKey()
    .references(() => customers.id, { onDelete: 'cascade' }),
  key: text('key').notNull(),
  heads: bytea('heads').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const jobs = pgTable(
  'jobs',
  {
    id: serial('id').primaryKey(),
    customerId: integer('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    statement: text('statement').notNull(),
    desiredOutcome: text('desired_outcome').notNull().default(''),
    examples: jsonb('examples').$type<string[]>().notNull().default([]),
    /** 'import' for jobs from customers.json; 'person' for jobs a person added or edited, which imports never overwrite. */
    origin: text('origin').$type<'import' | 'person'>().notNull().default('import'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('jobs_customer_key').on(t.customerId, t.key)],
);
