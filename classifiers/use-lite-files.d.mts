import type { io } from '@tensorflow/tfjs-core';

export interface UseLiteModelJson {
  modelTopology: { node: import('./tfjs-onnx.ts').TfNode[] };
  weightsManifest: { paths: string[]; weights: io.WeightsManifestEntry[] }[];
}
export function readUseLiteGraph(): {
  modelJson: UseLiteModelJson;
  weightSpecs: io.WeightsManifestEntry[];
  weights: Uint8Array;
};
export function readUseLiteVocab(): [string, number][];
