import { describe, expect, it } from 'vitest';
import { errorMessage, GapmapError } from '../app/errors.ts';

describe('errorMessage', () => {
  it('says what an error says, whatever was thrown', () => {
    expect(errorMessage(new GapmapError('bad_input', 'row 3: no customer'))).toBe('row 3: no customer');
    expect(errorMessage({ message: 'wasm: out of bounds', code: 7 })).toBe('wasm: out of bounds');
    expect(errorMessage({ code: 'E_LOCKED', file: 'x' })).toBe('{"code":"E_LOCKED","file":"x"}');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(errorMessage(cycle)).toBe('[object Object]');
    expect(errorMessage('plain text')).toBe('plain text');
  });
});
