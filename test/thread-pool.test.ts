import { describe, expect, it } from 'vitest';
import { RunnerPool } from '../classifiers/thread-pool.ts';

/** A task that stays in flight until released, recording which runner ran it. */
function held() {
  const tasks: { runner: string; release: (v: string) => void; fail: (e: Error) => void }[] = [];
  const task = (runner: string) =>
    new Promise<string>((release, fail) => tasks.push({ runner, release, fail }));
  return { tasks, task };
}
/** Lets pending promise callbacks run. */
const settle = () => new Promise((r) => setTimeout(r, 5));

describe('RunnerPool', () => {
  it('gives each runner at most `depth` tasks, the least busy first, and starts the next when one ends', async () => {
    const pool = new RunnerPool(['a', 'b'], 2);
    const { tasks, task } = held();
    const results = Array.from({ length: 6 }, () => pool.use(task));
    // The failure below is awaited at the end.
    for (const r of results) r.catch(() => {});
    await settle();
    // Four in flight, spread evenly; the fifth and sixth wait.
    expect(tasks.map((t) => t.runner).sort()).toEqual(['a', 'a', 'b', 'b']);
    expect(
      tasks
        .map((t) => t.runner)
        .slice(0, 2)
        .sort(),
    ).toEqual(['a', 'b']);
    const firstB = tasks.find((t) => t.runner === 'b')!;
    firstB.release('done on b');
    await settle();
    expect(tasks).toHaveLength(5);
    expect(tasks[4]!.runner).toBe('b');
    // A failed task frees its place too.
    tasks.find((t) => t.runner === 'a')!.fail(new Error('model crashed'));
    await settle();
    expect(tasks).toHaveLength(6);
    expect(tasks[5]!.runner).toBe('a');
    for (const t of tasks) t.release(`on ${t.runner}`);
    const settled = await Promise.allSettled(results);
    expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(1);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(5);
  });

  it('with a depth of 1 runs one task per runner', async () => {
    const pool = new RunnerPool(['a', 'b', 'c'], 1);
    const { tasks, task } = held();
    const results = Array.from({ length: 5 }, () => pool.use(task));
    await settle();
    expect(tasks.map((t) => t.runner).sort()).toEqual(['a', 'b', 'c']);
    tasks[0]!.release('x');
    await settle();
    expect(tasks).toHaveLength(4);
    expect(tasks[3]!.runner).toBe(tasks[0]!.runner);
    for (const t of tasks) t.release('x');
    await settle();
    for (const t of tasks) t.release('x');
    expect(await Promise.all(results)).toEqual(['x', 'x', 'x', 'x', 'x']);
  });
});
