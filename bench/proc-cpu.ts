/**
 * CPU time from Linux's /proc, for the benchmarks: this process's threads, and PostgreSQL's
 * processes (a local server's backends and helpers). Elsewhere both read 0.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** User + system CPU milliseconds of a /proc stat line's process or thread. */
function statCpuMs(stat: string): number {
  // Fields after the name: state is the 1st, utime the 12th and stime the 13th; USER_HZ is 100.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** CPU milliseconds of these threads of this process, all together (Linux; 0 elsewhere). */
export function threadsCpuMs(ids: string[]): number {
  let ms = 0;
  for (const id of ids) {
    try {
      ms += statCpuMs(readFileSync(`/proc/self/task/${id}/stat`, 'utf8'));
    } catch {
      // A thread that ended, or no /proc.
    }
  }
  return ms;
}

/** CPU milliseconds of every process named postgres, from /proc (Linux; 0 elsewhere). */
export function postgresCpuMs(): number {
  let ms = 0;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === 'postgres') ms += statCpuMs(stat);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return ms;
}
