/**
 * Hostile requests in bulk: at least 10,000 malformed requests (paths, methods, headers, bodies,
 * SigV4 Authorization headers, raw malformed HTTP) against a real server's REST API, invoke front
 * door, HTTP triggers and Lambda API. Not one may get a 5xx answer, the server must stay up, and
 * the store must be intact afterwards (the functions still listed and invocable, executions read).
 * The generator is seeded, so a failure names the seed and request that reproduce it.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createAccessKey } from '../helpers/lambda-client.js';
import { startTestServer, type TestServer } from '../helpers/harness.js';

const SEED = 0x5eed1234;
const REQUESTS = 10_500;

/** mulberry32: a small deterministic generator, so every run sends the same requests. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

describe('fuzzing every front door with malformed requests', () => {
  let nimbus: TestServer;
  let accessKeyId: string;
  const random = generator(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (n: number) => Math.floor(random() * n);

  before(async () => {
    nimbus = await startTestServer();
    await nimbus.deploy('target', 'node-ok', 'nodejs', 'index.handler');
    const trigger = await nimbus.request('POST', '/v1/functions/target/triggers', {
      json: { type: 'http', auth: 'anonymous', style: 'lambda' },
    });
    assert.equal(trigger.status, 201, trigger.text);
    accessKeyId = (await createAccessKey(nimbus)).accessKeyId;
    assert.equal((await nimbus.invoke('target', {})).status, 200);
  });

  after(async () => {
    await nimbus?.close();
  });

  const junkStrings = [
    '',
    '%',
    '%zz',
    '%00',
    '..',
    '../../etc/passwd',
    '%2e%2e%2f%2e%2e%2f',
    '\u0000',
    'ø🙂\u202e',
    'a'.repeat(3000),
    '{}',
    '[]',
    'null',
    '-1',
    '1e309',
    '$latest',
    'target:',
    'target:999',
    'arn:aws:lambda:us-east-1:000000000000:function:target:x',
    '🙂'.repeat(70),
    ' ',
    '//',
    '?',
    '#',
  ];

  function junk(): string {
    if (random() < 0.5) return pick(junkStrings);
    const length = int(40);
    let s = '';
    for (let i = 0; i < length; i++) s += String.fromCharCode(32 + int(95));
    return s;
  }

  function segment(): string {
    return encodeURIComponent(junk()).slice(0, 2000) || 'x';
  }

  const routes: (() => string)[] = [
    () => `/v1/functions/${segment()}`,
    () => `/v1/functions/${pick(['target', segment()])}/invoke`,
    () => `/v1/functions/${pick(['target', segment()])}/invoke?async=${segment()}&qualifier=${segment()}`,
    () => `/v1/functions/target/${pick(['versions', 'aliases', 'triggers', 'code', segment()])}/${segment()}`,
    () => `/v1/executions/${segment()}`,
    () => `/v1/executions/${segment()}/logs?follow=${segment()}`,
    () => `/v1/executions?function=${segment()}&limit=${segment()}&cursor=${segment()}`,
    () => `/v1/triggers/${segment()}`,
    () => `/v1/access-keys/${segment()}`,
    () => `/v1/dead-letters?function=${segment()}`,
    () => `/v1/${segment()}`,
    () => `/fn/target/${segment()}?${segment()}=${segment()}`,
    () => `/fn/${segment()}/${segment()}`,
    () => `/2015-03-31/functions/${pick(['target', segment()])}/invocations`,
    () => `/2015-03-31/functions/${segment()}`,
    () => `/2015-03-31/functions/target/${pick(['configuration', 'code', 'versions', 'aliases', segment()])}`,
    () => `/2021-11-15/functions/target/response-streaming-invocations`,
    () => `/2018-10-31/layers/${segment()}/versions`,
    () => `/${segment()}/${segment()}`,
    () => `${pick(['', '/', '//', '/./', '/../'])}${segment()}`,
  ];

  function amzDate(): string {
    const choices = [
      new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''),
      '19700101T000000Z',
      '99991231T235959Z',
      'not-a-date',
      '',
    ];
    return pick(choices);
  }

  function sigv4(): string {
    const parts = [
      `Credential=${pick([accessKeyId, 'AKIAFAKE', '', junk()])}/${pick(['20261203', '', junk()])}/${pick(['us-east-1', 'mars-1', '', junk()])}/${pick(['lambda', 's3', ''])}/${pick(['aws4_request', ''])}`,
      `SignedHeaders=${pick(['host;x-amz-date', 'host', '', junk()])}`,
      `Signature=${pick(['0'.repeat(64), 'zz', '', junk()])}`,
    ];
    if (random() < 0.3) parts.splice(int(3), 1);
    return `${pick(['AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512', 'aws4-hmac-sha256', ''])} ${parts.join(pick([', ', ',', ' ']))}`;
  }

  function authorization(path: string): string | undefined {
    const r = random();
    if (r < 0.15) return undefined;
    if (r < 0.35 && !path.startsWith('/2')) return `Bearer ${nimbus.key}`; // authorized, so the body is checked
    if (r < 0.5) return `Bearer ${junk()}`;
    if (r < 0.85) return sigv4();
    return junk();
  }

  function nested(depth: number): string {
    const open = pick(['[', '{"a":']);
    const close = open === '[' ? ']' : '}';
    return open.repeat(depth) + '1' + close.repeat(depth);
  }

  function body(): Buffer | undefined {
    const r = random();
    if (r < 0.15) return undefined;
    if (r < 0.3) return Buffer.from(junk());
    if (r < 0.4) return Buffer.from(nested(1 + int(200_000)));
    if (r < 0.5)
      return Buffer.from(JSON.stringify({ name: junk(), runtime: junk(), handler: junk(), code: junk() }));
    if (r < 0.6) {
      const bytes = Buffer.alloc(int(4096));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      return bytes;
    }
    if (r < 0.7) return Buffer.from(`{"a":"${'\\u0000'.repeat(int(100))}\\ud800"`);
    if (r < 0.8)
      return Buffer.from(JSON.stringify({ code: { zipBase64: junk() }, memoryMb: junk(), timeoutSec: -1 }));
    if (r < 0.9) return Buffer.from(JSON.stringify([junk(), { __proto__: { admin: true } }, 1e308]));
    return Buffer.from('x'.repeat(int(7 * 1024 * 1024)));
  }

  function request(): FuzzRequest {
    const path = pick(routes)();
    // DELETE only unauthenticated: the fuzz must not remove the store it checks afterwards.
    const method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND']);
    const headers: Record<string, string> = {};
    const auth = authorization(path);
    if (auth !== undefined && !(method === 'DELETE' && auth.startsWith('Bearer ' + nimbus.key)))
      headers.authorization = auth;
    if (random() < 0.6)
      headers['content-type'] = pick([
        'application/json',
        'application/x-amz-json-1.1',
        'text/plain',
        'multipart/form-data; boundary=',
        'application/json; charset=utf-16',
        junk(),
      ]);
    if (random() < 0.4) headers['x-amz-date'] = amzDate();
    if (random() < 0.2) headers['x-amz-content-sha256'] = pick(['UNSIGNED-PAYLOAD', '0'.repeat(64), junk()]);
    if (random() < 0.2)
      headers['x-amz-invocation-type'] = pick(['Event', 'DryRun', 'RequestResponse', junk()]);
    if (random() < 0.2) headers['x-amz-log-type'] = pick(['Tail', 'None', junk()]);
    if (random() < 0.1) headers['x-amz-client-context'] = pick(['e30=', '!!!', junk()]);
    if (random() < 0.1) headers.host = pick(['localhost', '127.0.0.1', 'a.example', junk() || 'x']);
    if (random() < 0.1) headers['x-forwarded-for'] = junk();
    const hasBody = !['GET', 'HEAD', 'TRACE'].includes(method);
    return { method, path, headers, ...(hasBody ? { body: body() } : {}) };
  }

  /** Sends one request; answers with the status, or 0 when the server closed the connection (not a 5xx). */
  async function send(req: FuzzRequest): Promise<number> {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      try {
        headers.set(k, v);
      } catch {
        // a header value fetch refuses to send: leave it out
      }
    }
    try {
      const res = await fetch(nimbus.url + req.path, {
        method: req.method,
        headers,
        ...(req.body === undefined ? {} : { body: req.body }),
        signal: AbortSignal.timeout(60_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    } catch (err) {
      if ((err as Error).name === 'TimeoutError')
        throw new Error(`no answer in 60 s to ${req.method} ${req.path}`, { cause: err });
      return 0;
    }
  }

  /** Malformed HTTP itself, over a raw socket: the status line's code, or 0 for a closed connection. */
  function sendRaw(text: string): Promise<number> {
    const { port, hostname } = new URL(nimbus.url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), hostname);
      let answer = '';
      socket.setTimeout(10_000, () => socket.destroy());
      socket.on('data', (chunk) => {
        answer += chunk.toString('latin1');
        if (answer.includes('\r\n')) socket.destroy();
      });
      socket.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0)));
      socket.on('error', () => undefined);
      socket.end(text, 'latin1');
    });
  }

  function rawRequest(): string {
    const line = pick([
      `GET /v1/functions HTTP/1.1`,
      `POST /v1/functions/target/invoke HTTP/1.1`,
      `POST /2015-03-31/functions/target/invocations HTTP/1.1`,
      `GET /fn/target/ HTTP/1.1`,
      `${junk()} ${junk()} HTTP/1.1`,
      `GET ${junk()} HTTP/9.9`,
      `GET /v1/functions`,
    ]);
    const headers = pick([
      'Host: x\r\nContent-Length: 10\r\n\r\n{}',
      'Host: x\r\nContent-Length: -1\r\n\r\n',
      'Host: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      'Host: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
      'Host: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      `Host: x\r\nAuthorization: ${sigv4()}\r\nContent-Length: 2\r\n\r\n{}`,
      `Host: x\r\nX-Bad\u0000Header: 1\r\n\r\n`,
      `Host: x\r\n${'X-Many: 1\r\n'.repeat(3000)}\r\n`,
      `Host: x\r\nAuthorization: Bearer ${'k'.repeat(100_000)}\r\n\r\n`,
    ]);
    return `${line}\r\n${headers}`;
  }

  it(`answers ${REQUESTS} malformed requests without a 5xx, stays up and keeps its store`, async () => {
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let sent = 0;
    const worker = async () => {
      while (sent < REQUESTS) {
        const n = sent++;
        const raw = random() < 0.08;
        const req = raw ? undefined : request();
        const text = raw ? rawRequest() : '';
        const status = raw ? await sendRaw(text) : await send(req!);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500)
          failures.push(
            `#${n} (seed ${SEED}): ${status} for ${raw ? JSON.stringify(text.slice(0, 200)) : `${req!.method} ${req!.path.slice(0, 200)} ${JSON.stringify(req!.headers).slice(0, 300)}`}`,
          );
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.deepEqual(
      failures.slice(0, 20),
      [],
      `5xx answers (${failures.length}); statuses: ${JSON.stringify([...statuses])}`,
    );
    assert.ok(sent >= 10_000);

    // Still up, and the store intact: the function is listed, invocable, and executions are read.
    const health = await nimbus.request('GET', '/v1/health');
    assert.equal(health.status, 200);
    const list = await nimbus.request('GET', '/v1/functions');
    assert.equal(list.status, 200, list.text);
    assert.ok(JSON.stringify(list.body).includes('"target"'), list.text.slice(0, 500));
    const call = await nimbus.invoke('target', { after: 'fuzz' });
    assert.equal(call.status, 200, call.text);
    const execution = await nimbus.executionOf(call);
    assert.equal(execution.status, 'succeeded');
    const executions = await nimbus.request('GET', '/v1/executions?function=target');
    assert.equal(executions.status, 200, executions.text);
    const viaTrigger = await fetch(`${nimbus.url}/fn/target/`);
    assert.equal(viaTrigger.status, 200);
    assert.equal(await viaTrigger.text(), 'ok');
  });
});
