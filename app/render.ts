/** Terminal renderings of the map and of import runs, for people; `--json` is for programs. */
import type { MapJson } from './map.ts';

const ROW_TITLES: Record<string, string> = {
  touchpoints: 'Key touchpoints',
  high_points: 'Key high points',
  friction: 'Points of friction',
  value_gaps: 'Value gaps',
  internal_processes: 'Internal processes',
  opportunities: 'Key opportunities',
};

export function renderMap(map: MapJson, width = process.stdout.columns || 100): string {
  const out: string[] = [];
  const w = Math.max(60, Math.min(width, 140));
  out.push('═'.repeat(w));
  out.push(`Value Gap Map: ${map.customer.name} (${map.customer.key}), ${map.units} units`);
  out.push('═'.repeat(w));
  for (const col of map.columns) {
    const hasEntries = Object.values(col.cells).some((c) => c.length > 0);
    if (col.job === null && !hasEntries) continue;
    out.push('');
    out.push(col.job ? `JOB ${col.job}: ${col.statement}` : 'NO JOB (units that bear on none of the jobs)');
    if (col.desired_outcome) out.push(`  outcome: ${col.desired_outcome}`);
    out.push('─'.repeat(w));
    for (const row of map.rows) {
      const entries = col.cells[row] ?? [];
      out.push(`  ${ROW_TITLES[row] ?? row}`);
      if (entries.length === 0) {
        out.push(row === 'opportunities' ? '    (none suggested yet)' : '    -');
        continue;
      }
      for (const e of entries) {
        const mix = `−${e.sentiment.negative} ·${e.sentiment.neutral} +${e.sentiment.positive}`;
        out.push(`    • ${truncate(e.label, w - 30)}  ×${e.count}  [${mix}]`);
        if (e.quote && e.quote !== e.label)
          out.push(`        “${truncate(e.quote.replace(/\s+/g, ' '), w - 12)}”`);
        out.push(`        ${truncate(e.refs.join(', '), w - 8)}`);
      }
    }
  }
  return out.join('\n');
}

export function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, Math.max(1, max - 1)) + '…';
}
