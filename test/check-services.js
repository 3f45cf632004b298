// Run by `npm test` before vitest: the integration tests need PostgreSQL and Redis; say plainly
// which one is missing and how to start it, instead of a wall of connection errors.
import fs from 'node:fs';
import net from 'node:net';

const services = [
  {
    name: 'PostgreSQL',
    url: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    hint: 'start it (Debian: pg_ctlcluster <version> main start) or set TEST_DATABASE_URL',
  },
  {
    name: 'Redis',
    url: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    hint: 'start it (redis-server --daemonize yes) or set TEST_REDIS_URL',
  },
];

function reachable(url) {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol.startsWith('redis') ? 6379 : 5432));
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

let missing = 0;
for (const s of services) {
  if (!(await reachable(s.url))) {
    const u = new URL(s.url);
    console.error(`${s.name} is not reachable at ${u.hostname}:${u.port || 'default port'}: ${s.hint}`);
    missing++;
  }
}
// The dashboard tests drive Debian's Chromium through playwright-core (never a downloaded browser).
const chromium = process.env.GAPMAP_CHROMIUM ?? '/usr/bin/chromium';
if (!fs.existsSync(chromium)) {
  console.error(
    `Chromium is not installed at ${chromium}: apt-get install chromium (Debian), or set GAPMAP_CHROMIUM`,
  );
  missing++;
}
if (missing) process.exit(1);
