import { integer, jsonb, pgTable, serial, text, timestamp, index } from 'drizzle-orm/pg-core';

export interface ImportCounts {
  itemsNew: number;
  itemsUpdated: number;
  itemsUnchanged: number;
  unitsNew: number;
  unitsUpdated: number;
  unitsUnchanged: number;
  unitsRemoved: number;
  errors: number;
}

export const importRuns = pgTable('import_runs', {
  id: serial('id').primaryKey(),
  /** What was imported: a path, or a connector name. */
  source: text('source').notNull(),
  /** 'file' | 'bundle' | 'upload' | 'connector' */
  kind: text('kind').notNull(),
  status: text('status').$type<'queued' | 'running' | 'done' | 'failed'>().notNull().default('queued'),
  counts: jsonb('counts').$type<ImportCounts>().notNull(),
  /** Customers whose units this run added, changed or removed, so --wait knows whose maps to wait for. */
  customerKeys: jsonb('customer_keys').$type<string[]>().notNull().default([]),
  error: text('error'),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
});

export const importErrors = pgTable(
  'import_errors',
  {
    id: serial('id').primaryKey(),
    runId: integer('run_id')
      .notNull()
      .references(() => importRuns.id, { onDelete: 'cascade' }),
    file: text('file').notNull(),
    line: integer('line'),
    field: text('field'),
    message: text('message').notNull(),
  },
  (t) => [index('import_errors_run').on(t.runId)],
);
