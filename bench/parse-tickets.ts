/**
 * Generates a tickets.jsonl of the given size (default 200 MB, invented text) and parses it with
 * parseTickets, printing tickets per second and peak RSS. Usage:
 *   npx tsx bench/parse-tickets.ts [megabytes] [--export]
 * With --export the same tickets are written as a Zendesk export {"tickets": [...]}.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { parseTickets } from '../ingest/tickets.ts';

const megabytes = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 200);
const asExport = process.argv.includes('--export');

const words =
  'invoice reminder payment client schedule report export crew visit deposit quote overdue batch late card bank'.split(
    ' ',
  );
function sentence(seed: number, length: number): string {
  const out: string[] = [];
  for (let i = 0; i < length; i++) out.push(words[(seed * 7 + i * 13) % words.length] ?? 'x');
  return out.join(' ');
}

async function generate(file: string): Promise<number> {
  const out = createWriteStream(file);
  const target = megabytes * 1024 * 1024;
  let written = 0;
  let n = 0;
  const write = async (s: string) => {
    written += Buffer.byteLength(s);
    if (!out.write(s)) await once(out, 'drain');
  };
  if (asExport) await write('{"tickets": [\n');
  while (written < target) {
    const ticket = {
      id: 100000 + n,
      customer: `customer-${n % 50}`,
      created_at: new Date(Date.UTC(2026, 0, 1) + n * 60_000).toISOString(),
      subject: sentence(n, 6),
      description: `${sentence(n + 1, 60)}.\n\n${sentence(n + 2, 30)}.`,
      tags: [words[n % words.length], words[(n + 3) % words.length]],
      group: n % 2 ? 'Billing' : 'Support',
      comments: [
        {
          author_role: 'agent',
          body: sentence(n + 3, 25),
          created_at: new Date(Date.UTC(2026, 0, 2) + n * 60_000).toISOString(),
        },
      ],
    };
    await write(`${asExport && n > 0 ? ',\n' : ''}${JSON.stringify(ticket)}${asExport ? '' : '\n'}`);
    n++;
  }
  if (asExport) await write('\n]}\n');
  out.end();
  await once(out, 'finish');
  return n;
}

const dir = await mkdtemp(join(tmpdir(), 'gapmap-bench-'));
const file = join(dir, asExport ? 'export.json' : 'tickets.jsonl');
try {
  const generated = await generate(file);
  const size = (await stat(file)).size;
  let peakRss = process.memoryUsage().rss;
  const sample = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const started = process.hrtime.bigint();
  let items = 0;
  let errors = 0;
  for await (const ev of parseTickets(file)) {
    if (ev.type === 'item') items++;
    else errors++;
    if (items % 10_000 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sample);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const mb = (b: number) => (b / 1024 / 1024).toFixed(0);
  console.log(
    `${asExport ? 'Zendesk export' : 'tickets.jsonl'}: ${mb(size)} MB, ${generated} tickets generated, ${items} parsed, ${errors} errors, ` +
      `${seconds.toFixed(1)} s, ${Math.round(items / seconds)} tickets/s, ${(size / 1024 / 1024 / seconds).toFixed(1)} MB/s, peak RSS ${mb(peakRss)} MB`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
