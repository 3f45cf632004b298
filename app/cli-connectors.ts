/**
 * `gapmap connectors add|list|remove|run|unmapped|map`: help desks (and watched folders) whose
 * tickets are imported every night. The API token is read from an environment variable or stdin,
 * never from the command line (shell history, process lists), and is never printed: `list` shows
 * `***`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from './env.ts';
import { GapmapError } from './errors.ts';
import { queueMode, withDb } from './context.ts';
import { loadClassifier } from './classifier.ts';
import { storeItems } from './store.ts';
import { waitForRun } from './wait.ts';
import { runJson } from './json.ts';
import type { DbHandle } from '../db/client.ts';
import type { Classifier } from '../classifiers/types.ts';
import type { ParsedItem } from '../ingest/types.ts';
import { describeHttpEvent, type CustomerMapping } from '../ingest/connectors/http.ts';
import { CONNECTOR_KINDS, type ConnectorKind } from '../db/schema/index.ts';
import {
  addImportErrors,
  createImportRun,
  customerKeyMap,
  emptyCounts,
  getImportRun,
  listImportRuns,
  updateImportRun,
} from '../db/queries.ts';
import {
  connectorNames,
  connectorSource,
  createConnector,
  deleteUnmapped,
  getConnector,
  lastRuns,
  listConnectors,
  removeConnector,
  setConnectorMapping,
  unmappedByOrganization,
  unmappedOf,
} from '../db/connectors.ts';
import { withConnectorLock } from '../ingest/connectors/run.ts';
import { syncConnector, type SyncResult } from '../ingest/connectors/sync.ts';
import { createInProcessRuntime } from '../workers/inprocess.ts';
import { enqueueClassification, type Runtime } from '../workers/processors.ts';
import { createQueueClient, type QueueClient } from '../workers/queues.ts';
import { syncConnectorSchedules } from '../workers/scheduler.ts';

const print = (s: string) => process.stdout.write(s + '\n');

async function withQueue<T>(config: Config, fn: (queue: QueueClient) => Promise<T>): Promise<T> {
  const queue = await createQueueClient(config);
  try {
    return await fn(queue);
  } finally {
    await queue.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing what a person types.

export interface MappingRule {
  /** 'organization': a help-desk organization's name (or id); 'domain': a requester's e-mail domain. */
  kind: 'organization' | 'domain';
  /** The organization, or the domain without its @. */
  match: string;
  customerKey: string;
}

export function parseMappingRule(text: string): MappingRule {
  const eq = text.lastIndexOf('=');
  const left = eq > 0 ? text.slice(0, eq).trim() : '';
  const customerKey = eq > 0 ? text.slice(eq + 1).trim() : '';
  if (!left || !customerKey) {
    throw new GapmapError(
      'bad_input',
      `--map ${JSON.stringify(text)}: expected "Organization Name=customer-key" or "@domain.com=customer-key"`,
    );
  }
  if (left.startsWith('@')) {
    const domain = left.slice(1).trim().toLowerCase();
    if (!/^[a-z0-9.-]+\.[a-z0-9-]+$/.test(domain))
      throw new GapmapError(
        'bad_input',
        `--map ${JSON.stringify(text)}: "${left}" is not an e-mail domain (expected "@example.com=customer-key")`,
      );
    return { kind: 'domain', match: domain, customerKey };
  }
  return { kind: 'organization', match: left, customerKey };
}

function addRule(mapping: CustomerMapping, rule: MappingRule): CustomerMapping {
  const field = rule.kind === 'domain' ? 'domains' : 'organizations';
  const table = { ...(mapping[field] ?? {}) };
  // One entry per organization, whatever its case: resolveCustomer matches case-insensitively.
  for (const k of Object.keys(table))
    if (k.trim().toLowerCase() === rule.match.trim().toLowerCase()) delete table[k];
  table[rule.match] = rule.customerKey;
  return { ...mapping, [field]: table };
}

/** The label `unmapped` lists a rule's tickets under (ingest/connectors/http.ts resolveCustomer). */
function labelOf(rule: MappingRule): string {
  return rule.kind === 'domain' ? `@${rule.match}` : rule.match;
}

