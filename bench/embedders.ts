/**
 * node bin/run-ts.js bench/embedders.ts [--texts N] [--reps N] [--sweep]
 * Texts per second of the bundled USE-lite embedder on TensorFlow.js wasm (as configured today: its
 * worker threads) and on onnxruntime-node (the ONNX conversion, classifiers/embed-use-onnx.ts, with
 * its default settings), on the same synthetic feedback texts in the same run. Each embedder runs
 * in its own child process, one after the other, so its peak RSS (max RSS of the process, worker
 * threads included) is its own. Every pass embeds all texts once in one call and once in calls of
 * 256 (as the classify stage calls it); texts/s is the median over passes of each kind.
 * --sweep adds other ONNX session settings (in-process vs worker sessions, threads, batch sizes).
 *
 * Wall-clock rates depend on what else runs on the machine, so each run also reports CPU time per
 * text (all threads of the process) and the rate it implies on idle cores, and how much CPU the
 * rest of the machine used while it ran.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { feedbackTexts } from './feedback-texts.ts';
import type { Embedder } from '../classifiers/embedders.ts';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const count = Number(arg('--texts') ?? 0) || 2000;
const reps = Number(arg('--reps') ?? 0) || 3;
/** GAPMAP_CLASSIFY_BATCH's default: the classify stage embeds this many units per call. */
const CALL = 256;

interface Setting {
  label: string;
  kind: 'tfjs' | 'onnx';
  workers?: number;
  intraOpThreads?: number;
  spinning?: boolean;
  tokenBudget?: number;
}
interface Result {
  label: string;
  startupMs: number;
  /** texts/s of every pass with all texts in one call. */
  rates: number[];
  /** texts/s of every pass in calls of CALL texts. */
  callRates: number[];
  cpuMsPerText: number;
  /** Share of a core the rest of the machine used during the timed passes. */
  othersCores: number;
  maxRssMb: number;
  /** Every 20th vector, to compare the embedders' outputs. */
  vectors: number[][];
}

/** Busy and total CPU time of the whole machine so far, in clock ticks. */
function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - (f[4] ?? 0), total };
}

async function child(setting: Setting): Promise<void> {
  const texts = feedbackTexts(count);
  const t0 = performance.now();
  let embedder: Embedder;
  if (setting.kind === 'tfjs') {
    const { createBundledEmbedder } = await import('../classifiers/embed-bundled.ts');
    embedder = await createBundledEmbedder();
  } else {
    const { UseOnnxEmbedder } = await import('../classifiers/embed-use-onnx.ts');
    const onnx = await UseOnnxEmbedder.create(setting);
    if (!setting.label) setting.label = `ONNX (${onnx.settings})`;
    embedder = onnx;
  }
  const startupMs = performance.now() - t0;
  await embedder.embed(feedbackTexts(50, 7));
  const rates: number[] = [];
  const callRates: number[] = [];
  let vectors: Float32Array[] = [];
  const cpu = process.cpuUsage();
  const machine = machineCpu();
  const t1 = performance.now();
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    vectors = await embedder.embed(texts);
    rates.push((texts.length * 1000) / (performance.now() - t));
    t = performance.now();
    for (let i = 0; i < texts.length; i += CALL) await embedder.embed(texts.slice(i, i + CALL));
    callRates.push((texts.length * 1000) / (performance.now() - t));
  }
  const wallMs = performance.now() - t1;
  const used = process.cpuUsage(cpu);
  const ownMs = (used.user + used.system) / 1000;
  const now = machineCpu();
  // /proc/stat counts in ticks of 10 ms.
  const machineBusyMs = (now.busy - machine.busy) * 10;
  await embedder.close?.();
  const result: Result = {
    label: setting.label,
    startupMs,
    rates,
    callRates,
    cpuMsPerText: ownMs / (2 * reps * texts.length),
    othersCores: Math.max(0, machineBusyMs - ownMs) / wallMs,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    vectors: vectors.filter((_, i) => i % 20 === 0).map((v) => Array.from(v)),
  };
  process.stdout.write(`\nRESULT ${JSON.stringify(result)}\n`);
}

