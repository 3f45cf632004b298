/**
 * Trains the kind and sentiment heads for the bundled model on the shipped sentences and writes
 * them next to this file, so a process starts without training:
 *   node bin/run-ts.js classifiers/training/train.ts
 * Re-run after changing the training files (a stale file is ignored and retrained at start-up).
 */
import { createClassifier, headsFileFor } from '../index.ts';

const classifier = await createClassifier({ embedder: 'bundled' });
console.log(`heads for ${classifier.name} ${classifier.version} in ${headsFileFor(classifier.embedder)}`);
await classifier.close();
