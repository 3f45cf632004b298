/**
 * The words around a unit that say what it is about without being part of it, for the job head:
 * the heading a note sits under ("Receipts (Tom)") and the interviewer's question a transcript
 * turn answers ("Let's talk about expenses."). A customer's turn "Oh, the HOA. Willow Creek has
 * thirty-one homes with us..." names no job; the question before it often does.
 *
 * Tickets and survey answers get none: a ticket's subject is already part of its unit, and its
 * help-desk tags and group name the team's own process ("how_to", "Payments") more than the
 * customer's job (on our dev bundle they lowered ticket job accuracy at every weight tried); a
 * survey's question is the same for every answer.
 */
import type { SourceType } from './types.ts';
import type { UnitInput } from '../classifiers/types.ts';

/** How far back a customer turn looks for the question it answers (two customer speakers in a row). */
const TURNS_BACK = 3;

interface StoredTurn {
  text?: unknown;
  unit?: unknown;
}

export function unitContext(
  sourceType: SourceType | string,
  /** The item's meta as stored: a transcript's `turns` (every turn, interviewer's included). */
  meta: Record<string, unknown>,
  unit: { ordinal: number; section?: string | null },
): string | null {
  if (sourceType === 'note') return unit.section?.trim() || null;
  if (sourceType !== 'transcript' || !Array.isArray(meta.turns)) return null;
  const turns = meta.turns as StoredTurn[];
  const at = turns.findIndex((t) => t?.unit === unit.ordinal);
  for (let i = at - 1; at > 0 && i >= Math.max(0, at - TURNS_BACK); i--) {
    const t = turns[i]!;
    // The nearest turn that is not a customer's (units are the customer's turns) is the question.
    if (t.unit === null || t.unit === undefined)
      return typeof t.text === 'string' ? t.text.trim() || null : null;
  }
  return null;
}

/** A stored unit (with its item's source type and meta) as the classifiers take it. */
export function classifierInput(u: {
  id: number;
  text: string;
  sourceType: string;
  meta: Record<string, unknown>;
  ordinal: number;
  section: string | null;
}): UnitInput {
  return {
    id: u.id,
    text: u.text,
    sourceType: u.sourceType as SourceType,
    score: typeof u.meta.score === 'number' ? u.meta.score : null,
    context: unitContext(u.sourceType, u.meta, u),
  };
}
