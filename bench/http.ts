/**
 * A minimal HTTP client for the benchmark's own calls (deploys, single invocations, readiness
 * polls), on `node:http` with keep-alive. It only ever talks to 127.0.0.1 and every call has a timeout.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Wall time from sending the request to the last byte of the response. */
  ms: number;
}

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
  agent?: http.Agent;
}

/** Shared keep-alive agent, so sequential calls reuse one connection like a real client would. */
export const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function request(url: string, options: RequestOptions = {}): Promise<HttpResponse> {
  const target = new URL(url);
  if (target.hostname !== '127.0.0.1') {
    return Promise.reject(new Error(`the benchmark only contacts 127.0.0.1, not ${target.hostname}`));
  }
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (body) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      target,
      { method: options.method ?? 'GET', headers, agent: options.agent ?? keepAlive },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ms: performance.now() - started,
          }),
        );
      },
    );
    req.setTimeout(options.timeoutMs ?? 30_000, () =>
      req.destroy(new Error(`${options.method ?? 'GET'} ${target.pathname} timed out`)),
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls `url` until it answers with a status below 500, or throws after `timeoutMs`. */
export async function waitUntilUp(
  url: string,
  timeoutMs: number,
  options: RequestOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await request(url, { ...options, timeoutMs: 2000 });
      if (res.status < 500) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up within ${timeoutMs} ms (${last})`);
}
