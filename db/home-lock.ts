/**
 * The embedded database (PGlite) is one process's: its files are read into that process and written
 * back from it, so a second process on the same folder works on its own copy and one of the two
 * loses its writes (measured: `gapmap import` beside a running embedded `gapmap serve` reported its
 * run done, and nothing of it was there once the server stopped). A lock file beside the database
 * names the process that holds it; another process is refused with what to do, and a lock whose
 * process is gone (killed, crashed) is taken over.
 */
import fs from 'node:fs';
import os from 'node:os';
import { GapmapError } from '../app/errors.ts';

interface Holder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export interface HomeLock {
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): Holder | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Holder;
  } catch {
    // Gone meanwhile, or cut short by a crash while it was written: nobody holds it.
    return null;
  }
}

/** Takes `<dir>.lock` for this process until `release()` (or the process's exit). */
export function lockHome(dir: string): HomeLock {
  const file = `${dir}.lock`;
  const me: Holder = {
    pid: process.pid,
    host: os.hostname(),
    command: ['gapmap', ...process.argv.slice(2, 3)].join(' '),
    since: new Date().toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(file);
      const held = holder && (holder.host !== me.host || alive(holder.pid));
      if (held || attempt > 0) {
        throw new GapmapError(
          'conflict',
          `the embedded database ${dir} is in use by ` +
            (holder
              ? `another Gapmap process (${holder.command}, pid ${holder.pid}${holder.host !== me.host ? ` on ${holder.host}` : ''}, since ${holder.since})`
              : 'another Gapmap process') +
            `: it holds the database in its memory, so only one process may use it. Stop that one first (or, beside a running gapmap serve, upload on its dashboard); for several processes at once use PostgreSQL (DATABASE_URL)`,
        );
      }
      // Its process is gone: the lock is stale (removed only if it still names that process).
      if (readHolder(file)?.pid === holder?.pid) fs.rmSync(file, { force: true });
    }
  }
  const release = () => {
    process.off('exit', release);
    if (readHolder(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  return { release };
}
