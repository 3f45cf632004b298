import { integer, jsonb, pgTable, serial, text, timestamp, index } from 'drizzle-orm/pg-core';
import { customers } from './customers.ts';

export const MAP_ROWS = [
  'touchpoints',
  'high_points',
  'friction',
  'value_gaps',
  'internal_processes',
  'opportunities',
] as const;
export type MapRow = (typeof MAP_ROWS)[number];

export interface SentimentMix {
  negative: number;
  neutral: number;
  positive: number;
}

/** One entry of a customer's Value Gap Map: a cluster of units that say the same thing. */
export const mapEntries = pgTable(
  'map_entries',
  {
    id: serial('id').primaryKey(),
    customerId: integer('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    /** Stable across runs: the key of the last build's entry most of its evidence came from (map_lineage), else derived from its founding unit; decisions about it stick. */
    entryKey: text('entry_key').notNull(),
    /** Job key, or null for the column of units with no job. */
    job: text('job'),
    row: text('row').$type<MapRow>().notNull(),
    rank: integer('rank').notNull(),
    label: text('label').notNull(),
    count: integer('count').notNull(),
    sentiment: jsonb('sentiment').$type<SentimentMix>().notNull(),
    quote: text('quote').notNull(),
    quoteRef: text('quote_ref'),
    refs: jsonb('refs').$type<string[]>().notNull(),
    /** 'machine' entries are rebuilt by every aggregation; 'person' entries are never touched by it. */
    origin: text('origin').$type<'machine' | 'person'>().notNull().default('machine'),
    computedAt: timestamp('computed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('map_entries_customer').on(t.customerId)],
);

/** When each customer's map was last built, and from which classifications. */
export const mapState = pgTable('map_state', {
  customerId: integer('customer_id')
    .primaryKey()
    .references(() => customers.id, { onDelete: 'cascade' }),
  builtAt: timestamp('built_at', { withTimezone: true }).notNull(),
  /** Latest classification time the build saw: --wait compares it with the newest classification. */
  classifiedThrough: timestamp('classified_through', { withTimezone: true }),
  units: integer('units').notNull(),
});

/**
 * What each machine entry of a customer's last build held, hidden (rejected) ones included: the
 * next build gives a cluster the key of the entry most of its evidence came from, so a rename or a
 * rejection stays with the evidence it was made on when a unit leaves or joins (app/map.ts).
 * Rebuilt with the map; several rows share a key when a rejected entry fell apart into pieces.
 */
export const mapLineage = pgTable(
  'map_lineage',
  {
    id: serial('id').primaryKey(),
    customerId: integer('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    entryKey: text('entry_key').notNull(),
    job: text('job'),
    row: text('row').$type<MapRow>().notNull(),
    refs: jsonb('refs').$type<string[]>().notNull(),
  },
  (t) => [index('map_lineage_customer').on(t.customerId)],
);
