/**
 * The native REST API: every route's happy path and bad inputs, auth, the error shape,
 * hostile code archives, deletion, and records surviving a server restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { rawZip, zipOfFiles } from './helpers/raw-zip.js';
import { FIXTURES, startTestServer, type TestServer } from './helpers/harness.js';
import { join } from 'node:path';

const zipOf = zipOfFiles;

const PY = { 'main.py': 'def handler(event, context):\n    return {"v": 1}\n' };

describe('REST API', () => {
  let nimbus: TestServer;
  let zip: Buffer;
  before(async () => {
    nimbus = await startTestServer();
    zip = await zipOf(PY);
  });
  after(() => nimbus.close());

  const create = (body: Record<string, unknown>) =>
    nimbus.request('POST', '/v1/functions', {
      json: {
        runtime: 'python3',
        handler: 'main.handler',
        code: { zipBase64: zip.toString('base64') },
        ...body,
      },
    });

  it('answers health without a key and everything else only with the right key', async () => {
    const health = await nimbus.request('GET', '/v1/health', { auth: null });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const missing = await nimbus.request('GET', '/v1/functions', { auth: null });
    assert.equal(missing.status, 401);
    assert.equal(missing.body.error.code, 'UNAUTHORIZED');
    const wrong = await nimbus.request('GET', '/v1/functions', { auth: 'not-the-key' });
    assert.equal(wrong.status, 401);
    const invoke = await nimbus.request('POST', '/v1/functions/x/invoke', { auth: null, json: {} });
    assert.equal(invoke.status, 401);
  });

  it('serves an OpenAPI document listing the routes', async () => {
    const res = await nimbus.request('GET', '/v1/openapi.json', { auth: null });
    assert.equal(res.status, 200);
    assert.equal(res.body.openapi, '3.1.0');
    for (const path of [
      '/v1/functions',
      '/v1/functions/{name}/invoke',
      '/v1/executions/{id}/logs',
      '/v1/functions/{name}/triggers',
      '/v1/triggers/{id}',
      '/v1/triggers/{id}/next',
      '/v1/triggers/{id}/sign',
      '/v1/dead-letters/{id}/replay',
    ]) {
      assert.ok(res.body.paths[path], path);
    }
  });

  it('creates, reads, lists, updates and deletes a function', async () => {
    const created = await create({
      name: 'crud',
      memoryMb: 256,
      env: { SECRET_TOKEN: 's3cr3t' },
      description: 'd',
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.memoryMb, 256);
    assert.equal(created.body.timeoutSec, 5);
    assert.match(created.body.codeSha256, /^[0-9a-f]{64}$/);

    const got = await nimbus.request('GET', '/v1/functions/crud');
    assert.equal(got.status, 200);
    assert.equal(got.body.env.SECRET_TOKEN, 's3cr3t');

    const list = await nimbus.request('GET', '/v1/functions');
    const listed = list.body.functions.find((f: { name: string }) => f.name === 'crud');
    assert.deepEqual(listed.envKeys, ['SECRET_TOKEN']);
    assert.ok(!list.text.includes('s3cr3t'), 'listings never show variable values');

    const patched = await nimbus.request('PATCH', '/v1/functions/crud', { json: { timeoutSec: 30 } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.timeoutSec, 30);
    assert.equal(patched.body.memoryMb, 256, 'unspecified fields keep their values');

    const newZip = await zipOf({ 'main.py': 'def handler(event, context):\n    return {"v": 2}\n' });
    const code = await nimbus.request('PUT', '/v1/functions/crud/code', {
      body: newZip,
      headers: { 'content-type': 'application/zip' },
    });
    assert.equal(code.status, 200, code.text);
    assert.notEqual(code.body.codeSha256, created.body.codeSha256);
    const invoked = await nimbus.invoke('crud', {});
    assert.deepEqual(invoked.body, { v: 2 });

    const deleted = await nimbus.request('DELETE', '/v1/functions/crud');
    assert.equal(deleted.status, 204);
    assert.equal((await nimbus.request('GET', '/v1/functions/crud')).status, 404);
    const past = await nimbus.request(
      'GET',
      `/v1/executions/${invoked.headers.get('x-nimbus-execution-id')}`,
    );
    assert.equal(past.status, 200, 'execution records outlive their function');
    assert.equal(past.body.functionName, 'crud');
  });

  it('redeploys identical code to the same content address', async () => {
    const a = await create({ name: 'same-a' });
    const b = await create({ name: 'same-b' });
    assert.equal(a.body.codeSha256, b.body.codeSha256);
  });

  it('rejects bad function definitions with 400 and a message saying what to fix', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ name: 'Bad_Name' }, /function name 'Bad_Name' is invalid/],
      [{ name: '-x' }, /invalid/],
      [{ name: 'a'.repeat(64) }, /invalid/],
      [{ name: 'ok1', runtime: 'ruby' }, /runtime/],
      [{ name: 'ok2', handler: 'nodot' }, /handler 'nodot' is invalid/],
      [
        { name: 'ok3', handler: 'missing.handler' },
        /module 'missing', which is not in the package: looked for missing\.py/,
      ],
      [{ name: 'ok4', memoryMb: 32 }, /memoryMb must be a whole number from 64 to 10240/],
      [{ name: 'ok5', timeoutSec: 901 }, /timeoutSec must be a whole number from 1 to 900/],
      [{ name: 'ok6', env: { '1BAD': 'x' } }, /environment variable name '1BAD' is invalid/],
      [{ name: 'ok7', env: { NIMBUS_X: 'x' } }, /reserved/],
      [{ name: 'ok8', env: { A: 'x'.repeat(5000) } }, /limit is 4096 bytes/],
      [{ name: 'ok9', unknownField: 1 }, /unknownField|Unrecognized/i],
      [{ name: 'ok10', memoryMb: 'lots' }, /memoryMb/],
    ];
    for (const [body, message] of cases) {
      const res = await create(body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.text}`);
      assert.equal(typeof res.body.error.code, 'string');
      assert.match(res.body.error.message, message, JSON.stringify(body));
    }
    const noCode = await nimbus.request('POST', '/v1/functions', {
      json: { name: 'nocode', runtime: 'python3', handler: 'main.handler' },
    });
    assert.equal(noCode.status, 400);
    assert.match(noCode.body.error.message, /code/);
    const notJson = await nimbus.request('POST', '/v1/functions', {
      body: '{"name": ',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'INVALID_JSON');
    assert.equal(
      (await nimbus.request('GET', '/v1/functions')).body.functions.some((f: { name: string }) =>
        f.name.startsWith('ok'),
      ),
      false,
    );
  });

  it('rejects a duplicate name with 409', async () => {
    assert.equal((await create({ name: 'dupe' })).status, 201);
    const again = await create({ name: 'dupe' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'FUNCTION_EXISTS');
  });

  it('rejects hostile archives and stores nothing', async () => {
    const hostile: [string, Buffer][] = [
      [
        'path escape',
        rawZip([
          { name: '../evil.py', data: 'x' },
          { name: 'main.py', data: PY['main.py'] },
        ]),
      ],
      [
        'absolute path',
        rawZip([
          { name: '/etc/evil.py', data: 'x' },
          { name: 'main.py', data: PY['main.py'] },
        ]),
      ],
      [
        'link out',
        rawZip([
          { name: 'link', data: '/etc/passwd', mode: 0o120777 },
          { name: 'main.py', data: PY['main.py'] },
        ]),
      ],
      ['not a zip', Buffer.from('definitely not a zip archive')],
    ];
    for (const [what, bytes] of hostile) {
      const res = await nimbus.request('POST', '/v1/functions', {
        json: {
          name: 'hostile',
          runtime: 'python3',
          handler: 'main.handler',
          code: { zipBase64: bytes.toString('base64') },
        },
      });
      assert.equal(res.status, 400, `${what}: ${res.text}`);
      assert.equal(res.body.error.code, 'INVALID_ARCHIVE', what);
    }
    assert.equal((await nimbus.request('GET', '/v1/functions/hostile')).status, 404);
  });

  it('rejects an oversize archive with 413', async () => {
    const big = Buffer.alloc(51 * 1024 * 1024, 1);
    const res = await nimbus.request('PUT', '/v1/functions/dupe/code', {
      body: big,
      headers: { 'content-type': 'application/zip' },
    });
    assert.equal(res.status, 413);
    assert.match(res.body.error.message, /50 MB/);
  });

  it('rejects an event over 6 MB with 413 and invalid JSON events with 400', async () => {
    const big = await nimbus.request('POST', '/v1/functions/dupe/invoke', {
      body: JSON.stringify({ blob: 'x'.repeat(6 * 1024 * 1024 + 10) }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(big.status, 413);
    assert.match(big.body.error.message, /6 MB/);
    const bad = await nimbus.request('POST', '/v1/functions/dupe/invoke', {
      body: '{oops',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'INVALID_JSON');
  });

  it('answers 404 with a hint for unknown functions, executions and routes', async () => {
    for (const [method, path] of [
      ['GET', '/v1/functions/nope'],
      ['PATCH', '/v1/functions/nope'],
      ['DELETE', '/v1/functions/nope'],
      ['POST', '/v1/functions/nope/invoke'],
      ['GET', '/v1/executions/nope'],
      ['GET', '/v1/executions/nope/logs'],
      ['GET', '/v1/functions/nope/logs'],
      ['GET', '/v1/nothing-here'],
    ] as const) {
      const res = await nimbus.request(method, path, method === 'PATCH' ? { json: { timeoutSec: 3 } } : {});
      assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
      assert.ok(res.body.error.message.length > 10);
    }
  });

  it('rejects bad update and query inputs', async () => {
    const patch = await nimbus.request('PATCH', '/v1/functions/dupe', { json: { memoryMb: 99999 } });
    assert.equal(patch.status, 400);
    const patchUnknown = await nimbus.request('PATCH', '/v1/functions/dupe', { json: { name: 'rename' } });
    assert.equal(patchUnknown.status, 400);
    const handler = await nimbus.request('PATCH', '/v1/functions/dupe', {
      json: { handler: 'other.handler' },
    });
    assert.equal(handler.status, 400);
    assert.match(handler.body.error.message, /module 'other', which is not in the package/);
    const emptyCode = await nimbus.request('PUT', '/v1/functions/dupe/code', {
      body: Buffer.alloc(0),
      headers: { 'content-type': 'application/zip' },
    });
    assert.equal(emptyCode.status, 400);
    const limit = await nimbus.request('GET', '/v1/executions?limit=0');
    assert.equal(limit.status, 400);
    const status = await nimbus.request('GET', '/v1/executions?status=weird');
    assert.equal(status.status, 400);
  });

  it('lists executions by function, newest first, with status and trigger', async () => {
    await create({ name: 'listed' });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await nimbus.invoke('listed', { i })).headers.get('x-nimbus-execution-id')!);
    const cli = await nimbus.request('POST', '/v1/functions/listed/invoke', {
      json: {},
      headers: { 'x-nimbus-trigger': 'cli' },
    });
    ids.push(cli.headers.get('x-nimbus-execution-id')!);
    const res = await nimbus.request('GET', '/v1/executions?function=listed');
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.executions.map((e: { id: string }) => e.id),
      [...ids].reverse(),
    );
    const [newest, , , oldest] = res.body.executions;
    assert.equal(newest.trigger, 'cli');
    assert.equal(oldest.trigger, 'api');
    assert.equal(oldest.coldStart, true);
    assert.equal(oldest.status, 'succeeded');
    assert.equal(typeof oldest.durationMs, 'number');
    assert.equal(oldest.input, '{"i":0}');
    assert.equal(oldest.output, '{"v": 1}');
  });
});

describe('server restart', () => {
  it('keeps functions and execution records', async () => {
    let nimbus = await startTestServer();
    try {
      const zip = await packDirectory(join(FIXTURES, 'python-lambda'));
      const created = await nimbus.request('POST', '/v1/functions', {
        json: {
          name: 'durable',
          runtime: 'python3',
          handler: 'main.handler',
          code: { zipBase64: zip.toString('base64') },
        },
      });
      assert.equal(created.status, 201);
      const first = await nimbus.invoke('durable', { name: 'before' });
      const id = first.headers.get('x-nimbus-execution-id');
      const key = nimbus.key;
      nimbus = await nimbus.restart();
      assert.equal(nimbus.key, key, 'the generated admin key is kept');
      const fn = await nimbus.request('GET', '/v1/functions/durable');
      assert.equal(fn.status, 200);
      const record = await nimbus.request('GET', `/v1/executions/${id}`);
      assert.equal(record.status, 200);
      assert.equal(record.body.status, 'succeeded');
      const logs = await nimbus.request('GET', `/v1/executions/${id}/logs`);
      assert.ok(logs.body.lines.some((l: { message: string }) => l.message.includes('name=before')));
      const again = await nimbus.invoke('durable', { name: 'after' });
      assert.equal(again.status, 200);
      assert.equal(again.body.greeting, 'Hello, after!');
    } finally {
      await nimbus.close();
    }
  });
});
