/**
 * The classifier a process uses, made once and shared. `GAPMAP_EMBEDDER=lexical` picks the plain
 * lexical baseline; anything else goes to the embedding classifiers of classifiers/index.ts.
 * With `GAPMAP_LLM=cascade` or `all` it is the cascade of that local classifier and the LLM
 * (app/llm.ts): `gapmap eval` measures the cascade, the pipeline runs its two parts as two stages.
 */
import type { Config } from './env.ts';
import type { Classifier } from '../classifiers/types.ts';
import { createLexicalClassifier } from '../classifiers/lexical.ts';
import { withLlm } from './llm.ts';

export async function loadClassifier(config: Config): Promise<Classifier> {
  return withLlm(await loadLocalClassifier(config), config);
}

export async function loadLocalClassifier(config: Config): Promise<Classifier> {
  if (config.embedder === 'lexical') return createLexicalClassifier();
  const { createClassifier } = await import('../classifiers/index.ts');
  return createClassifier({
    embedder: config.embedder,
    modelDir: config.modelDir,
    cacheBytes: config.modelCacheBytes,
    openai: {
      apiKey: config.openai.apiKey,
      baseURL: config.openai.baseURL,
      embeddingModel: config.openai.embeddingModel,
    },
  });
}
