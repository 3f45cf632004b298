/**
 * Builds a customer's Value Gap Map from the units' current tags: one column per job plus one for
 * units with no job; rows from the units' kinds; in each cell the units are clustered by what they
 * say and the three biggest clusters become the cell's entries. Internal processes come from the
 * help-desk groups and tags of the tickets behind a job's friction and value gaps.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { mapEntries, mapLineage, mapState, reviews, suggestions, MAP_ROWS } from '../db/schema/index.ts';
import type { MapRow, SentimentMix } from '../db/schema/index.ts';
import { customers } from '../db/schema/index.ts';
import { jobsOf, mapEntriesOf, getMapState, unitsWithTags, type TaggedUnit } from '../db/queries.ts';
import { cosine, tokens } from '../classifiers/lexical.ts';
import { hashOf } from './store.ts';

export const ENTRIES_PER_CELL = 3;
// A unit joins an entry when its TF-IDF vector has at least this cosine with the entry's centroid.
// Measured on our demo bundle's own gap labels: at 0.28, 21 pairs of units shared an entry, 10 of
// them evidence of the same planted gap; at 0.18, 57 pairs, 38 of the same gap and 54 of 57
// consistent (same gap or both none); at 0.15 consistency fell to 60 of 68.
const SAME_THING = 0.18;

const ROW_OF_KIND: Record<string, MapRow | undefined> = {
  touchpoint: 'touchpoints',
  high_point: 'high_points',
  friction: 'friction',
  value_gap: 'value_gaps',
};

interface Entry {
  entryKey: string;
  job: string | null;
  row: MapRow;
  label: string;
  count: number;
  sentiment: SentimentMix;
  quote: string;
  quoteRef: string | null;
  refs: string[];
}

export async function buildMap(db: Db, customerId: number): Promise<{ entries: number; units: number }> {
  return db.transaction(async (tx) => {
    // One build of a customer at a time, from reading its tags to writing its map: a build that
    // read before another batch's tags landed must not write its older map over the newer one.
    await tx.execute(sql`select pg_advisory_xact_lock(727274002, ${customerId})`);
    return buildLocked(tx as unknown as Db, customerId);
  });
}

async function buildLocked(db: Db, customerId: number): Promise<{ entries: number; units: number }> {
  // A page at a time, and the clustering below pauses now and then: the build runs in a server
  // process too (embedded mode), whose other requests must not wait seconds for a big customer.
  const all: TaggedUnit[] = [];
  for (let afterId = 0; ;) {
    const page = await unitsWithTags(db, customerId, { afterId, limit: READ_PAGE });
    all.push(...page);
    if (page.length < READ_PAGE) break;
    afterId = page.at(-1)!.id;
    await breathe();
  }
  const tagged = all.filter((u) => u.kind !== null);
  const classifiedThrough = tagged.reduce<Date | null>(
    (max, u) => (u.classifiedAt && (!max || u.classifiedAt > max) ? u.classifiedAt : max),
    null,
  );
  const idf = await inverseFrequencies(tagged.map((u) => u.text));
  const cells = new Map<string, TaggedUnit[]>();
  for (const u of tagged) {
    const row = ROW_OF_KIND[u.kind!];
    if (!row) continue;
    const key = `${u.job ?? ''}\u0000${row}`;
    pushTo(cells, key, u);
  }
  const clustered: Entry[] = [];
  for (const [key, members] of cells) {
    const [job, row] = key.split('\u0000') as [string, MapRow];
    for (const cluster of (await clusterUnits(members, idf)).slice(0, ENTRIES_PER_CELL)) {
      clustered.push(entryOf(customerId, job || null, row, cluster));
    }
  }

  const decisions = await db
    .select()
    .from(reviews)
    .where(and(eq(reviews.customerId, customerId), sql`${reviews.entryKey} is not null`))
    .orderBy(reviews.id);
  const renamed = new Map<string, string>();
  const rejected = new Set<string>();
  for (const d of decisions) {
    if (d.action === 'rename' && typeof d.value === 'string') renamed.set(d.entryKey!, d.value);
    if (d.action === 'reject') rejected.add(d.entryKey!);
    if (d.action === 'accept') rejected.delete(d.entryKey!);
  }

  // Machine suggestions reach the map only once a person accepted them (app/suggestions.ts).
  const suggested = await db
    .select()
    .from(suggestions)
    .where(eq(suggestions.customerId, customerId))
    .orderBy(suggestions.id);
  const accepted = suggested.filter((s) => s.status === 'accepted');
  const acceptedLabels = new Map<string, string>();
  for (const s of accepted) {
    if (s.kind === 'entry_label' && s.entryKey && typeof s.payload.label === 'string')
      acceptedLabels.set(s.entryKey, s.payload.label);
  }
  // Keys something was decided or suggested about: the ones worth following to their evidence.
  const named = new Set(decisions.map((d) => d.entryKey!));
  for (const s of suggested) {
    if (s.entryKey) named.add(s.entryKey);
    const addresses = (s.payload as { addresses?: unknown }).addresses;
    if (Array.isArray(addresses)) for (const k of addresses) named.add(String(k));
  }

  // What the last build's entries held, for the keys worth following (none: nothing to read).
  const previous = named.size
    ? await db
        .select()
        .from(mapLineage)
        .where(and(eq(mapLineage.customerId, customerId), inArray(mapLineage.entryKey, [...named])))
    : [];
  const internal = await internalProcesses(customerId, tagged);
  const keyed = inheritKeys(clustered, previous, rejected, new Set(internal.map((e) => e.entryKey)));
  const entries = [...keyed, ...internal];

  entries.push(...acceptedOpportunities(customerId, accepted, entries, tagged));

  await db
    .delete(mapEntries)
    .where(and(eq(mapEntries.customerId, customerId), eq(mapEntries.origin, 'machine')));
  const rows = entries
    .filter((e) => !rejected.has(e.entryKey))
    .map((e, i) => ({
      customerId,
      entryKey: e.entryKey,
      job: e.job,
      row: e.row,
      rank: i,
      // A person's rename wins over an accepted machine label, whenever either was made.
      label: renamed.get(e.entryKey) ?? acceptedLabels.get(e.entryKey) ?? e.label,
      count: e.count,
      sentiment: e.sentiment,
      quote: e.quote,
      quoteRef: e.quoteRef,
      refs: e.refs,
      origin: 'machine' as const,
    }));
  for (let i = 0; i < rows.length; i += 1000) await db.insert(mapEntries).values(rows.slice(i, i + 1000));
  await db.delete(mapLineage).where(eq(mapLineage.customerId, customerId));
  const kept = keyed.map((e) => ({ customerId, entryKey: e.entryKey, job: e.job, row: e.row, refs: e.refs }));
  for (let i = 0; i < kept.length; i += 1000) await db.insert(mapLineage).values(kept.slice(i, i + 1000));
  const state = { builtAt: new Date(), classifiedThrough, units: tagged.length };
  await db
    .insert(mapState)
    .values({ customerId, ...state })
    .onConflictDoUpdate({ target: mapState.customerId, set: state });
  return { entries: entries.length, units: tagged.length };
}

/**
 * A cluster's key is the key of the last build's entry in the same cell that most of its evidence
 * came from (more than half of its units), so a person's rename or rejection stays with what it
 * was made on when units leave or join. Each key goes to one cluster, the one with the most of its
 * evidence, except a rejected key: every cluster made mostly of a rejected entry's evidence stays
 * rejected (an entry that fell apart does not come back in pieces), while one that new evidence
 * made mostly new shows again. `previous` holds only the entries something was decided or suggested
 * about; every other cluster keeps the key of its founding unit (entryOf), made unique when another
 * took it, so a map with no decisions has the same keys whatever builds came before it.
 */