/** `what` names where the keys came from ("--map", "--customer", "the rule"), for the message. */
async function checkCustomers(handle: DbHandle, keys: string[], what = '--map') {
  if (keys.length === 0) return;
  const known = await customerKeyMap(handle.db);
  const missing = [...new Set(keys)].filter((k) => !known.has(k));
  if (missing.length === 0) return;
  const list = [...known.keys()].sort();
  throw new GapmapError(
    'bad_input',
    `${what} names ${missing.map((k) => `"${k}"`).join(', ')}, which ${missing.length === 1 ? 'is not a customer' : 'are not customers'}: expected one of ` +
      (list.length
        ? list.map((k) => `"${k}"`).join(', ')
        : '(no customers yet: import a customers.json first)'),
  );
}

const CRON_FIELD = /^[0-9*?,/\-LW#A-Za-z]+$/;

export function checkSchedule(schedule: string): string {
  const fields = schedule.trim().split(/\s+/);
  if ((fields.length !== 5 && fields.length !== 6) || !fields.every((f) => CRON_FIELD.test(f))) {
    throw new GapmapError(
      'bad_input',
      `--schedule ${JSON.stringify(schedule)}: expected a cron pattern of 5 fields (minute hour day month weekday), such as "0 2 * * *" for 02:00 every night`,
    );
  }
  return fields.join(' ');
}

export function checkTimezone(tz: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    throw new GapmapError(
      'bad_input',
      `--timezone ${JSON.stringify(tz)}: expected an IANA time zone such as "Europe/Oslo" or "UTC"`,
    );
  }
}

function checkName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name))
    throw new GapmapError(
      'bad_input',
      `connector name ${JSON.stringify(name)}: expected letters, digits, ".", "_" or "-" (at most 63), starting with a letter or digit`,
    );
  return name;
}

function checkUrl(flag: string, value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol === 'https:' || u.protocol === 'http:') return u.toString().replace(/\/+$/, '');
  } catch {
    // reported below
  }
  throw new GapmapError(
    'bad_input',
    `${flag} ${JSON.stringify(value)}: expected a URL such as https://yourteam.zendesk.com`,
  );
}

function unixSeconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw new GapmapError(
      'bad_input',
      `${flag} ${JSON.stringify(value)}: expected a date such as 2026-01-01`,
    );
  return Math.floor(t / 1000);
}

async function readSecret(flags: AddFlags): Promise<string> {
  if (flags.tokenEnv && flags.tokenStdin)
    throw new GapmapError('bad_input', 'give the API token one way: --token-env VAR or --token-stdin');
  let secret = '';
  if (flags.tokenEnv) {
    secret = (process.env[flags.tokenEnv] ?? '').trim();
    if (!secret)
      throw new GapmapError(
        'bad_input',
        `--token-env ${flags.tokenEnv}: that environment variable is not set or empty (expected the API token)`,
      );
  } else if (flags.tokenStdin) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    secret = Buffer.concat(chunks).toString('utf8').trim();
    if (!secret)
      throw new GapmapError(
        'bad_input',
        '--token-stdin: nothing was read from stdin (expected the API token)',
      );
  } else {
    throw new GapmapError(
      'bad_input',
      `--kind ${flags.kind} needs the API token: --token-env VAR (the variable holding it) or --token-stdin`,
    );
  }
  return secret;
}

// ---------------------------------------------------------------------------------------------
// The commands.

interface AddFlags {
  kind: string;
  url?: string;
  email?: string;
  tokenEnv?: string;
  tokenStdin?: boolean;
  path?: string;
  customer?: string;
  map: string[];
  schedule: string;
  timezone?: string;
  since?: string;
}

function localTimezone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

