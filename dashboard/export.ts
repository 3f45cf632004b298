/** A customer's map as Markdown (to paste into a doc), CSV (one row per unit with its tags) and JSON. */
import type { MapJson } from '../app/map.ts';
import type { TaggedUnit } from '../db/queries.ts';
import type { MapRow } from '../db/schema/index.ts';
import { ROW_TITLES } from './pages.ts';

/**
 * Content-Disposition for a download named `name` (RFC 6266): `filename` an ASCII stand-in (a header
 * holds bytes, and a quote or backslash would end or escape the quoted name), `filename*` the exact
 * name in UTF-8 (RFC 5987), which browsers prefer.
 */
export function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const exact = encodeURIComponent(name).replace(
    /['()*]/g,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${exact}`;
}

const mdText = (s: string) =>
  s
    .replace(/\s+/g, ' ')
    .replace(/([\\`*_[\]<>|#])/g, '\\$1')
    .trim();

export function mapMarkdown(map: MapJson): string {
  const out: string[] = [`# ${mdText(map.customer.name)}: Value Gap Map`, ''];
  out.push(`Built ${map.built_at ?? 'never'} from ${map.units} units.`, '');
  for (const col of map.columns) {
    const cells = col.cells as Record<string, MapJson['columns'][number]['cells'][MapRow]>;
    if (col.job === null && Object.values(cells).every((es) => es.length === 0)) continue;
    out.push(`## ${col.job === null ? 'No job' : mdText(col.statement ?? col.job)}`, '');
    if (col.desired_outcome) out.push(`Desired outcome: ${mdText(col.desired_outcome)}`, '');
    for (const row of map.rows) {
      const entries = cells[row] ?? [];
      out.push(`### ${ROW_TITLES[row as MapRow] ?? row}`, '');
      if (entries.length === 0) out.push('- (none)');
      for (const e of entries) {
        const s = e.sentiment;
        out.push(
          `- **${mdText(e.label)}** (${e.count}; ${s.negative} negative, ${s.neutral} neutral, ${s.positive} positive)`,
        );
        out.push(`  > ${mdText(e.quote)}${e.quote_ref ? ` (${mdText(e.quote_ref)})` : ''}`);
      }
      out.push('');
    }
  }
  return out.join('\n');
}

/** A cell starting with = + - @ would be a formula in a spreadsheet: quote it as text. */
function csvCell(v: unknown): string {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_COLUMNS = [
  'ref',
  'source_type',
  'source_id',
  'speaker',
  'occurred_at',
  'offset_ms',
  'job',
  'job_confidence',
  'kind',
  'kind_confidence',
  'sentiment',
  'sentiment_confidence',
  'reviewed_by',
  'entries',
  'text',
] as const;

export function unitsCsv(units: TaggedUnit[], entryOf: Map<string, string[]>): string {
  const lines = [CSV_COLUMNS.join(',')];
  const r = (x: number | null) => (x === null ? '' : (Math.round(x * 1000) / 1000).toString());
  for (const u of units) {
    lines.push(
      [
        u.ref,
        u.sourceType,
        u.externalId,
        u.speaker,
        u.occurredAt?.toISOString(),
        u.offsetMs,
        u.job,
        r(u.jobConfidence),
        u.kind,
        r(u.kindConfidence),
        u.sentiment,
        r(u.sentimentConfidence),
        u.reviewedBy,
        (entryOf.get(u.ref) ?? []).join(' '),
        u.text,
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return lines.join('\r\n') + '\r\n';
}
