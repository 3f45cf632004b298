import { integer, jsonb, pgTable, serial, text, timestamp, index } from 'drizzle-orm/pg-core';
import { customers } from './customers.ts';
import { units } from './items.ts';

/**
 * A person's decision. Reviews are only ever added; the latest decision per unit and field wins
 * over any machine tag, and no run of the pipeline writes here.
 */
export const reviews = pgTable(
  'reviews',
  {
    id: serial('id').primaryKey(),
    customerId: integer('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    unitId: integer('unit_id').references(() => units.id, { onDelete: 'cascade' }),
    /** Stable key of a map entry, for decisions about entries (rename, accept, reject, merge). */
    entryKey: text('entry_key'),
    /** 'set_job' | 'set_kind' | 'set_sentiment' | 'accept' | 'reject' | 'rename' | 'merge' | 'split' */
    action: text('action').notNull(),
    value: jsonb('value').$type<unknown>(),
    who: text('who').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('reviews_customer').on(t.customerId), index('reviews_unit').on(t.unitId)],
);
