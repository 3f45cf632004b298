/**
 * The embedded database is one process's (db/home-lock.ts): a second process is refused with what
 * to do, and the lock of a process that was killed is taken over.
 */
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openDb } from '../db/client.ts';
import { GapmapError } from '../app/errors.ts';
import { tempDir } from './helpers/db.ts';

const run = promisify(execFile);

/** Starts the holder on `home`; resolves with it once it has the database open. */
async function holder(home: string) {
  const child = spawn(process.execPath, ['bin/run-ts.js', 'test/helpers/hold-home.ts'], {
    env: { ...process.env, GAPMAP_HOME: home },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => b.toString().includes('READY') && resolve());
    child.once('exit', (code) => reject(new Error(`the holder exited with ${code}`)));
  });
  return child;
}

describe('the embedded database is one process’s', () => {
  it('refuses a second process while the first holds it, naming the first; after a kill, the next one opens it', async () => {
    const home = tempDir();
    const first = await holder(home);
    const exited = new Promise((resolve) => first.once('exit', resolve));
    try {
      const err = await openDb({ home }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GapmapError);
      expect((err as GapmapError).code).toBe('conflict');
      expect((err as GapmapError).message).toContain(
        `the embedded database ${path.join(home, 'db')} is in use by another Gapmap process (gapmap, pid ${first.pid},`,
      );
      // The CLI says the same and exits with 2; the holder's data is untouched.
      const cli = await run(process.execPath, ['bin/gapmap.js', 'customers'], {
        env: { ...process.env, GAPMAP_HOME: home, DATABASE_URL: '', REDIS_URL: '' },
      }).catch((e: { code: number; stderr: string }) => e);
      expect('code' in cli && cli.code).toBe(2);
      expect('stderr' in cli && cli.stderr).toMatch(
        /is in use by another Gapmap process .*use PostgreSQL \(DATABASE_URL\)/,
      );
    } finally {
      first.kill('SIGKILL');
      await exited;
    }
    // Killed: its lock stays behind, and the next process takes it over.
    expect(fs.existsSync(path.join(home, 'db.lock'))).toBe(true);
    const next = await openDb({ home });
    expect(JSON.parse(fs.readFileSync(path.join(home, 'db.lock'), 'utf8')).pid).toBe(process.pid);
    await next.close();
    expect(fs.existsSync(path.join(home, 'db.lock'))).toBe(false);
  }, 60_000);
});