async function add(name: string, flags: AddFlags) {
  checkName(name);
  if (!(CONNECTOR_KINDS as readonly string[]).includes(flags.kind))
    throw new GapmapError(
      'bad_input',
      `--kind ${JSON.stringify(flags.kind)}: expected one of ${CONNECTOR_KINDS.join(', ')}`,
    );
  const kind = flags.kind as ConnectorKind;
  const rules = flags.map.map(parseMappingRule);
  const schedule = checkSchedule(flags.schedule);
  const timezone = checkTimezone(flags.timezone ?? localTimezone());
  let config: Record<string, unknown>;
  let secret: string | null = null;
  if (kind === 'zendesk') {
    if (!flags.url)
      throw new GapmapError('bad_input', '--kind zendesk needs --url https://yourteam.zendesk.com');
    if (!flags.email || !flags.email.includes('@'))
      throw new GapmapError(
        'bad_input',
        '--kind zendesk needs --email: the agent e-mail the API token belongs to',
      );
    config = {
      baseUrl: checkUrl('--url', flags.url),
      email: flags.email,
      startTime: unixSeconds('--since', flags.since) ?? 0,
    };
    secret = await readSecret(flags);
  } else if (kind === 'intercom') {
    config = {
      baseUrl: checkUrl('--url', flags.url ?? 'https://api.intercom.io'),
      since: unixSeconds('--since', flags.since) ?? 0,
    };
    secret = await readSecret(flags);
  } else {
    if (!flags.path)
      throw new GapmapError(
        'bad_input',
        '--kind folder needs --path: the folder export files are dropped into',
      );
    // The folder's files are imported as `gapmap import` reads them: each ticket names its customer,
    // or --customer does. Rules by organization or e-mail domain belong to the help-desk kinds.
    if (rules.length)
      throw new GapmapError(
        'bad_input',
        '--map applies to --kind zendesk and intercom: a folder connector imports its files as gapmap import does ' +
          '(each ticket\'s "customer" field, or --customer KEY for files without one)',
      );
    if (flags.since !== undefined)
      throw new GapmapError(
        'bad_input',
        '--since applies to --kind zendesk and intercom: a folder connector imports every file it has not imported yet',
      );
    const dir = path.resolve(flags.path);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
      throw new GapmapError(
        'bad_input',
        `--path ${dir}: not a folder (expected the folder export files are dropped into)`,
      );
    config = { path: dir, ...(flags.customer ? { customer: flags.customer } : {}) };
  }
  let mapping: CustomerMapping = {};
  for (const r of rules) mapping = addRule(mapping, r);

  await withDb(async (handle, cfg) => {
    await checkCustomers(
      handle,
      rules.map((r) => r.customerKey),
    );
    if (flags.customer) await checkCustomers(handle, [flags.customer], '--customer');
    if (await getConnector(handle.db, name))
      throw new GapmapError(
        'conflict',
        `a connector named "${name}" exists already (gapmap connectors remove ${name} first, or pick another name)`,
      );
    await createConnector(handle.db, { name, kind, config, secret, mapping, schedule, timezone });
    if (queueMode(cfg))
      await withQueue(cfg, (q) => syncConnectorSchedules(handle.db, q.queues.connector, cfg));
    print(
      `connector ${name} added (${kind}); runs "${schedule}" in ${timezone}${queueMode(cfg) ? '' : ' once `gapmap worker` runs (or now: gapmap connectors run ' + name + ')'}`,
    );
  });
}

async function list(flags: { json?: boolean }) {
  await withDb(async (handle) => {
    const rows = await listConnectors(handle.db);
    const runs = await lastRuns(
      handle.db,
      rows.map((r) => r.name),
    );
    const out = rows.map((c) => {
      const run = runs.get(c.name);
      return {
        name: c.name,
        kind: c.kind,
        config: c.config,
        secret: c.hasSecret ? '***' : null,
        mapping: { organizations: c.mapping.organizations ?? {}, domains: c.mapping.domains ?? {} },
        schedule: c.schedule,
        timezone: c.timezone,
        cursor_saved_at: c.cursorSavedAt?.toISOString() ?? null,
        created_at: c.createdAt.toISOString(),
        last_run: run
          ? {
              id: run.id,
              status: run.status,
              started_at: run.startedAt.toISOString(),
              finished_at: run.finishedAt?.toISOString() ?? null,
              error: run.error,
            }
          : null,
      };
    });
    if (flags.json) return print(JSON.stringify(out));
    if (out.length === 0)
      return print('no connectors yet: gapmap connectors add NAME --kind zendesk|intercom|folder ...');
    for (const c of out) {
      const where = String(c.config.baseUrl ?? c.config.path ?? '');
      print(
        `${c.name}  ${c.kind}  ${where}  schedule "${c.schedule}" ${c.timezone}  token ${c.secret ?? '(none)'}`,
      );
      const maps = [
        ...Object.entries(c.mapping.organizations).map(([k, v]) => `${k} -> ${v}`),
        ...Object.entries(c.mapping.domains).map(([k, v]) => `@${k} -> ${v}`),
      ];
      if (maps.length) print(`  maps: ${maps.join(', ')}`);
      if (c.last_run)
        print(
          `  last run ${c.last_run.id} ${c.last_run.status} ${c.last_run.started_at}${c.last_run.error ? `: ${c.last_run.error}` : ''}`,
        );
    }
  });
}