export function inheritKeys(
  clusters: Entry[],
  previous: { entryKey: string; job: string | null; row: string; refs: string[] }[],
  rejected: ReadonlySet<string>,
  taken: ReadonlySet<string> = new Set(),
): Entry[] {
  const cellOf = (e: { job: string | null; row: string }) => `${e.job ?? ''}\u0000${e.row}`;
  const before = new Map<string, Map<string, Set<string>>>();
  for (const p of previous) {
    const cell = before.get(cellOf(p)) ?? new Map<string, Set<string>>();
    before.set(cellOf(p), cell);
    const refs = cell.get(p.entryKey) ?? new Set<string>();
    cell.set(p.entryKey, refs);
    for (const r of p.refs) refs.add(r);
  }
  const pairs: { i: number; key: string; shared: number }[] = [];
  clusters.forEach((c, i) => {
    for (const [key, refs] of before.get(cellOf(c)) ?? []) {
      const shared = c.refs.filter((r) => refs.has(r)).length;
      if (shared * 2 > c.refs.length) pairs.push({ i, key, shared });
    }
  });
  pairs.sort((a, b) => b.shared - a.shared || a.i - b.i || (a.key < b.key ? -1 : 1));
  const keys = new Map<number, string>();
  const used = new Set(taken);
  for (const { i, key } of pairs) {
    if (keys.has(i) || (used.has(key) && !rejected.has(key))) continue;
    keys.set(i, key);
    used.add(key);
  }
  // A founding unit's key is not one the last build gave another entry: a unit that left a
  // rejected entry for one mostly new would otherwise bring the rejection along.
  for (const p of previous) used.add(p.entryKey);
  return clusters.map((c, i) => {
    let key = keys.get(i);
    if (key === undefined) {
      key = c.entryKey;
      for (let n = 2; used.has(key); n++) key = hashOf(`${c.entryKey}|${n}`).slice(0, 16);
      used.add(key);
    }
    return { ...c, entryKey: key };
  });
}

