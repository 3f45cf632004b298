/**
 * Local classifier first, LLM for the units it is unsure of: a unit goes to the LLM when its
 * lowest local confidence (job, kind or sentiment) is under `threshold`, or always with `all`.
 * A unit the LLM could not answer validly (`flagged`) keeps its local tags, with the flag kept
 * for the record. LlmUnavailableError from the LLM is not caught: the queue pauses the stage and
 * runs the job again later, so no unit is stored half-classified.
 */
import { GapmapError } from '../app/errors.ts';
import type { LlmClassifier, LlmTags, LlmUnitInput, LlmUsage } from './llm.ts';
import type { Classifier, CustomerContext, Tags } from './types.ts';

export interface CascadeOptions {
  /** In [0, 1]: units whose lowest local confidence is under it go to the LLM. */
  threshold: number;
  /** Send every unit to the LLM. */
  all?: boolean;
}

export interface CascadeTags extends LlmTags {
  /** Which classifier the tags come from. */
  source: 'local' | 'llm';
}

export interface Cascade extends Classifier {
  classify(units: LlmUnitInput[], context: CustomerContext): Promise<CascadeTags[]>;
  usage(): LlmUsage;
}

export function lowestConfidence(t: Tags): number {
  return Math.min(t.jobConfidence, t.kindConfidence, t.sentimentConfidence);
}

export function createCascade(local: Classifier, llm: LlmClassifier, opts: CascadeOptions): Cascade {
  const { threshold, all = false } = opts;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new GapmapError('config', `LLM cascade threshold must be a number from 0 to 1, got ${threshold}`);
  }
  return {
    name: `${local.name}+${llm.name}`,
    version: `${local.version}+${llm.version}@${all ? 'all' : `<${threshold}`}`,
    usage: () => llm.usage(),
    async classify(units, context) {
      const localTags = await local.classify(units, context);
      const out: CascadeTags[] = localTags.map((t) => ({ ...t, source: 'local' }));
      const picked = units.map((_, i) => i).filter((i) => all || lowestConfidence(localTags[i]!) < threshold);
      if (picked.length === 0) return out;
      const llmTags = await llm.classify(
        picked.map((i) => units[i]!),
        context,
      );
      picked.forEach((unitIndex, k) => {
        const t = llmTags[k]!;
        out[unitIndex] = t.flagged ? { ...out[unitIndex]!, flagged: t.flagged } : { ...t, source: 'llm' };
      });
      return out;
    },
    async close() {
      await Promise.all([local.close?.(), llm.close?.()]);
    },
  };
}
