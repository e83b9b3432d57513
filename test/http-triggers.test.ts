/**
 * HTTP triggers (issue 4), through a real server, real sandboxes and real HTTP: the three request
 * styles (Lambda function URL events, WSGI, fetch), binary bodies both ways, a large request and a
 * streamed response larger than the sync limit, the function-URL response mapping, key auth
 * (bearer key, signed URLs), CORS, 405, host routing, disabled and deleted triggers, and the
 * execution records.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { rawGet } from './helpers/raw-http.js';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The body /big serves: 64 KiB blocks of bytes 0..255 repeated. */
function bigBodyHash(mb: number): string {
  const block = Buffer.from(Array.from({ length: 65536 }, (_, i) => i % 256));
  const hash = createHash('sha256');
  for (let i = 0; i < mb * 16; i++) hash.update(block);
  return hash.digest('hex');
}

/** Reads a streamed body, hashing as it goes (never holding it whole). */
async function hashStream(res: Response): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { hash: hash.digest('hex'), bytes };
}

describe('HTTP triggers', () => {
  let nimbus: TestServer;
  const triggerIds: Record<string, string> = {};
  const keys: Record<string, string> = {};
  const call = (path: string, init: RequestInit = {}) => fetch(nimbus.url + path, init);

  async function addTrigger(fn: string, settings: Record<string, unknown>): Promise<void> {
    const res = await nimbus.request('POST', `/v1/functions/${fn}/triggers`, {
      json: { type: 'http', ...settings },
    });
    assert.equal(res.status, 201, res.text);
    triggerIds[fn] = res.body.id;
    if (res.body.key) keys[fn] = res.body.key;
  }

  before(async () => {
    nimbus = await startTestServer();
    await Promise.all([
      nimbus.deploy('url-echo', 'node-url-echo', 'nodejs', 'index.handler', { timeoutSec: 2 }),
      nimbus.deploy('snapshot', 'python-snapshot', 'python3', 'main.handler'),
      nimbus.deploy('images', 'python-wsgi', 'python3', 'main.handler', { timeoutSec: 60 }),
      nimbus.deploy('fetcher', 'node-fetch', 'nodejs', 'index.handler', { timeoutSec: 60 }),
      nimbus.deploy('secured', 'node-url-echo', 'nodejs', 'index.handler'),
      nimbus.deploy('browser', 'node-url-echo', 'nodejs', 'index.handler'),
      nimbus.deploy('hosted', 'node-url-echo', 'nodejs', 'index.handler'),
      nimbus.deploy('getonly', 'node-url-echo', 'nodejs', 'index.handler'),
      nimbus.deploy('toggled', 'node-url-echo', 'nodejs', 'index.handler'),
    ]);
    await addTrigger('url-echo', { auth: 'anonymous', style: 'lambda' });
    await addTrigger('snapshot', { auth: 'anonymous', style: 'lambda', methods: ['GET', 'POST'] });
    await addTrigger('images', { auth: 'anonymous', style: 'wsgi' });
    await addTrigger('fetcher', { auth: 'anonymous', style: 'fetch' });
    await addTrigger('secured', { auth: 'key', style: 'lambda' });
    await addTrigger('browser', {
      auth: 'anonymous',
      cors: {
        allowOrigins: ['https://app.example.com'],
        allowMethods: ['GET', 'POST'],
        allowHeaders: ['content-type', 'x-token'],
        exposeHeaders: ['x-nimbus-execution-id'],
        maxAgeSec: 600,
        allowCredentials: true,
      },
    });
    await addTrigger('hosted', { auth: 'anonymous', host: 'api.example.test' });
    await addTrigger('getonly', { auth: 'anonymous', methods: ['GET', 'HEAD'] });
    await addTrigger('toggled', { auth: 'anonymous' });
  });
  after(() => nimbus.close());

  describe('lambda style (function URL payload 2.0)', () => {
    it('gives a Node function the request as the function URL event, recorded as an http execution', async () => {
      const res = await call('/fn/url-echo/a/b%20c?x=1&y=2&x=3', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          cookie: 'k1=v1; k2=v2',
          'x-multi': 'one',
          'user-agent': 'nimbus-test',
        },
        body: JSON.stringify({ hello: 'world' }),
      });
      assert.equal(res.status, 200);
      const event = (await res.json()) as any;
      assert.equal(event.version, '2.0');
      assert.equal(event.routeKey, '$default');
      assert.equal(event.rawPath, '/a/b%20c');
      assert.equal(event.rawQueryString, 'x=1&y=2&x=3');
      assert.deepEqual(event.queryStringParameters, { x: '1,3', y: '2' });
      assert.deepEqual(event.cookies, ['k1=v1', 'k2=v2']);
      assert.equal(event.headers['x-multi'], 'one');
      assert.equal(event.headers['content-type'], 'application/json');
      assert.equal(event.headers.cookie, undefined);
      assert.equal(event.body, '{"hello":"world"}');
      assert.equal(event.isBase64Encoded, false);
      const ctx = event.requestContext;
      assert.equal(ctx.http.method, 'POST');
      assert.equal(ctx.http.path, '/a/b%20c');
      assert.equal(ctx.http.protocol, 'HTTP/1.1');
      assert.equal(ctx.http.userAgent, 'nimbus-test');
      assert.match(ctx.http.sourceIp, /^(127\.0\.0\.1|::1)$/);
      assert.equal(ctx.stage, '$default');
      assert.equal(typeof ctx.timeEpoch, 'number');
      assert.match(ctx.time, /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
      for (const field of ['requestId', 'domainName', 'accountId', 'apiId']) assert.ok(ctx[field], field);

      const id = res.headers.get('x-nimbus-execution-id');
      assert.ok(id);
      const record = await nimbus.executionOf(res);
      assert.equal(record.trigger, 'http');
      assert.equal(record.status, 'succeeded');
      assert.equal(JSON.parse(record.input).rawPath, '/a/b%20c');
    });

    it('maps statusCode, headers, cookies and body, and any other value to a 200 JSON body', async () => {
      const full = await call('/fn/url-echo/?as=full');
      assert.equal(full.status, 418);
      assert.equal(full.headers.get('content-type'), 'text/plain');
      assert.equal(full.headers.get('x-custom'), 'yes');
      assert.deepEqual(full.headers.getSetCookie(), ['session=abc; HttpOnly', 'theme=dark']);
      assert.equal(await full.text(), "I'm a teapot");

      const str = await call('/fn/url-echo?as=string');
      assert.equal(str.status, 200);
      assert.equal(str.headers.get('content-type'), 'application/json');
      assert.equal(await str.text(), 'hello from a string');

      const obj = await call('/fn/url-echo/?as=object');
      assert.equal(obj.status, 200);
      assert.equal(obj.headers.get('content-type'), 'application/json');
      assert.deepEqual(await obj.json(), { hello: 'object', n: 1 });

      const num = await call('/fn/url-echo/?as=number');
      assert.equal(num.status, 200);
      assert.equal(await num.text(), '42');
    });

    it('round-trips a binary body (all 256 byte values) as base64 both ways, served inline', async () => {
      const res = await call('/fn/url-echo/upload?as=binary', {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: ALL_BYTES,
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-disposition'), null);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), ALL_BYTES);
      const event = JSON.parse((await nimbus.executionOf(res)).input);
      assert.equal(event.isBase64Encoded, true);
      assert.equal(event.body, ALL_BYTES.toString('base64'));
    });

    it('answers a function error with 502 and a timeout with 504, in the one error shape', async () => {
      const failed = await call('/fn/url-echo/?as=throw');
      assert.equal(failed.status, 502);
      const body = (await failed.json()) as any;
      assert.equal(body.error.code, 'FUNCTION_ERROR');
      assert.match(body.error.message, /the URL function failed/);
      assert.equal(body.error.executionId, failed.headers.get('x-nimbus-execution-id'));
      assert.ok(body.error.requestId);

      const slow = await call('/fn/url-echo/?as=slow');
      assert.equal(slow.status, 504);
      const timeout = (await slow.json()) as any;
      assert.equal(timeout.error.code, 'FUNCTION_TIMEOUT');
      assert.ok(timeout.error.executionId);
    });

    it('answers 502 saying what is wrong when a result is not a valid HTTP response', async () => {
      for (const [as, problem] of [
        ['bad-status', /result is not a valid HTTP response/],
        ['bad-header', /response headers are not valid/],
      ] as const) {
        const res = await call(`/fn/url-echo/?as=${as}`);
        assert.equal(res.status, 502, as);
        const body = (await res.json()) as any;
        assert.equal(body.error.code, 'FUNCTION_ERROR');
        assert.match(body.error.message, problem);
        assert.equal(body.error.executionId, res.headers.get('x-nimbus-execution-id'));
      }
    });

    it('runs a Python function reading ?diskID=, by GET and by POST', async () => {
      const res = await call('/fn/snapshot?diskID=d-t4ng5a4ia2jn5memzlv3');
      assert.equal(res.status, 200);
      const body = (await res.json()) as any;
      assert.equal(body.SnapshotId, 's-t4ng5a4ia2jn5memzlv3');
      assert.equal(body.RequestId, res.headers.get('x-nimbus-execution-id'));
      assert.equal(body.method, 'GET');
      const post = await call('/fn/snapshot/?diskID=d-1', { method: 'POST' });
      assert.equal(((await post.json()) as any).method, 'POST');
      const missing = await call('/fn/snapshot/');
      assert.equal(missing.status, 400);
      assert.deepEqual(await missing.json(), { error: 'diskID is required' });
    });
  });

  describe('wsgi style (Python)', () => {
    it('serves PNG bytes inline with their content type', async () => {
      const res = await call('/fn/images/img/red.png');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.equal(res.headers.get('content-disposition'), null);
      const png = Buffer.from(await res.arrayBuffer());
      assert.deepEqual(png.subarray(0, 8), Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'));
      assert.equal(Number(res.headers.get('content-length')), png.length);
    });

    it('builds a PEP 3333 environ and serves HTML with repeated headers', async () => {
      const res = await call('/fn/images/gallery/cats?action=show&angle=90', {
        headers: { 'x-token': 'abc' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
      const html = await res.text();
      assert.match(html, /<h1>\/gallery\/cats<\/h1>/);
      const env = JSON.parse(/<pre>(.*)<\/pre>/s.exec(html)![1]!);
      assert.equal(env.REQUEST_METHOD, 'GET');
      assert.equal(env.PATH_INFO, '/gallery/cats');
      assert.equal(env.QUERY_STRING, 'action=show&angle=90');
      assert.equal(env.HTTP_X_TOKEN, 'abc');
      assert.equal(env['wsgi.url_scheme'], 'http');
      assert.ok(env.SERVER_NAME);
      assert.match(env.SERVER_PORT, /^\d+$/);
      assert.equal(env.function_name, 'images');
      assert.equal(env.request_id, res.headers.get('x-nimbus-execution-id'));
    });

    it('round-trips all 256 byte values and a 5 MB body through wsgi.input', async () => {
      const small = await call('/fn/images/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/x-custom-binary' },
        body: ALL_BYTES,
      });
      assert.equal(small.status, 201);
      assert.equal(small.headers.get('content-type'), 'application/x-custom-binary');
      assert.equal(small.headers.get('x-length'), '256');
      assert.deepEqual(Buffer.from(await small.arrayBuffer()), ALL_BYTES);

      const big = Buffer.alloc(5 * 1024 * 1024 + 123);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
      const res = await call('/fn/images/echo', { method: 'POST', body: big });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('x-sha256'), sha256(big));
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(big));
    });

    it('streams a 20 MB response (over the 6 MB sync limit) and records a summary, not the body', async () => {
      const res = await call('/fn/images/big?mb=20');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('transfer-encoding'), 'chunked');
      const { hash, bytes } = await hashStream(res);
      assert.equal(bytes, 20 * 1024 * 1024);
      assert.equal(hash, bigBodyHash(20));
      const record = await nimbus.executionOf(res);
      assert.equal(record.trigger, 'http');
      assert.equal(record.status, 'succeeded');
      const output = JSON.parse(record.output);
      assert.equal(output.status, 200);
      assert.equal(output.bytes, 20 * 1024 * 1024);
      assert.equal(output.headers['content-type'], 'application/octet-stream');
    });

    it('supports the write callable and calls close() on the returned iterable', async () => {
      const res = await call('/fn/images/write');
      assert.equal(await res.text(), 'written then iterated');
      const closed = await call('/fn/images/closed');
      assert.equal(await closed.text(), '1');
    });

    it('answers an exception with 502 and logs wsgi.errors', async () => {
      const res = await call('/fn/images/boom');
      assert.equal(res.status, 502);
      const body = (await res.json()) as any;
      assert.equal(body.error.code, 'FUNCTION_ERROR');
      assert.match(body.error.message, /ValueError: the image service failed/);
      const logs = await nimbus.request('GET', `/v1/executions/${body.error.executionId}/logs`);
      assert.match(logs.text, /about to fail/);
    });
  });

  describe('fetch style (Node)', () => {
    it('hands the handler a Request with method, URL, query and headers, and returns its Response', async () => {
      const res = await call('/fn/fetcher/items/7?color=red', { headers: { 'x-token': 'abc' } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
      const body = (await res.json()) as any;
      assert.equal(body.method, 'GET');
      assert.match(body.url, /\/items\/7\?color=red$/);
      assert.deepEqual(body.search, { color: 'red' });
      assert.equal(body.headers['x-token'], 'abc');
      assert.equal(body.requestId, res.headers.get('x-nimbus-execution-id'));
    });

    it('round-trips all 256 byte values and a 5 MB body', async () => {
      const small = await call('/fn/fetcher/echo', {
        method: 'POST',
        body: ALL_BYTES,
        headers: { 'content-type': 'image/png' },
      });
      assert.equal(small.status, 201);
      assert.equal(small.headers.get('content-type'), 'image/png');
      assert.deepEqual(Buffer.from(await small.arrayBuffer()), ALL_BYTES);
      const big = Buffer.alloc(5 * 1024 * 1024 + 7, 0xab);
      const res = await call('/fn/fetcher/echo', { method: 'PUT', body: big });
      assert.equal(res.headers.get('x-sha256'), sha256(big));
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(big));
    });

    it('streams a 20 MB response body', async () => {
      const res = await call('/fn/fetcher/big?mb=20');
      assert.equal(res.status, 200);
      const { hash, bytes } = await hashStream(res);
      assert.equal(bytes, 20 * 1024 * 1024);
      assert.equal(hash, bigBodyHash(20));
      const output = JSON.parse((await nimbus.executionOf(res)).output);
      assert.equal(output.bytes, 20 * 1024 * 1024);
    });

    it('answers a thrown error or a value that is not a Response with 502', async () => {
      const boom = await call('/fn/fetcher/boom');
      assert.equal(boom.status, 502);
      assert.match(((await boom.json()) as any).error.message, /fetch handler failed/);
      const wrong = await call('/fn/fetcher/not-a-response');
      assert.equal(wrong.status, 502);
      assert.match(((await wrong.json()) as any).error.message, /must return a Response/);
    });
  });

  describe('clients that go away', () => {
    for (const fn of ['images', 'fetcher']) {
      it(`stops the ${fn === 'images' ? 'wsgi' : 'fetch'} function's body and keeps the instance when the client disconnects`, async () => {
        const abort = new AbortController();
        const res = await call(`/fn/${fn}/big?mb=60`, { signal: abort.signal });
        const id = res.headers.get('x-nimbus-execution-id');
        const reader = res.body!.getReader();
        await reader.read();
        abort.abort();
        let record: any;
        await waitFor(async () => {
          record = (await nimbus.request('GET', `/v1/executions/${id}`)).body;
          return record.status !== 'running';
        }, 'the cut-off execution to end');
        assert.equal(record.status, 'succeeded');
        const summary = JSON.parse(record.output);
        assert.ok(summary.bytes < 60 * 1024 * 1024);
        assert.match(summary.cut, /client closed the connection/);
        const again = await call(`/fn/${fn}/echo`, { method: 'POST', body: ALL_BYTES });
        assert.equal(again.status, 201);
        assert.deepEqual(Buffer.from(await again.arrayBuffer()), ALL_BYTES);
      });
    }
  });

  describe('request limits', () => {
    it('refuses a body over 6 MB with 413 and a message', async () => {
      const res = await call('/fn/url-echo/', { method: 'POST', body: Buffer.alloc(6 * 1024 * 1024 + 1) });
      assert.equal(res.status, 413);
      const body = (await res.json()) as any;
      assert.equal(body.error.code, 'PAYLOAD_TOO_LARGE');
      assert.match(body.error.message, /6 MB/);
    });
  });

  describe('key auth', () => {
    it('accepts the trigger key as a bearer token and hides it from the function', async () => {
      const res = await call('/fn/secured/x', { headers: { authorization: `Bearer ${keys.secured}` } });
      assert.equal(res.status, 200);
      const event = (await res.json()) as any;
      assert.equal(event.headers.authorization, undefined);
      const record = await nimbus.executionOf(res);
      assert.ok(!record.input.includes(keys.secured!));
    });

    it('refuses a missing key, a wrong key and the admin key with 401', async () => {
      const attempts: Record<string, string>[] = [
        {},
        { authorization: 'Bearer nhk_wrong' },
        { authorization: `Bearer ${nimbus.key}` },
      ];
      for (const headers of attempts) {
        const res = await call('/fn/secured/x', { headers });
        assert.equal(res.status, 401);
        const body = (await res.json()) as any;
        assert.equal(body.error.code, 'UNAUTHORIZED');
        assert.ok(body.error.requestId);
      }
    });

    it('accepts a signed URL, and refuses it tampered (401) or expired (403)', async () => {
      const signed = await nimbus.request('POST', `/v1/triggers/${triggerIds.secured}/sign`, {
        json: { method: 'GET', path: '/report?day=1', expiresInSec: 600 },
      });
      assert.equal(signed.status, 200, signed.text);
      assert.ok(Date.parse(signed.body.expiresAt) > Date.now());
      const url = new URL(signed.body.url);
      assert.equal(url.pathname, '/fn/secured/report');
      const ok = await call(url.pathname + url.search);
      assert.equal(ok.status, 200);
      const event = (await ok.json()) as any;
      assert.deepEqual(event.queryStringParameters, { day: '1' });
      assert.equal(event.rawQueryString, 'day=1');

      const tampered = await call(url.pathname + url.search.replace('day=1', 'day=2'));
      assert.equal(tampered.status, 401);
      const otherPath = await call(`/fn/secured/other${url.search}`);
      assert.equal(otherPath.status, 401);
      const otherMethod = await call(url.pathname + url.search, { method: 'POST' });
      assert.equal(otherMethod.status, 401);

      const expires = Math.floor(Date.now() / 1000) - 10;
      const signature = createHmac('sha256', keys.secured!).update(`GET\n/report\n${expires}`).digest('hex');
      const expired = await call(
        `/fn/secured/report?nimbus-expires=${expires}&nimbus-signature=${signature}`,
      );
      assert.equal(expired.status, 403);
      const body = (await expired.json()) as any;
      assert.equal(body.error.code, 'SIGNED_URL_EXPIRED');
      assert.match(body.error.message, /expired/);
    });

    it('signs URLs from the CLI', async () => {
      const env = {
        ...process.env,
        NIMBUS_URL: nimbus.url,
        NIMBUS_KEY: nimbus.key,
        XDG_CONFIG_HOME: nimbus.dataDir,
      };
      const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [
            join(REPO_ROOT, 'dist/src/cli/main.js'),
            'triggers',
            'sign',
            triggerIds.secured!,
            '--path',
            '/x',
            '--method',
            'GET',
            '--expires',
            '3600',
          ],
          { env, timeout: 30_000 },
          (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
        );
      });
      assert.equal(out.code, 0, out.stderr);
      const url = new URL(out.stdout.trim());
      assert.equal((await call(url.pathname + url.search)).status, 200);
    });
  });

  describe('CORS', () => {
    it('answers a preflight itself, without calling the function', async () => {
      const before = await nimbus.request('GET', '/v1/executions?function=browser');
      const res = await call('/fn/browser/api', {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example.com',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com');
      assert.equal(res.headers.get('access-control-allow-methods'), 'GET, POST');
      assert.equal(res.headers.get('access-control-allow-headers'), 'content-type, x-token');
      assert.equal(res.headers.get('access-control-max-age'), '600');
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      const after = await nimbus.request('GET', '/v1/executions?function=browser');
      assert.equal(after.body.executions.length, before.body.executions.length);

      const stranger = await call('/fn/browser/api', {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
      });
      assert.equal(stranger.status, 204);
      assert.equal(stranger.headers.get('access-control-allow-origin'), null);
    });

    it('adds CORS headers to responses for allowed origins only', async () => {
      const allowed = await call('/fn/browser/api', { headers: { origin: 'https://app.example.com' } });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com');
      assert.equal(allowed.headers.get('access-control-expose-headers'), 'x-nimbus-execution-id');
      assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
      const other = await call('/fn/browser/api', { headers: { origin: 'https://evil.example.com' } });
      assert.equal(other.status, 200);
      assert.equal(other.headers.get('access-control-allow-origin'), null);
    });
  });

  describe('routing', () => {
    it('answers a method the trigger does not accept with 405 and Allow', async () => {
      const res = await call('/fn/getonly/x', { method: 'DELETE' });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      assert.equal(((await res.json()) as any).error.code, 'METHOD_NOT_ALLOWED');
      const head = await call('/fn/getonly/x', { method: 'HEAD' });
      assert.equal(head.status, 200);
    });

    it('serves a trigger on its host name at any path', async () => {
      const port = Number(new URL(nimbus.url).port);
      const res = await rawGet(nimbus.url, '/any/path?q=1', { host: `api.example.test:${port}` });
      assert.equal(res.status, 200);
      const event = JSON.parse(res.text);
      assert.equal(event.rawPath, '/any/path');
      assert.equal(event.rawQueryString, 'q=1');
      assert.equal(event.requestContext.domainName, `api.example.test:${port}`);
    });

    it('answers 404 for unknown functions, disabled and deleted triggers', async () => {
      const unknown = await call('/fn/no-such-function/');
      assert.equal(unknown.status, 404);
      assert.equal(((await unknown.json()) as any).error.code, 'ROUTE_NOT_FOUND');

      assert.equal((await call('/fn/toggled/')).status, 200);
      const off = await nimbus.request('PATCH', `/v1/triggers/${triggerIds.toggled}`, {
        json: { enabled: false },
      });
      assert.equal(off.status, 200, off.text);
      assert.equal((await call('/fn/toggled/')).status, 404);
      await nimbus.request('PATCH', `/v1/triggers/${triggerIds.toggled}`, { json: { enabled: true } });
      assert.equal((await call('/fn/toggled/')).status, 200);
      const del = await nimbus.request('DELETE', `/v1/triggers/${triggerIds.toggled}`);
      assert.equal(del.status, 204);
      assert.equal((await call('/fn/toggled/')).status, 404);
    });

    it('leaves the API and the invoke front door as they were', async () => {
      const health = await nimbus.request('GET', '/v1/health', { auth: null });
      assert.equal(health.status, 200);
      const invoked = await nimbus.invoke('url-echo', { queryStringParameters: { as: 'number' } });
      assert.equal(invoked.status, 200);
      assert.equal(invoked.body, 42);
    });
  });
});

describe('HTTP triggers across a restart', () => {
  it('serves the triggers stored before the server started', async () => {
    let nimbus = await startTestServer();
    try {
      await nimbus.deploy('kept', 'node-url-echo', 'nodejs', 'index.handler');
      const made = await nimbus.request('POST', '/v1/functions/kept/triggers', {
        json: { type: 'http', auth: 'anonymous', host: 'kept.example.test' },
      });
      assert.equal(made.status, 201, made.text);
      nimbus = await nimbus.restart();
      const res = await fetch(`${nimbus.url}/fn/kept/?as=object`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { hello: 'object', n: 1 });
    } finally {
      await nimbus.close();
    }
  });
});
