import {
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  serial,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { customers } from './customers.ts';
import { importRuns } from './imports.ts';
import { units } from './items.ts';

/** Per-customer switches a person sets; a customer without a row has the defaults. */
export const customerSettings = pgTable('customer_settings', {
  customerId: integer('customer_id')
    .primaryKey()
    .references(() => customers.id, { onDelete: 'cascade' }),
  /** False: no text of this customer is ever sent to an LLM endpoint (local tags only, no suggestions). */
  llmEnabled: boolean('llm_enabled').notNull().default(true),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const LLM_STATES = ['pending', 'done', 'flagged'] as const;
export type LlmState = (typeof LLM_STATES)[number];

/**
 * The LLM stage's work list: one row per unit the cascade routed to the LLM. The unit keeps its
 * local tags in `classifications` until the LLM answers, so an outage never leaves a unit
 * untagged; 'pending' rows are what is still owed to the endpoint and are sent again after an
 * outage. 'flagged' means no valid answer came twice: the local tags stay and `flag` says why.
 */
export const unitLlm = pgTable(
  'unit_llm',
  {
    unitId: integer('unit_id')
      .primaryKey()
      .references(() => units.id, { onDelete: 'cascade' }),
    customerId: integer('customer_id').notNull(),
    /** The text hash the row is about: a row for another hash is out of date and skipped. */
    contentHash: text('content_hash').notNull(),
    status: text('status').$type<LlmState>().notNull(),
    flag: text('flag'),
    /** The evidence span the LLM quoted (restored: readable, an exact substring of the unit). */
    span: text('span'),
    /** The import run that brought the unit, for the cost shown per run. */
    runId: integer('run_id'),
    /** The last reason a send failed (endpoint away); cleared when the unit is answered. */
    lastError: text('last_error'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // Pending rows are looked up per customer after every import and every outage.
  (t) => [index('unit_llm_customer_status').on(t.customerId, t.status), index('unit_llm_run').on(t.runId)],
);

/** Token use of LLM requests, appended per job (a retried job's requests were billed too). */
export const llmUsage = pgTable(
  'llm_usage',
  {
    id: serial('id').primaryKey(),
    /** Null for work that belongs to no import run (suggestions). */
    runId: integer('run_id').references(() => importRuns.id, { onDelete: 'set null' }),
    customerId: integer('customer_id').references(() => customers.id, { onDelete: 'cascade' }),
    task: text('task').$type<'classify' | 'suggest'>().notNull(),
    model: text('model').notNull(),
    requests: integer('requests').notNull(),
    promptTokens: integer('prompt_tokens').notNull(),
    completionTokens: integer('completion_tokens').notNull(),
    estimatedCostUsd: doublePrecision('estimated_cost_usd').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('llm_usage_run').on(t.runId)],
);

export const SUGGESTION_KINDS = ['entry_label', 'job', 'opportunity', 'value_promise'] as const;
export type SuggestionKind = (typeof SUGGESTION_KINDS)[number];
export type SuggestionStatus = 'pending' | 'accepted' | 'rejected';

/**
 * Machine suggestions awaiting a person. Only accepted ones reach the map; a new `gapmap suggest`
 * replaces the pending ones of its customer and never touches decided ones.
 */
export const suggestions = pgTable(
  'suggestions',
  {
    id: serial('id').primaryKey(),
    customerId: integer('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<SuggestionKind>().notNull(),
    /** Job key it is about (opportunities, value promises); null for entry labels and new jobs. */
    job: text('job'),
    /** Map entry key for entry labels. */
    entryKey: text('entry_key'),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    status: text('status').$type<SuggestionStatus>().notNull().default('pending'),
    model: text('model'),
    decidedBy: text('decided_by'),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('suggestions_customer_status').on(t.customerId, t.status)],
);