const READ_PAGE = 10_000;
const STRIDE = 2_000;
/** Lets the event loop answer what is waiting (every STRIDE units of a loop). */
const breathe = () => new Promise<void>((resolve) => setImmediate(resolve));

async function inverseFrequencies(texts: string[]): Promise<Map<string, number>> {
  const df = new Map<string, number>();
  for (let i = 0; i < texts.length; i++) {
    if (i > 0 && i % STRIDE === 0) await breathe();
    for (const w of new Set(tokens(texts[i]!))) df.set(w, (df.get(w) ?? 0) + 1);
  }
  const n = Math.max(1, texts.length);
  return new Map([...df].map(([w, c]) => [w, Math.log((1 + n) / (1 + c)) + 1]));
}

function vectorOf(text: string, idf: Map<string, number>): Map<string, number> {
  const v = new Map<string, number>();
  for (const t of tokens(text)) v.set(t, (v.get(t) ?? 0) + (idf.get(t) ?? 1));
  const norm = Math.sqrt([...v.values()].reduce((s, w) => s + w * w, 0)) || 1;
  for (const [t, w] of v) v.set(t, w / norm);
  return v;
}

/** A cluster's centroid kept as an unnormalized sum of unit vectors and its squared norm. */
interface Cluster {
  units: TaggedUnit[];
  vectors: Map<string, number>[];
  sum: Map<string, number>;
  normSq: number;
}

function similarity(v: Map<string, number>, c: Cluster): number {
  return cosine(v, c.sum) / (Math.sqrt(c.normSq) || 1);
}

function addTo(c: Cluster, u: TaggedUnit, v: Map<string, number>) {
  c.units.push(u);
  c.vectors.push(v);
  for (const [t, w] of v) {
    const old = c.sum.get(t) ?? 0;
    c.sum.set(t, old + w);
    c.normSq += (old + w) * (old + w) - old * old;
  }
}

// Greedy clustering compares each unit with every cluster so far: fine for a few thousand units.
// Past that, the most confident SEED_UNITS found the clusters, and every other unit joins the
// closest of the CANDIDATES biggest ones (or none), so a cell of 100,000 units stays linear.
const SEED_UNITS = 2000;
const CANDIDATES = 30;