async function remove(name: string) {
  await withDb(async (handle, config) => {
    if (!(await removeConnector(handle.db, name))) throw await unknownConnector(handle, name);
    if (queueMode(config))
      await withQueue(config, (q) => syncConnectorSchedules(handle.db, q.queues.connector, config));
    print(`connector ${name} removed (the tickets it imported stay)`);
  });
}

async function unknownConnector(handle: DbHandle, name: string): Promise<GapmapError> {
  const known = await connectorNames(handle.db);
  return new GapmapError(
    'not_found',
    `no connector named "${name}": expected one of ${known.length ? known.map((n) => `"${n}"`).join(', ') : '(none yet: gapmap connectors add)'}`,
  );
}

/** The embedded mode: classify what changed and rebuild those maps in this process. */
async function settleInProcess(handle: DbHandle, config: Config, customerIds: number[]) {
  let classifier: Promise<Classifier> | undefined;
  const rt = createInProcessRuntime({
    db: handle.db,
    config,
    classifier: () => (classifier ??= loadClassifier(config)),
  });
  try {
    await enqueueClassification(rt, customerIds);
    await rt.drain();
  } finally {
    if (classifier) await (await classifier).close?.();
  }
}

function syncJson(r: SyncResult) {
  return {
    run_id: r.runId,
    status: 'done',
    duration_ms: r.durationMs,
    counts: {
      new: r.counts.itemsNew,
      updated: r.counts.itemsUpdated,
      unchanged: r.counts.itemsUnchanged,
      failed: r.counts.errors,
    },
    pages: r.pages,
    deleted: r.deleted,
    unmapped: r.unmapped,
    pending: r.pending,
    customers: r.customerKeys,
    new_value_gaps: r.newValueGaps,
  };
}

async function run(name: string, flags: { wait?: boolean; json?: boolean }) {
  await withDb(async (handle, config) => {
    if (!(await getConnector(handle.db, name))) throw await unknownConnector(handle, name);
    if (queueMode(config)) {
      const runRow = await createImportRun(handle.db, {
        source: connectorSource(name),
        kind: 'connector',
        status: 'queued',
      });
      await withQueue(config, (q) => q.enqueue('connector', { name, runId: runRow.id }));
      if (!flags.wait) {
        if (flags.json) print(JSON.stringify({ run_id: runRow.id, status: 'queued' }));
        else
          print(
            `connector ${name}: import run ${runRow.id} queued; \`gapmap imports\` shows its progress (or pass --wait)`,
          );
        return;
      }
      const done = await waitForRun(handle.db, runRow.id, { progress: !flags.json });
      const durationMs = done.finishedAt ? done.finishedAt.getTime() - done.startedAt.getTime() : null;
      if (flags.json) return print(JSON.stringify(runJson(done)));
      const c = done.counts;
      print(
        `connector ${name}: import run ${done.id} ${done.status} in ${((durationMs ?? 0) / 1000).toFixed(1)} s: ${c.itemsNew} new, ${c.itemsUpdated} updated, ${c.itemsUnchanged} unchanged, ${c.errors} failed`,
      );
      return;
    }
    const r = await syncConnector(
      {
        db: handle.db,
        pool: handle.pool,
        webhookUrl: config.webhookUrl,
        // The help desk's retries, as they happen: a run can wait out an outage for minutes.
        runtime: { log: (e) => console.error(`gapmap: connector ${name}: ${describeHttpEvent(e)}`) },
        settle: (res) => settleInProcess(handle, config, res.touchedCustomers),
      },
      name,
    );
    if (flags.json) return print(JSON.stringify(syncJson(r)));
    const c = r.counts;
    print(
      `connector ${name}: import run ${r.runId} done in ${(r.durationMs / 1000).toFixed(1)} s: ${c.itemsNew} new, ${c.itemsUpdated} updated, ${c.itemsUnchanged} unchanged, ${c.errors} failed` +
        `${r.deleted ? `; ${r.deleted} deleted at the source` : ''}`,
    );
    if (r.unmapped)
      print(`  ${r.unmapped} tickets of unmapped organizations kept: gapmap connectors unmapped ${name}`);
    if (r.pending.length)
      print(
        `  ${r.pending.length} file${r.pending.length === 1 ? '' : 's'} changed in the last seconds, maybe still being written, left for the next run: ${r.pending.join(', ')}`,
      );
    for (const g of r.newValueGaps)
      print(`  new value gaps for ${g.customer}: ${g.entries.map((e) => `"${e.label}"`).join(', ')}`);
  });
}

