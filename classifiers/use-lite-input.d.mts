export function sparseInput(rows: number[][]): { n: number; indices: Int32Array; values: Int32Array };
