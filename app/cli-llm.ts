/**
 * The LLM's commands: written suggestions and the decisions on them, the per-customer LLM switch,
 * and sending again the units an outage left waiting.
 *
 *   gapmap suggest --customer KEY [--json]
 *   gapmap suggestions --customer KEY [--status pending|accepted|rejected] [--json]
 *   gapmap suggestion accept|reject <id> [--as NAME]
 *   gapmap customers set KEY --llm on|off
 *   gapmap llm resume [--customer KEY]
 */
import { Argument, Command, Option } from 'commander';
import { GapmapError } from './errors.ts';
import { queueMode, withDb } from './context.ts';
import type { DbHandle } from '../db/client.ts';
import { getCustomerByKey } from '../db/queries.ts';
import { enqueuePendingLlm, setLlmEnabled } from './llm.ts';
import {
  decideSuggestion,
  generateSuggestions,
  listSuggestions,
  suggestionClient,
  suggestionJson,
  type SuggestionRow,
} from './suggestions.ts';
import { loadClassifier } from './classifier.ts';
import type { SuggestionStatus } from '../db/schema/index.ts';

const print = (s: string) => process.stdout.write(s + '\n');

async function customerOf(handle: DbHandle, key: string) {
  const c = await getCustomerByKey(handle.db, key);
  if (!c) throw new GapmapError('not_found', `no customer "${key}" (gapmap customers lists the keys)`);
  return c;
}

function describe(s: SuggestionRow): string {
  const p = s.payload;
  const head = `#${s.id} ${s.status} ${s.kind}${s.job ? ` [${s.job}]` : ''}`;
  switch (s.kind) {
    case 'entry_label':
      return `${head} entry ${s.entryKey}: "${String(p.label)}" (now "${String(p.was)}")`;
    case 'opportunity':
      return `${head}: ${String(p.title)} — ${String(p.description)}`;
    case 'value_promise':
      return `${head}: ${String(p.promise)}`;
    case 'job':
      return `${head}: ${String(p.statement)} / ${String(p.desired_outcome)}`;
  }
}

export function registerLlmCommands(program: Command): void {
  program
    .command('suggest')
    .description(
      "ask the LLM for entry labels, new jobs, key opportunities and value promises for a customer's map; stored as pending for a person to accept",
    )
    .requiredOption('--customer <key>', 'customer key')
    .option('--json', 'the new suggestions as JSON lines')
    .action(async (flags: { customer: string; json?: boolean }) => {
      await withDb(async (handle, config) => {
        const c = await customerOf(handle, flags.customer);
        const result = await generateSuggestions(handle.db, suggestionClient(config), c.id);
        if (flags.json) {
          for (const s of result.created) print(JSON.stringify(suggestionJson(s)));
          return;
        }
        for (const s of result.created) print(describe(s));
        for (const f of result.flagged) print(`  not stored: ${f}`);
        const u = result.usage;
        print(
          `${result.created.length} suggestions pending; ${u.requests} requests, ${u.promptTokens} tokens in, ${u.completionTokens} out, est. $${u.estimatedCostUsd.toFixed(4)}`,
        );
        print('Decide with: gapmap suggestion accept <id> (or reject <id>)');
      });
    });

  program
    .command('suggestions')
    .description("a customer's machine suggestions and their status")
    .requiredOption('--customer <key>', 'customer key')
    .addOption(new Option('--status <status>', 'only these').choices(['pending', 'accepted', 'rejected']))
    .option('--json', 'JSON lines')
    .action(async (flags: { customer: string; status?: SuggestionStatus; json?: boolean }) => {
      await withDb(async (handle) => {
        const c = await customerOf(handle, flags.customer);
        const rows = await listSuggestions(handle.db, c.id, { status: flags.status });
        for (const s of rows) print(flags.json ? JSON.stringify(suggestionJson(s)) : describe(s));
        if (!flags.json && rows.length === 0)
          print(`no suggestions for ${c.key}: gapmap suggest --customer ${c.key}`);
      });
    });

  program
    .command('suggestion')
    .description('accept or reject a machine suggestion (accepted labels and opportunities go into the map)')
    .addArgument(new Argument('<decision>', 'accept or reject').choices(['accept', 'reject']))
    .argument('<id>', 'suggestion id', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0)
        throw new GapmapError('bad_input', `suggestion id: expected a number, got "${v}"`);
      return n;
    })
    .option('--as <name>', 'who decides', process.env.USER ?? 'cli')
    .option('--json', 'the suggestion as JSON')
    .action(async (decision: 'accept' | 'reject', id: number, flags: { as: string; json?: boolean }) => {
      await withDb(async (handle) => {
        const s = await decideSuggestion(
          handle.db,
          id,
          decision === 'accept' ? 'accepted' : 'rejected',
          flags.as,
        );
        print(flags.json ? JSON.stringify(suggestionJson(s)) : describe(s));
      });
    });

  const customers =
    program.commands.find((c) => c.name() === 'customers') ??
    program.command('customers').description('customers and their settings');
  customers
    .command('set')
    .description("change a customer's settings")
    .argument('<key>', 'customer key')
    .addOption(
      new Option('--llm <on|off>', 'off: nothing of this customer is sent to the LLM').choices(['on', 'off']),
    )
    .action(async (key: string, flags: { llm?: 'on' | 'off' }) => {
      if (!flags.llm) throw new GapmapError('bad_input', 'nothing to set: expected --llm on or --llm off');
      await withDb(async (handle) => {
        const c = await customerOf(handle, key);
        await setLlmEnabled(handle.db, c.id, flags.llm === 'on');
        print(`${c.key}: LLM ${flags.llm}`);
      });
    });

  program
    .command('llm')
    .description('the LLM stage')
    .command('resume')
    .description(
      'send again the units an LLM outage or a configuration error left waiting (they have local tags meanwhile)',
    )
    .option('--customer <key>', 'only this customer')
    .action(async (flags: { customer?: string }) => {
      await withDb(async (handle, config) => {
        if (config.llm.mode === 'off')
          throw new GapmapError('config', 'GAPMAP_LLM is off: set it to cascade or all first');
        const only = flags.customer ? [(await customerOf(handle, flags.customer)).id] : undefined;
        if (queueMode(config)) {
          const { createQueueClient } = await import('../workers/queues.ts');
          const queue = await createQueueClient(config);
          try {
            const n = await enqueuePendingLlm({ db: handle.db, config, enqueue: queue.enqueue }, only);
            print(`${n} units queued for the LLM`);
          } finally {
            await queue.close();
          }
          return;
        }
        const { createInProcessRuntime } = await import('../workers/inprocess.ts');
        let classifier: ReturnType<typeof loadClassifier> | undefined;
        const rt = createInProcessRuntime({
          db: handle.db,
          config,
          classifier: () => (classifier ??= loadClassifier(config)),
        });
        const n = await enqueuePendingLlm(rt, only);
        await rt.drain();
        if (classifier) await (await classifier).close?.();
        print(`${n} units sent to the LLM`);
      });
    });
}
