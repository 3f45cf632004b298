export * from './customers.ts';
export * from './imports.ts';
export * from './items.ts';
export * from './classifications.ts';
export * from './reviews.ts';
export * from './map.ts';