/** Most confident units first; each joins the closest cluster centroid or starts one. Biggest first. */
async function clusterUnits(members: TaggedUnit[], idf: Map<string, number>): Promise<Cluster[]> {
  const ordered = [...members].sort(
    (a, b) => (b.kindConfidence ?? 0) - (a.kindConfidence ?? 0) || a.id - b.id,
  );
  const clusters: Cluster[] = [];
  const closest = (v: Map<string, number>, among: Cluster[]) => {
    let best: Cluster | null = null;
    let bestSim = SAME_THING;
    for (const c of among) {
      const sim = similarity(v, c);
      if (sim >= bestSim) {
        best = c;
        bestSim = sim;
      }
    }
    return best;
  };
  for (const u of ordered.slice(0, SEED_UNITS)) {
    const v = vectorOf(u.text, idf);
    const best = closest(v, clusters);
    if (best) addTo(best, u, v);
    else {
      const c: Cluster = { units: [], vectors: [], sum: new Map(), normSq: 0 };
      addTo(c, u, v);
      clusters.push(c);
    }
  }
  if (ordered.length > SEED_UNITS) {
    const candidates = [...clusters].sort((a, b) => b.units.length - a.units.length).slice(0, CANDIDATES);
    const rest = ordered.slice(SEED_UNITS);
    for (let i = 0; i < rest.length; i++) {
      if (i % STRIDE === 0) await breathe();
      const u = rest[i]!;
      const v = vectorOf(u.text, idf);
      const best = closest(v, candidates);
      if (best) addTo(best, u, v);
    }
  }
  return clusters.sort(
    (a, b) =>
      b.units.length - a.units.length ||
      meanConfidence(b.units) - meanConfidence(a.units) ||
      a.units[0]!.id - b.units[0]!.id,
  );
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const meanConfidence = (us: TaggedUnit[]) => us.reduce((s, u) => s + (u.kindConfidence ?? 0), 0) / us.length;

function sentimentMix(us: { sentiment: string | null }[]): SentimentMix {
  const mix = { negative: 0, neutral: 0, positive: 0 };
  for (const u of us) if (u.sentiment && u.sentiment in mix) mix[u.sentiment as keyof SentimentMix]++;
  return mix;
}

function entryOf(customerId: number, job: string | null, row: MapRow, cluster: Cluster): Entry {
  // The representative quote is the unit closest to the cluster's centroid.
  let rep = cluster.units[0]!;
  let bestSim = -1;
  cluster.vectors.forEach((v, i) => {
    const sim = similarity(v, cluster);
    if (sim > bestSim) {
      bestSim = sim;
      rep = cluster.units[i]!;
    }
  });
  const founder = cluster.units.reduce((a, b) => (a.id < b.id ? a : b));
  return {
    entryKey: hashOf(`${customerId}|${job ?? ''}|${row}|${founder.ref}`).slice(0, 16),
    job,
    row,
    label: shortLabel(rep.text),
    count: cluster.units.length,
    sentiment: sentimentMix(cluster.units),
    quote: rep.text,
    quoteRef: rep.ref,
    refs: cluster.units.map((u) => u.ref).sort(),
  };
}

/** The first sentence of the representative quote, cut at a word boundary: a label a person can rename. */
export function shortLabel(text: string, max = 72): string {
  const firstLine = text.split('\n')[0]!.trim();
  const sentence = (firstLine.match(/^.*?[.!?](\s|$)/)?.[0] ?? firstLine).trim();
  if (sentence.length <= max) return sentence;
  const cut = sentence.slice(0, max);
  return cut.slice(0, Math.max(cut.lastIndexOf(' '), 20)).replace(/[,;:]$/, '') + '…';
}

async function internalProcesses(customerId: number, tagged: TaggedUnit[]): Promise<Entry[]> {
  const byJob = new Map<string, TaggedUnit[]>();
  for (const [i, u] of tagged.entries()) {
    if (i > 0 && i % STRIDE === 0) await breathe();
    if (u.sourceType !== 'ticket' || (u.kind !== 'friction' && u.kind !== 'value_gap')) continue;
    pushTo(byJob, u.job ?? '', u);
  }
  const out: Entry[] = [];
  for (const [job, us] of byJob) {
    const groups = new Map<string, TaggedUnit[]>();
    for (const [i, u] of us.entries()) {
      if (i > 0 && i % STRIDE === 0) await breathe();
      const meta = u.meta as { group?: unknown; tags?: unknown };
      const names: string[] = [];
      if (typeof meta.group === 'string' && meta.group) names.push(`Group: ${meta.group}`);
      if (Array.isArray(meta.tags))
        for (const t of meta.tags) if (typeof t === 'string' && t) names.push(`Tag: ${t}`);
      for (const n of names) pushTo(groups, n, u);
    }
    const top = [...groups]
      .sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))
      .slice(0, ENTRIES_PER_CELL);
    for (const [name, members] of top) {
      // The surest unit (the first of equals): a pass, not a sort of every member.
      const rep = members.reduce((a, b) => ((b.kindConfidence ?? 0) > (a.kindConfidence ?? 0) ? b : a));
      out.push({
        entryKey: hashOf(`${customerId}|${job}|internal_processes|${name}`).slice(0, 16),
        job: job || null,
        row: 'internal_processes',
        label: name,
        count: members.length,
        sentiment: sentimentMix(members),
        quote: rep.text,
        quoteRef: rep.ref,
        refs: members.map((u) => u.ref).sort(),
      });
    }
  }
  return out;
}

