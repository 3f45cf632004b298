import {
  bigint,
  integer,
  jsonb,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
  index,
} from 'drizzle-orm/pg-core';
import { customers } from './customers.ts';

/** A ticket, a survey answer, a transcript or a notes file: the thing a source reference points into. */
export const items = pgTable(
  'items',
  {
    id: serial('id').primaryKey(),
    customerId: integer('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    sourceType: text('source_type').notNull(),
    externalId: text('external_id').notNull(),
    /** Hash of everything parsed from the source for this item: unchanged hash, nothing to do. */
    contentHash: text('content_hash').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }),
    origin: jsonb('origin').$type<{ file: string; line: number | null }>().notNull(),
    meta: jsonb('meta').$type<Record<string, unknown>>().notNull().default({}),
    firstRunId: integer('first_run_id'),
    lastRunId: integer('last_run_id'),
    /** Deleted at the source (a help-desk ticket deleted): kept, but out of the map. */
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('items_source').on(t.sourceType, t.externalId)],
);

export const units = pgTable(
  'units',
  {
    id: serial('id').primaryKey(),
    itemId: integer('item_id')
      .notNull()
      .references(() => items.id, { onDelete: 'cascade' }),
    /**
     * The item's customer, copied here so a customer's units are found without a join. No foreign
     * key: the item's already holds it (and deletes cascade through the item), and a second check
     * per unit costs about 5% of an import.
     */
    customerId: integer('customer_id').notNull(),
    ref: text('ref').notNull(),
    ordinal: integer('ordinal').notNull(),
    speaker: text('speaker'),
    text: text('text').notNull(),
    section: text('section'),
    quotes: jsonb('quotes').$type<string[]>(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }),
    offsetMs: bigint('offset_ms', { mode: 'number' }),
    /** Hash of the text: a classification made for another hash is out of date. */
    contentHash: text('content_hash').notNull(),
    /** A unit that vanished from its source (an edited ticket, a shortened transcript). */
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('units_ref').on(t.ref),
    index('units_customer').on(t.customerId),
    index('units_item').on(t.itemId),
  ],
);