async function unmapped(name: string, flags: { json?: boolean }) {
  await withDb(async (handle) => {
    const c = await getConnector(handle.db, name);
    if (!c) throw await unknownConnector(handle, name);
    const groups = await unmappedByOrganization(handle.db, c.id);
    const out = [];
    for (const g of groups) {
      const tickets = await unmappedOf(handle.db, c.id, g.organization);
      out.push({
        organization: g.organization,
        tickets: g.tickets,
        last_seen: g.lastSeen.toISOString(),
        mapped_to_missing_customer: [
          ...new Set(
            tickets
              .map((t) => (t.item.meta as Record<string, unknown> | undefined)?.mappedTo)
              .filter((v): v is string => typeof v === 'string'),
          ),
        ],
        items: tickets.map((t) => ({
          external_id: t.externalId,
          subject: String((t.item.meta as Record<string, unknown> | undefined)?.subject ?? ''),
        })),
      });
    }
    if (flags.json) return print(JSON.stringify(out));
    if (out.length === 0) return print(`connector ${name}: no tickets waiting for a mapping`);
    for (const g of out) {
      const missing = g.mapped_to_missing_customer.length
        ? ` (mapped to ${g.mapped_to_missing_customer.map((k) => `"${k}"`).join(', ')}, which is not a customer)`
        : '';
      print(`${g.organization}  ${g.tickets} ticket${g.tickets === 1 ? '' : 's'}${missing}`);
      for (const t of g.items.slice(0, 3)) print(`  ${t.external_id}  ${t.subject}`);
      if (g.items.length > 3) print(`  ... and ${g.items.length - 3} more`);
    }
    print(`map one with: gapmap connectors map ${name} "${out[0]!.organization}=customer-key"`);
  });
}

/** A kept ticket as the run would have stored it had the mapping existed (dates revived from JSON). */
export function reviveUnmapped(json: Record<string, unknown>, customerKey: string): ParsedItem {
  const item = json as unknown as ParsedItem & { occurredAt: string | null };
  const date = (v: unknown) => (typeof v === 'string' ? new Date(v) : null);
  const meta = { ...item.meta };
  delete meta.unmappedOrganization;
  delete meta.mappedTo;
  return {
    ...item,
    customerKey,
    occurredAt: date(item.occurredAt),
    meta,
    units: item.units.map((u) => ({ ...u, occurredAt: date(u.occurredAt) })),
  };
}