/**
 * Accepted opportunity suggestions, up to three per job (most evidence first). Their evidence is
 * the units of the frictions and gaps they address: from this build's entries, or the refs saved
 * with the suggestion when an entry has since changed key.
 */
function acceptedOpportunities(
  customerId: number,
  accepted: (typeof suggestions.$inferSelect)[],
  entries: Entry[],
  tagged: TaggedUnit[],
): Entry[] {
  const byKey = new Map(entries.map((e) => [e.entryKey, e]));
  const byRef = new Map(tagged.map((u) => [u.ref, u]));
  const out: Entry[] = [];
  for (const s of accepted) {
    if (s.kind !== 'opportunity') continue;
    const p = s.payload as { title?: unknown; description?: unknown; addresses?: unknown; refs?: unknown };
    const refs = new Set<string>();
    for (const key of Array.isArray(p.addresses) ? p.addresses : [])
      for (const r of byKey.get(String(key))?.refs ?? []) refs.add(r);
    if (refs.size === 0 && Array.isArray(p.refs))
      for (const r of p.refs) if (typeof r === 'string') refs.add(r);
    const live = [...refs].filter((r) => byRef.has(r)).sort();
    out.push({
      entryKey: hashOf(`${customerId}|opportunity|${s.id}`).slice(0, 16),
      job: s.job,
      row: 'opportunities',
      label: String(p.title ?? ''),
      count: live.length,
      sentiment: sentimentMix(live.map((r) => byRef.get(r)!)),
      quote: String(p.description ?? ''),
      quoteRef: null,
      refs: live,
    });
  }
  const perJob = new Map<string, Entry[]>();
  for (const e of out) pushTo(perJob, e.job ?? '', e);
  return [...perJob.values()].flatMap((es) =>
    es.sort((a, b) => b.count - a.count).slice(0, ENTRIES_PER_CELL),
  );
}

/** The stable JSON shape of `gapmap map --json` and the API (documented in the README). */
/**
 * `refs: false` leaves every entry's refs empty and does not read them: the dashboard's map page
 * needs only labels and counts, and a big customer's refs run to megabytes.
 */
export async function mapJson(db: Db, customerId: number, opts: { refs?: boolean } = {}) {
  const [[customer], jobs, entries, state] = await Promise.all([
    db.select().from(customers).where(eq(customers.id, customerId)),
    jobsOf(db, customerId),
    mapEntriesOf(db, customerId, { refs: opts.refs !== false }),
    getMapState(db, customerId),
  ]);
  const column = (job: string | null) => {
    const def = jobs.find((j) => j.key === job);
    const cells = Object.fromEntries(
      MAP_ROWS.map((row) => [
        row,
        entries
          .filter((e) => e.job === job && e.row === row)
          .sort((a, b) => a.rank - b.rank)
          .map((e) => ({
            key: e.entryKey,
            label: e.label,
            count: e.count,
            sentiment: e.sentiment,
            quote: e.quote,
            quote_ref: e.quoteRef,
            refs: e.refs,
            origin: e.origin,
          })),
      ]),
    );
    return { job, statement: def?.statement ?? null, desired_outcome: def?.desiredOutcome ?? null, cells };
  };
  return {
    customer: { key: customer!.key, name: customer!.name },
    built_at: state?.builtAt.toISOString() ?? null,
    units: state?.units ?? 0,
    rows: [...MAP_ROWS],
    columns: [...jobs.map((j) => column(j.key)), column(null)],
  };
}

export type MapJson = Awaited<ReturnType<typeof mapJson>>;
