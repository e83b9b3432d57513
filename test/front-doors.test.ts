/**
 * The two plain node:http front doors (the invoke call and HTTP triggers) answer through one
 * module (src/api/raw-http.ts): this pins that they refuse alike, through a real server and raw
 * sockets. A refusal before the body (no key, no trigger), a declared body over the limit and a
 * chunked body that grows past it are answered in the API's error shape with a request id, as
 * JSON, and close the connection so the unread bytes are dropped; an accepted call's answer
 * names its execution.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/harness.js';
import { rawZip } from './helpers/raw-zip.js';

const MB = 1024 * 1024;
/** Chunks of a body one byte past 6 MB. */
const PAST_6_MB = [...Array<number>(6).fill(MB), 1];

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

/**
 * Sends a request's headers, then `chunks` of body bytes of those sizes (chunked when `declared`
 * is undefined, ended when `end`), and resolves with the answer. A body over a limit is sent
 * only up to just past it: more bytes after the server's refusal could reset the connection
 * before the answer is read.
 */
function send(
  server: TestServer,
  path: string,
  headers: Record<string, string>,
  { declared, chunks = [], end = false }: { declared?: number; chunks?: number[]; end?: boolean } = {},
): Promise<Answer> {
  const url = new URL(server.url);
  const all = { ...headers, ...(declared === undefined ? {} : { 'content-length': String(declared) }) };
  const req = httpRequest({
    host: url.hostname,
    port: url.port,
    method: 'POST',
    path,
    headers: all,
    agent: false,
  });
  req.on('error', () => {}); // the server may close while we write: the answer is what counts
  return new Promise((resolve, reject) => {
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const received: Buffer[] = [];
      res.on('data', (c: Buffer) => received.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(received).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: text ? JSON.parse(text) : undefined,
        });
        req.destroy();
      });
    });
    req.on('close', () => {
      if (!answered) reject(new Error(`POST ${path}: the connection closed without an answer`));
    });
    const writeMore = () => {
      if (answered || req.destroyed) return;
      const size = chunks.shift();
      if (size === undefined) {
        if (end) req.end();
        return;
      }
      req.write(Buffer.alloc(size, 0x61), () => setTimeout(writeMore, 5));
    };
    req.flushHeaders();
    writeMore();
  });
}

function assertRefusal(answer: Answer, status: number, code: string, door: string): void {
  assert.equal(answer.status, status, `${door}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8', door);
  assert.equal(answer.headers.connection, 'close', door);
  assert.equal(answer.body.error.code, code, door);
  assert.equal(typeof answer.body.error.message, 'string', door);
  assert.match(answer.body.error.requestId, /^req-/, door);
}

describe('the two front doors refuse alike', () => {
  let server: TestServer;
  let auth: Record<string, string>;

  before(async () => {
    server = await startTestServer();
    auth = { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' };
    await server.deployZip(
      'doors',
      rawZip([
        {
          name: 'index.js',
          data: 'exports.handler = async () => ({ statusCode: 200, body: "ok" });',
        },
      ]),
    );
    const made = await server.request('POST', '/v1/functions/doors/triggers', {
      json: { type: 'http', auth: 'anonymous', style: 'lambda' },
    });
    assert.equal(made.status, 201, made.text);
  });
  after(() => server?.close());

  it('refuse a request before its body in the error shape and close the connection', async () => {
    const invoke = await send(
      server,
      '/v1/functions/doors/invoke',
      { 'content-type': 'application/json' },
      {
        declared: 4 * MB,
      },
    );
    assertRefusal(invoke, 401, 'UNAUTHORIZED', 'invoke without a key');
    const trigger = await send(server, '/fn/nothing-here/', {}, { declared: 4 * MB });
    assertRefusal(trigger, 404, 'ROUTE_NOT_FOUND', 'trigger of a function without one');
    assert.match(trigger.body.error.message, /nimbus triggers create nothing-here --type http/);
  });

  it('refuse a declared body over the limit with 413 before reading it', async () => {
    const sync = await send(server, '/v1/functions/doors/invoke', auth, { declared: 6 * MB + 1 });
    assertRefusal(sync, 413, 'PAYLOAD_TOO_LARGE', 'sync invoke');
    assert.match(sync.body.error.message, /6 MB for a synchronous invocation/);
    const queued = await send(
      server,
      '/v1/functions/doors/invoke',
      { ...auth, 'x-nimbus-invocation-type': 'async' },
      { declared: MB + 1 },
    );
    assertRefusal(queued, 413, 'PAYLOAD_TOO_LARGE', 'async invoke');
    assert.match(queued.body.error.message, /1 MB for an asynchronous invocation/);
    const trigger = await send(server, '/fn/doors/', {}, { declared: 6 * MB + 1 });
    assertRefusal(trigger, 413, 'PAYLOAD_TOO_LARGE', 'trigger');
    assert.match(trigger.body.error.message, /6 MB for an HTTP trigger/);
  });

  it('cut off a chunked body that grows past the limit with 413', async () => {
    const invoke = await send(server, '/v1/functions/doors/invoke', auth, { chunks: [...PAST_6_MB] });
    assertRefusal(invoke, 413, 'PAYLOAD_TOO_LARGE', 'chunked invoke');
    const trigger = await send(server, '/fn/doors/', {}, { chunks: [...PAST_6_MB] });
    assertRefusal(trigger, 413, 'PAYLOAD_TOO_LARGE', 'chunked trigger');
  });

  it('name the execution on an accepted call, read whole from a chunked body', async () => {
    const invoke = await send(server, '/v1/functions/doors/invoke', auth, { chunks: [1, 1], end: true });
    assert.equal(invoke.status, 400, 'two bytes of "a" are not JSON');
    assert.equal(invoke.body.error.code, 'INVALID_JSON');
    const ok = await server.invoke('doors', { a: 1 });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers.get('content-type'), 'application/json');
    assert.match(ok.headers.get('x-nimbus-execution-id') ?? '', /\S/);
    const queued = await server.request('POST', '/v1/functions/doors/invoke', {
      json: {},
      headers: { 'x-nimbus-invocation-type': 'async' },
    });
    assert.equal(queued.status, 202, queued.text);
    assert.equal(queued.headers.get('x-nimbus-execution-id'), queued.body.executionId);
    const trigger = await fetch(`${server.url}/fn/doors/`, { method: 'POST', body: 'x'.repeat(3 * MB) });
    assert.equal(trigger.status, 200);
    assert.equal(await trigger.text(), 'ok');
    assert.match(trigger.headers.get('x-nimbus-execution-id') ?? '', /\S/);
  });
});
