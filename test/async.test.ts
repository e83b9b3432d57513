/**
 * Asynchronous invocation through the public API and the CLI, against real servers and sandboxes:
 * 202 and the queued record, limits (1 MB, full queue), retries with backoff, dead letters and their
 * replay, maximum event age, destinations (a function and an HTTP URL), and no call lost when the
 * server is killed with SIGKILL mid-queue.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { FIXTURES, startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { BIN, runCli } from './helpers/cli.js';

const ASYNC = { 'x-nimbus-invocation-type': 'async' };
const RETRY_BASE_MS = 200;

function invokeAsync(nimbus: TestServer, name: string, event: unknown, type = 'async') {
  return nimbus.request('POST', `/v1/functions/${name}/invoke`, {
    json: event,
    headers: { 'x-nimbus-invocation-type': type },
  });
}

async function execution(nimbus: TestServer, id: string): Promise<any> {
  const res = await nimbus.request('GET', `/v1/executions/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** Polls the execution until its status is one of `statuses`; returns the record. */
async function settled(nimbus: TestServer, id: string, statuses: string[], ms = 30_000): Promise<any> {
  let record: any;
  await waitFor(
    async () => {
      record = await execution(nimbus, id);
      return statuses.includes(record.status);
    },
    `execution ${id} to become ${statuses.join(' or ')} (last: ${record?.status})`,
    ms,
  );
  return record;
}

/** The times each attempt printed (`attempt at <ms>`), in order. */
async function attemptTimes(nimbus: TestServer, id: string): Promise<number[]> {
  const logs = await nimbus.request('GET', `/v1/executions/${id}/logs`);
  return (logs.body.lines as { message: string }[])
    .map((l) => /attempt at (\d+)/.exec(l.message)?.[1])
    .filter((t): t is string => t !== undefined)
    .map(Number);
}