async function map(name: string, ruleText: string, flags: { json?: boolean }) {
  const rule = parseMappingRule(ruleText);
  await withDb(async (handle, config) => {
    const c = await getConnector(handle.db, name);
    if (!c) throw await unknownConnector(handle, name);
    await checkCustomers(handle, [rule.customerKey], `the rule "${ruleText}"`);
    const label = labelOf(rule);
    const res = await withConnectorLock({ pool: handle.pool }, name, async () => {
      await setConnectorMapping(handle.db, c.id, addRule(c.mapping, rule));
      const waiting = await unmappedOf(handle.db, c.id, label);
      if (waiting.length === 0) return null;
      const run = await createImportRun(handle.db, {
        source: `${connectorSource(name)} map ${label}`,
        kind: 'connector',
      });
      const counts = emptyCounts();
      const customers = await customerKeyMap(handle.db);
      const stored = await storeItems(handle.db, {
        runId: run.id,
        customers,
        items: waiting.map((w) => reviveUnmapped(w.item, rule.customerKey)),
        counts,
      });
      await addImportErrors(handle.db, run.id, stored.errors);
      counts.errors += stored.errors.length;
      await deleteUnmapped(
        handle.db,
        c.id,
        waiting.map((w) => w.externalId),
      );
      await updateImportRun(handle.db, run.id, {
        status: 'done',
        counts,
        customerKeys: [rule.customerKey],
        finishedAt: new Date(),
      });
      return { runId: run.id, touched: [...stored.touchedCustomers], tickets: waiting.length };
    });
    if (res) {
      if (queueMode(config)) {
        await withQueue(config, async (q) => {
          const rt: Runtime = {
            db: handle.db,
            config,
            classifier: () => Promise.reject(new Error('classification runs in the workers')),
            enqueue: (n, p) => q.enqueue(n, p),
            queued: true,
          };
          await enqueueClassification(rt, res.touched);
        });
      } else {
        await settleInProcess(handle, config, res.touched);
      }
    }
    const run = res ? await getImportRun(handle.db, res.runId) : undefined;
    if (flags.json) {
      const [row] = run
        ? (await listImportRuns(handle.db, { limit: 50 })).filter((r) => r.id === run.id)
        : [];
      return print(
        JSON.stringify({
          organization: label,
          customer: rule.customerKey,
          imported: res?.tickets ?? 0,
          run: row ? runJson(row) : null,
        }),
      );
    }
    print(
      `connector ${name}: "${label}" now maps to ${rule.customerKey}` +
        (res
          ? `; ${res.tickets} waiting ticket${res.tickets === 1 ? '' : 's'} imported (import run ${res.runId})`
          : '; no tickets of it were waiting'),
    );
  });
}

export function registerConnectorCommands(program: Command) {
  const connectors = program
    .command('connectors')
    .description('help desks and export folders imported every night: add, list, remove, run, unmapped, map');

  connectors
    .command('add')
    .description('add a connector (Zendesk, Intercom, or a folder export files are dropped into)')
    .argument('<name>', 'a short name for it')
    .requiredOption('--kind <kind>', `one of ${CONNECTOR_KINDS.join(', ')}`)
    .option(
      '--url <url>',
      'Zendesk: https://yourteam.zendesk.com; Intercom: the API region (default https://api.intercom.io)',
    )
    .option('--email <email>', 'Zendesk: the agent e-mail the API token belongs to')
    .option('--token-env <var>', 'the environment variable holding the API token')
    .option('--token-stdin', 'read the API token from stdin')
    .option('--path <folder>', 'folder: where export files are dropped')
    .option('--customer <key>', 'folder: customer of files that do not name one')
    .option(
      '--map <rule>',
      'organization or e-mail domain to customer: "Org Name=customer-key" or "@domain.com=customer-key" (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--schedule <cron>', 'when it runs, as a cron pattern', '0 2 * * *')
    .option('--timezone <tz>', "the time zone of the schedule (default: this machine's)")
    .option('--since <date>', 'import tickets updated since this date (default: all)')
    .action(add);

  connectors
    .command('list')
    .description('list connectors (tokens shown as ***)')
    .option('--json', 'JSON array')
    .action(list);

  connectors
    .command('remove')
    .description('remove a connector and its schedule; what it imported stays')
    .argument('<name>')
    .action(remove);

  connectors
    .command('run')
    .description('run a connector now (with queues: enqueue its run)')
    .argument('<name>')
    .option('--wait', 'with queues: return once the run is done and its units are classified')
    .option('--json', 'the run as JSON')
    .action(run);

  connectors
    .command('unmapped')
    .description(
      'tickets kept because their organization or e-mail domain maps to no customer, by organization',
    )
    .argument('<name>')
    .option('--json', 'JSON array')
    .action(unmapped);

  connectors
    .command('map')
    .description('map an organization (or @domain) to a customer and import its waiting tickets')
    .argument('<name>')
    .argument('<rule>', '"Org Name=customer-key" or "@domain.com=customer-key"')
    .option('--json', 'the result as JSON')
    .action(map);
}
