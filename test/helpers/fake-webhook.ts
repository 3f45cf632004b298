/**
 * A webhook receiver on 127.0.0.1 (what Slack's incoming webhooks are to Gapmap): records every
 * JSON POST and answers "ok", or a status a test queues with `failNext`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  path: string;
  contentType: string;
  body: Record<string, unknown>;
  raw: string;
}

export interface FakeWebhook {
  url: string;
  received: ReceivedHook[];
  /** Answers the next `times` requests with `status`. */
  failNext(status: number, times?: number): void;
  /** Resolves once a received hook matches (already received or yet to come). */
  waitFor(match: (h: ReceivedHook) => boolean, timeoutMs?: number): Promise<ReceivedHook>;
  close(): Promise<void>;
}

export async function startFakeWebhook(): Promise<FakeWebhook> {
  const received: ReceivedHook[] = [];
  const waiters: Array<{ match: (h: ReceivedHook) => boolean; resolve: (h: ReceivedHook) => void }> = [];
  let failures: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = failures.shift();
      if (status !== undefined) {
        res.writeHead(status).end('injected');
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        body = { unparseable: raw };
      }
      const hook = {
        path: req.url ?? '/',
        contentType: String(req.headers['content-type'] ?? ''),
        body,
        raw,
      };
      received.push(hook);
      for (const w of [...waiters]) {
        if (w.match(hook)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(hook);
        }
      }
      // Slack answers a plain "ok", not JSON.
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/services/T000/B000/hook-secret-path`,
    received,
    failNext(status, times = 1) {
      failures = [...failures, ...Array.from({ length: times }, () => status)];
    },
    waitFor(match, timeoutMs = 60_000) {
      const hit = received.find(match);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no matching webhook within ${timeoutMs} ms; received ${JSON.stringify(received.map((h) => h.body.event))}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (h) => {
            clearTimeout(timer);
            resolve(h);
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