describe('asynchronous invocation', () => {
  let nimbus: TestServer;
  let hook: Server;
  let hookUrl: string;
  const received: any[] = [];

  before(async () => {
    // Another region and account than the defaults: destination records carry the server's.
    nimbus = await startTestServer({
      asyncRetryBaseMs: RETRY_BASE_MS,
      region: 'sa-east-1',
      accountId: '111122223333',
    });
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ path: req.url, type: req.headers['content-type'], body: JSON.parse(body) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    await nimbus.deploy('echo', 'node-async', 'nodejs', 'index.handler');
  });
  after(async () => {
    await nimbus.close();
    await new Promise((resolve) => hook.close(resolve));
  });

  it('answers 202 with an execution id at once; the record is readable while queued and ends succeeded', async () => {
    const res = await invokeAsync(nimbus, 'echo', { name: 'Ada' });
    assert.equal(res.status, 202, res.text);
    const id = res.body.executionId;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('x-nimbus-execution-id'), id);
    const early = await execution(nimbus, id);
    assert.ok(['queued', 'running', 'succeeded'].includes(early.status), early.status);
    assert.equal(early.invocationType, 'async');

    const done = await settled(nimbus, id, ['succeeded']);
    assert.deepEqual(JSON.parse(done.output), { ok: true, event: { name: 'Ada' } });
    assert.equal(done.attempts, 1);
    assert.equal(done.trigger, 'api');
    assert.equal(done.outcome, 'succeeded');

    // Lambda's word for it, in any case; a sync call is marked as such.
    const event = await invokeAsync(nimbus, 'echo', { n: 2 }, 'EVENT');
    assert.equal(event.status, 202, event.text);
    await settled(nimbus, event.body.executionId, ['succeeded']);
    const sync = await nimbus.invoke('echo', { n: 3 });
    assert.equal(sync.status, 200);
    const syncRecord = await nimbus.executionOf(sync);
    assert.equal(syncRecord.invocationType, 'sync');
    assert.equal(syncRecord.attempts, 1);
    const listed = await nimbus.request('GET', '/v1/executions?function=echo&status=succeeded');
    assert.ok(listed.body.executions.some((e: any) => e.id === id));
  });

  it('refuses bad calls before queuing: 413 over 1 MB, 404, 400 for bad JSON or header', async () => {
    const big = await nimbus.request('POST', '/v1/functions/echo/invoke', {
      body: JSON.stringify({ data: 'x'.repeat(1024 * 1024) }),
      headers: { ...ASYNC, 'content-type': 'application/json' },
    });
    assert.equal(big.status, 413, big.text);
    assert.equal(big.body.error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(big.body.error.message, /1 MB for an asynchronous invocation/);

    const missing = await invokeAsync(nimbus, 'no-such-fn', {});
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'FUNCTION_NOT_FOUND');

    const badJson = await nimbus.request('POST', '/v1/functions/echo/invoke', {
      body: '{not json',
      headers: ASYNC,
    });
    assert.equal(badJson.status, 400);
    assert.equal(badJson.body.error.code, 'INVALID_JSON');

    const badType = await invokeAsync(nimbus, 'echo', {}, 'later');
    assert.equal(badType.status, 400);
    assert.match(badType.body.error.message, /x-nimbus-invocation-type must be/);
  });

  it('validates async settings with messages that say what to fix, and shows them', async () => {
    const bad = async (async: unknown, pattern: RegExp) => {
      const res = await nimbus.request('PATCH', '/v1/functions/echo', { json: { async } });
      assert.equal(res.status, 400, res.text);
      assert.match(res.body.error.message, pattern);
    };
    await bad({ maxRetries: 9 }, /async\.maxRetries must be a whole number from 0 to 8/);
    await bad({ maxEventAgeSec: 30 }, /async\.maxEventAgeSec must be a whole number from 60 to 21600/);
    await bad({ onSuccess: { type: 'function', name: 'nope' } }, /'nope', which does not exist/);
    await bad({ onFailure: { type: 'http', url: 'ftp://example.com' } }, /give an absolute http/);
    await bad({ onFailure: { type: 'queue', name: 'x' } }, /onFailure/);

    const ok = await nimbus.request('PATCH', '/v1/functions/echo', {
      json: { async: { maxRetries: 1, onFailure: { type: 'http', url: hookUrl } } },
    });
    assert.equal(ok.status, 200, ok.text);
    const got = await nimbus.request('GET', '/v1/functions/echo');
    assert.deepEqual(got.body.async, {
      maxRetries: 1,
      maxEventAgeSec: 21600,
      onSuccess: null,
      onFailure: { type: 'http', url: hookUrl },
    });
    const cleared = await nimbus.request('PATCH', '/v1/functions/echo', {
      json: { async: { maxRetries: 2, onFailure: null } },
    });
    assert.equal(cleared.body.async.onFailure, null);
  });

  it('retries a failing call with backoff, ends failed, and keeps a dead letter that replays once fixed', async () => {
    await nimbus.deploy('flaky', 'node-async', 'nodejs', 'index.handler', {
      env: { FAIL: '1' },
      async: { maxRetries: 2 },
    });
    const res = await invokeAsync(nimbus, 'flaky', { order: 7 });
    assert.equal(res.status, 202);
    const id = res.body.executionId;
    const failed = await settled(nimbus, id, ['failed', 'expired']);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.attempts, 3);
    assert.equal(failed.outcome, 'function_error');
    assert.match(failed.error.message, /failing on purpose/);

    // Each retry waits at least the base delay, doubled per retry (jitter only adds).
    const times = await attemptTimes(nimbus, id);
    assert.equal(times.length, 3, `one log line per attempt: ${times.join(', ')}`);
    assert.ok(times[1]! - times[0]! >= RETRY_BASE_MS, `first retry after ${times[1]! - times[0]!} ms`);
    assert.ok(times[2]! - times[1]! >= RETRY_BASE_MS * 2, `second retry after ${times[2]! - times[1]!} ms`);

    const list = await nimbus.request('GET', '/v1/dead-letters?function=flaky');
    assert.equal(list.status, 200);
    assert.equal(list.body.deadLetters.length, 1);
    const letter = list.body.deadLetters[0];
    assert.equal(letter.id, id);
    assert.equal(letter.condition, 'RetriesExhausted');
    assert.equal(letter.attempts, 3);
    assert.deepEqual(letter.payload, { order: 7 });
    assert.match(letter.error.message, /failing on purpose/);
    const one = await nimbus.request('GET', `/v1/dead-letters/${id}`);
    assert.equal(one.status, 200);
    assert.ok(one.body.enqueuedAt <= one.body.failedAt);
    const others = await nimbus.request('GET', '/v1/dead-letters?function=echo');
    assert.equal(others.body.deadLetters.length, 0);

    // Fix the function, then replay: a new execution, and the dead letter says so.
    const fixed = await nimbus.request('PATCH', '/v1/functions/flaky', { json: { env: {} } });
    assert.equal(fixed.status, 200);
    const replay = await nimbus.request('POST', `/v1/dead-letters/${id}/replay`);
    assert.equal(replay.status, 202, replay.text);
    const again = replay.body.executionId;
    assert.notEqual(again, id);
    const ok = await settled(nimbus, again, ['succeeded', 'failed']);
    assert.equal(ok.status, 'succeeded');
    assert.deepEqual(JSON.parse(ok.output).event, { order: 7 });
    const marked = await nimbus.request('GET', `/v1/dead-letters/${id}`);
    assert.equal(marked.body.replayExecutionId, again);
    assert.ok(marked.body.replayedAt);

    assert.equal((await nimbus.request('DELETE', `/v1/dead-letters/${id}`)).status, 204);
    const gone = await nimbus.request('GET', `/v1/dead-letters/${id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'DEAD_LETTER_NOT_FOUND');
    assert.equal((await nimbus.request('POST', `/v1/dead-letters/${id}/replay`)).status, 404);
  });

  it('sends Lambda-shaped records to an on-success function and an on-failure URL', async () => {
    await nimbus.deploy('sink', 'node-async', 'nodejs', 'index.handler');
    await nimbus.deploy('source', 'node-async', 'nodejs', 'index.handler', {
      async: {
        maxRetries: 0,
        onSuccess: { type: 'function', name: 'sink' },
        onFailure: { type: 'http', url: hookUrl },
      },
    });

    const ok = await invokeAsync(nimbus, 'source', { good: true });
    await settled(nimbus, ok.body.executionId, ['succeeded']);
    let delivered: any;
    await waitFor(async () => {
      const list = await nimbus.request('GET', '/v1/executions?function=sink');
      delivered = list.body.executions.find((e: any) => e.status === 'succeeded');
      return delivered !== undefined;
    }, 'the on-success destination function to run');
    assert.equal(delivered.trigger, 'destination');
    assert.equal(delivered.invocationType, 'async');
    const record = JSON.parse(delivered.input);
    assert.equal(record.version, '1.0');
    assert.ok(!Number.isNaN(Date.parse(record.timestamp)));
    assert.equal(record.requestContext.requestId, ok.body.executionId);
    assert.equal(record.requestContext.condition, 'Success');
    assert.equal(record.requestContext.approximateInvokeCount, 1);
    assert.equal(
      record.requestContext.functionArn,
      'arn:aws:lambda:sa-east-1:111122223333:function:source:$LATEST',
    );
    assert.deepEqual(record.requestPayload, { good: true });
    assert.deepEqual(record.responseContext, { statusCode: 200, executedVersion: '$LATEST' });
    assert.deepEqual(record.responsePayload, { ok: true, event: { good: true } });

    const bad = await invokeAsync(nimbus, 'source', { fail: true });
    await settled(nimbus, bad.body.executionId, ['failed']);
    await waitFor(
      async () => received.some((r) => r.body.requestContext?.requestId === bad.body.executionId),
      'the on-failure POST',
    );
    const posted = received.find((r) => r.body.requestContext.requestId === bad.body.executionId);
    assert.equal(posted.path, '/hook');
    assert.match(posted.type, /application\/json/);
    assert.equal(posted.body.requestContext.condition, 'RetriesExhausted');
    assert.equal(
      posted.body.requestContext.functionArn,
      'arn:aws:lambda:sa-east-1:111122223333:function:source:$LATEST',
    );
    assert.equal(posted.body.requestContext.approximateInvokeCount, 1);
    assert.deepEqual(posted.body.requestPayload, { fail: true });
    assert.equal(posted.body.responseContext.functionError, 'Unhandled');
    assert.equal(posted.body.responseContext.statusCode, 200);
    assert.equal(posted.body.responsePayload.errorType, 'Error');
    assert.match(posted.body.responsePayload.errorMessage, /failing on purpose/);
  });

  it('works from the CLI: invoke --async prints the id; dead-letters list, get, replay and delete', async () => {
    const env = {
      ...process.env,
      NIMBUS_URL: nimbus.url,
      NIMBUS_KEY: nimbus.key,
      XDG_CONFIG_HOME: nimbus.dataDir,
    };
    const run = (...args: string[]) => runCli(env, args);
    const deploy = await run(
      'deploy',
      join(FIXTURES, 'node-async'),
      '--name',
      'cli-async',
      '--runtime',
      'nodejs',
      '--handler',
      'index.handler',
      '--env',
      'FAIL=1',
      '--async-retries',
      '0',
      '--async-max-age',
      '3600',
      '--on-failure',
      hookUrl,
    );
    assert.equal(deploy.code, 0, deploy.stderr);
    const shown = await run('functions', 'get', 'cli-async');
    assert.match(shown.stdout, /async\s+0 retries, max event age 3600 s/);
    assert.match(shown.stdout, new RegExp(`on failure\\s+${hookUrl}`));
    const badDest = await run('functions', 'update', 'cli-async', '--on-success', 'queue:x');
    assert.notEqual(badDest.code, 0);
    assert.match(badDest.stderr, /function:NAME, an http\(s\):\/\/ URL, or none/);

    const invoked = await run('invoke', 'cli-async', '--async', '--data', '{"via":"cli"}');
    assert.equal(invoked.code, 0, invoked.stderr);
    const id = invoked.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    const record = await settled(nimbus, id, ['failed']);
    assert.equal(record.trigger, 'cli');

    const list = await run('dead-letters', 'list', 'cli-async');
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      new RegExp(`${id}\\s+cli-async\\s+RetriesExhausted\\s+1\\s+Error: failing on purpose`),
    );
    const get = await run('dead-letters', 'get', id);
    assert.match(get.stdout, /payload\s+\{"via":"cli"\}/);
    assert.equal((await run('functions', 'update', 'cli-async', '--env', 'FAIL=0')).code, 0);
    const replay = await run('dead-letters', 'replay', id);
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal((await settled(nimbus, replay.stdout.trim(), ['succeeded', 'failed'])).status, 'succeeded');
    const executions = await run('executions', 'cli-async');
    assert.match(
      executions.stdout,
      new RegExp(`${replay.stdout.trim()}\\s+succeeded.*\\s+cli\\s+async\\s+1`),
    );
    assert.equal((await run('dead-letters', 'delete', id)).code, 0);
    assert.match((await run('dead-letters', 'get', id)).stderr, /DEAD_LETTER_NOT_FOUND/);
  });
});

describe('asynchronous invocation: queue bound and event age', () => {
  let nimbus: TestServer;
  before(async () => {
    // Retries two minutes apart: past a 60 s maximum event age, so a failed call expires at once.
    nimbus = await startTestServer({ asyncQueueMax: 2, asyncRetryBaseMs: 120_000 });
    await nimbus.deploy('slow', 'node-async', 'nodejs', 'index.handler', {
      concurrency: 4,
      async: { maxEventAgeSec: 60 },
    });
  });
  after(() => nimbus.close());

  it('answers 429 when the queue is full and queues again once it drains', async () => {
    const first = await invokeAsync(nimbus, 'slow', { sleepMs: 3000 });
    const second = await invokeAsync(nimbus, 'slow', { sleepMs: 3000 });
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    const third = await invokeAsync(nimbus, 'slow', { sleepMs: 1 });
    assert.equal(third.status, 429, third.text);
    assert.equal(third.body.error.code, 'TOO_MANY_REQUESTS');
    assert.match(third.body.error.message, /queue is full \(2 calls waiting, limit 2\)/);
    await settled(nimbus, first.body.executionId, ['succeeded']);
    await settled(nimbus, second.body.executionId, ['succeeded']);
    const later = await invokeAsync(nimbus, 'slow', { sleepMs: 1 });
    assert.equal(later.status, 202, later.text);
    await settled(nimbus, later.body.executionId, ['succeeded']);
  });

  it('does not run a call past its maximum event age: it ends expired, in the dead letters', async () => {
    const res = await invokeAsync(nimbus, 'slow', { fail: true });
    assert.equal(res.status, 202);
    const record = await settled(nimbus, res.body.executionId, ['expired', 'failed']);
    assert.equal(record.status, 'expired');
    assert.equal(record.attempts, 1, 'the first attempt ran; the retry would have been too late');
    assert.equal(record.error.type, 'EventAgeExceeded');
    assert.match(record.error.message, /maximum event age of 60 s; last error: Error: failing on purpose/);
    const letter = await nimbus.request('GET', `/v1/dead-letters/${res.body.executionId}`);
    assert.equal(letter.status, 200);
    assert.equal(letter.body.condition, 'EventAgeExceeded');
    assert.match(letter.body.error.message, /failing on purpose/);
  });
});

describe('asynchronous invocation: graceful restart', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ asyncRetryBaseMs: 2000 });
    await nimbus.deploy('steady', 'node-async', 'nodejs', 'index.handler', { concurrency: 4 });
  });
  after(() => nimbus.close());

  it('finishes running calls before it stops and runs waiting retries after it starts again', async () => {
    const running = await invokeAsync(nimbus, 'steady', { sleepMs: 1500 });
    const failing = await invokeAsync(nimbus, 'steady', { fail: true });
    await settled(nimbus, running.body.executionId, ['running']);
    await settled(nimbus, failing.body.executionId, ['retrying']);
    nimbus = await nimbus.restart();
    const done = await execution(nimbus, running.body.executionId);
    assert.equal(done.status, 'succeeded', 'the running call finished during shutdown');
    assert.equal(done.attempts, 1);
    const retried = await settled(nimbus, failing.body.executionId, ['failed']);
    assert.equal(retried.attempts, 3, 'the retries went on after the restart');
  });
});

describe('asynchronous invocation: kill -9 mid-queue', () => {
  const KEY = 'k'.repeat(32);
  let dataDir: string;
  let child: ChildProcess | undefined;

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'nimbus-async-kill-'));
  });
  after(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Starts `nimbus server` on the data dir; resolves with its URL. */
  async function serve(): Promise<string> {
    const server = spawn(
      process.execPath,
      [
        BIN,
        'server',
        '--port',
        '0',
        '--data-dir',
        dataDir,
        '--log-level',
        'silent',
        '--async-concurrency',
        '4',
      ],
      { env: { ...process.env, NIMBUS_ADMIN_KEY: KEY } },
    );
    child = server;
    let out = '';
    server.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    server.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
      server.on('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
      server.stdout!.on('data', () => {
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
  }

  const api = async (url: string, method: string, path: string, body?: unknown, headers = {}) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
  };

  it('runs every queued call after the server is SIGKILLed and started again', async () => {
    let url = await serve();
    const zip = await packDirectory(join(FIXTURES, 'node-async'));
    const created = await api(url, 'POST', '/v1/functions', {
      name: 'slow',
      runtime: 'nodejs',
      handler: 'index.handler',
      concurrency: 4,
      code: { zipBase64: zip.toString('base64') },
    });
    assert.equal(created.status, 201, created.text);
    // No retries: an attempt cut short by the crash counts, so this call ends in the dead letters.
    const fragile = await api(url, 'POST', '/v1/functions', {
      name: 'fragile',
      runtime: 'nodejs',
      handler: 'index.handler',
      async: { maxRetries: 0 },
      code: { zipBase64: zip.toString('base64') },
    });
    assert.equal(fragile.status, 201, fragile.text);
    const cut = await api(url, 'POST', '/v1/functions/fragile/invoke', { sleepMs: 20_000 }, ASYNC);
    assert.equal(cut.status, 202, cut.text);

    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await api(url, 'POST', '/v1/functions/slow/invoke', { i, sleepMs: 1500 }, ASYNC);
      assert.equal(res.status, 202, res.text);
      ids.push(res.body.executionId);
    }
    // Kill it while calls are running and most are still waiting.
    await waitFor(async () => {
      const running = await api(url, 'GET', '/v1/executions?status=running');
      const names = new Set(running.body.executions.map((e: any) => e.functionName));
      return names.has('slow') && names.has('fragile');
    }, 'calls of both functions to be running');
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    child!.kill('SIGKILL');
    await exited;

    url = await serve();
    const statuses = new Map<string, string>();
    await waitFor(
      async () => {
        for (const id of ids) {
          if (statuses.get(id) === 'succeeded') continue;
          const res = await api(url, 'GET', `/v1/executions/${id}`);
          statuses.set(id, res.status === 200 ? res.body.status : `HTTP ${res.status}`);
        }
        return ids.every((id) => statuses.get(id) === 'succeeded');
      },
      'all 20 calls to succeed',
      90_000,
    );
    for (const [i, id] of ids.entries()) {
      const record = (await api(url, 'GET', `/v1/executions/${id}`)).body;
      assert.equal(record.status, 'succeeded');
      assert.deepEqual(JSON.parse(record.output).event, { i, sleepMs: 1500 });
    }
    const lost = await api(url, 'GET', `/v1/executions/${cut.body.executionId}`);
    assert.equal(lost.body.status, 'failed');
    assert.equal(lost.body.attempts, 1);
    assert.equal(lost.body.error.type, 'PlatformError');
    const letter = await api(url, 'GET', `/v1/dead-letters/${cut.body.executionId}`);
    assert.equal(letter.status, 200, letter.text);
    assert.equal(letter.body.condition, 'RetriesExhausted');
    assert.deepEqual(letter.body.payload, { sleepMs: 20_000 });

    const stopped = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child!.kill('SIGTERM');
    assert.equal(await stopped, 0);
  });
});
