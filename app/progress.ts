/**
 * Progress of long work on a terminal: done / total, rate and time left, redrawn in place.
 * Silent when stderr is not a terminal (CI logs, pipes), so JSON output stays clean.
 */
export interface Progress {
  tick(n?: number): void;
  set(done: number, total?: number): void;
  done(summary?: string): void;
}

export function createProgress(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (!stream.isTTY) return { tick() {}, set() {}, done() {} };
  const start = Date.now();
  let done = 0;
  let last = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const secs = (now - start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const left = rate > 0 && total > done ? (total - done) / rate : 0;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    stream.write(
      `\r\x1b[2K${label} ${done}/${total} (${pct}%)  ${rate.toFixed(1)}/s  ${formatDuration(left)} left`,
    );
  };
  return {
    tick(n = 1) {
      done += n;
      draw();
    },
    set(d, t) {
      done = d;
      if (t !== undefined) total = t;
      draw();
    },
    done(summary) {
      draw(true);
      stream.write(
        `\r\x1b[2K${summary ?? `${label} ${done}/${total} in ${formatDuration((Date.now() - start) / 1000)}`}\n`,
      );
    },
  };
}

export function formatDuration(secs: number): string {
  const s = Math.round(secs);
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}
