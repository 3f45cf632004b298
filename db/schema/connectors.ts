import { integer, jsonb, pgTable, primaryKey, serial, text, timestamp } from 'drizzle-orm/pg-core';
import type { CustomerMapping } from '../../ingest/connectors/http.ts';

export const CONNECTOR_KINDS = ['zendesk', 'intercom', 'folder'] as const;
export type ConnectorKind = (typeof CONNECTOR_KINDS)[number];

/** A help desk (or a watched folder) that tickets are imported from on a schedule. */
export const connectors = pgTable('connectors', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  kind: text('kind').$type<ConnectorKind>().notNull(),
  /** Everything but the secret: base URL, e-mail, start time, folder path, page sizes. */
  config: jsonb('config').$type<Record<string, unknown>>().notNull().default({}),
  /**
   * The API token. Its own column so no listing of `config` can carry it: it only ever goes into a
   * request header, and is never listed, logged or quoted in an error.
   */
  secret: text('secret'),
  mapping: jsonb('mapping').$type<CustomerMapping>().notNull().default({}),
  /** Cron pattern of the nightly run, in `timezone`. */
  schedule: text('schedule').notNull().default('0 2 * * *'),
  timezone: text('timezone').notNull().default('UTC'),
  /** Where the next run starts; saved only after the page it covers is stored. */
  cursor: text('cursor'),
  cursorSavedAt: timestamp('cursor_saved_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Tickets whose organization (or e-mail domain) maps to no customer: kept for a person to map. */
export const connectorUnmapped = pgTable(
  'connector_unmapped',
  {
    connectorId: integer('connector_id')
      .notNull()
      .references(() => connectors.id, { onDelete: 'cascade' }),
    externalId: text('external_id').notNull(),
    /** What a person maps: the organization's name, or `@domain` when the requester has none. */
    organization: text('organization').notNull(),
    /** The parsed item (ingest/types.ts ParsedItem) as JSON: dates are ISO strings here. */
    item: jsonb('item').$type<Record<string, unknown>>().notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.connectorId, t.externalId] })],
);