function runChild(setting: Setting): Result {
  const self = fileURLToPath(import.meta.url);
  const runner = path.join(path.dirname(self), '..', 'bin', 'run-ts.js');
  const out = execFileSync(
    process.execPath,
    [runner, self, '--child', JSON.stringify(setting), '--texts', String(count), '--reps', String(reps)],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`no result from ${setting.label || setting.kind}`);
  return JSON.parse(line.slice(7)) as Result;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cosine = (a: number[], b: number[]) => {
  let d = 0;
  let na = 0;
  let nb = 0;
  a.forEach((v, i) => {
    d += v * b[i]!;
    na += v * v;
    nb += b[i]! * b[i]!;
  });
  return d / Math.sqrt(na * nb);
};

const childSetting = arg('--child');
if (childSetting) {
  await child(JSON.parse(childSetting) as Setting);
} else {
  const settings: Setting[] = [
    { label: 'TF.js wasm (today: 2 worker threads)', kind: 'tfjs' },
    { label: '', kind: 'onnx' },
  ];
  if (args.includes('--sweep'))
    settings.push(
      { label: 'ONNX in-process, 1 thread', kind: 'onnx', workers: 0, intraOpThreads: 1 },
      { label: 'ONNX in-process, 2 threads', kind: 'onnx', workers: 0, intraOpThreads: 2 },
      {
        label: 'ONNX in-process, 2 threads, no spinning',
        kind: 'onnx',
        workers: 0,
        intraOpThreads: 2,
        spinning: false,
      },
      { label: 'ONNX 2 worker sessions, 1 thread, batch 512', kind: 'onnx', workers: 2, tokenBudget: 512 },
      { label: 'ONNX 2 worker sessions, 1 thread, batch 4096', kind: 'onnx', workers: 2, tokenBudget: 4096 },
    );
  const texts = feedbackTexts(count);
  const words = texts.map((t) => t.split(/\s+/).length);
  const cores = availableParallelism();
  console.log(
    `embedders bench: ${count} synthetic feedback texts (${Math.min(...words)}-${Math.max(...words)} words, mean ${(words.reduce((a, b) => a + b, 0) / count).toFixed(1)}),` +
      ` ${reps} passes of one call + ${reps} of calls of ${CALL}, ${cores} cores, load average ${loadavg()[0]!.toFixed(1)}`,
  );
  const results: Result[] = [];
  for (const s of settings) {
    const r = runChild(s);
    results.push(r);
    console.log(
      `  ${r.label}\n` +
        `    ${median(r.rates).toFixed(1)} texts/s in one call (passes: ${r.rates.map((x) => x.toFixed(0)).join(', ')}),` +
        ` ${median(r.callRates).toFixed(1)} in calls of ${CALL} (${r.callRates.map((x) => x.toFixed(0)).join(', ')});\n   ` +
        ` CPU ${r.cpuMsPerText.toFixed(2)} ms/text -> ~${((cores * 1000) / r.cpuMsPerText).toFixed(0)} texts/s on ${cores} idle cores;` +
        ` start-up ${(r.startupMs / 1000).toFixed(1)} s; peak RSS ${r.maxRssMb.toFixed(0)} MB;` +
        ` other processes used ${(100 * r.othersCores).toFixed(0)}% of a core meanwhile`,
    );
  }
  const [tf, onnx] = results as [Result, Result];
  const worst = Math.min(...onnx.vectors.map((v, i) => cosine(v, tf.vectors[i]!)));
  console.log(
    `  ONNX / TF.js: ${(median(onnx.rates) / median(tf.rates)).toFixed(2)}x the texts/s in one call,` +
      ` ${(median(onnx.callRates) / median(tf.callRates)).toFixed(2)}x in calls of ${CALL},` +
      ` ${(tf.cpuMsPerText / onnx.cpuMsPerText).toFixed(2)}x less CPU per text,` +
      ` ${(onnx.maxRssMb / tf.maxRssMb).toFixed(2)}x the peak RSS; lowest cosine between their vectors on ${onnx.vectors.length} sampled texts` +
      ` ${worst.toFixed(7)} (1 - cos = ${(1 - worst).toExponential(1)})`,
  );
}
