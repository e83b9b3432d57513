/**
 * Scheduling: pre-warmed sandboxes specialised on first call (and never shared between functions),
 * instance concurrency, the per-function maximum with its bounded queue and 429, minimum instances,
 * shared cold starts, and the memory budget stopping least recently used idle instances.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, waitFor, type TestServer } from './helpers/harness.js';

const record = (nimbus: TestServer, res: { headers: Headers }) => nimbus.executionOf(res);

const stats = async (nimbus: TestServer) => (await nimbus.request('GET', '/v1/stats')).body;

describe('pre-warmed sandboxes', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ prewarmPerRuntime: 1 });
  });
  after(() => nimbus.close());

  it('specialises a ready generic sandbox on a function’s first call', async () => {
    await waitFor(async () => (await stats(nimbus)).prewarmed['python3:128'] >= 1, 'a ready python sandbox');
    const before = await stats(nimbus);
    await nimbus.deploy('warm-first', 'python-lambda', 'python3', 'main.handler');
    const res = await nimbus.invoke('warm-first', { name: 'pool' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.greeting, 'Hello, pool!');
    assert.equal((await record(nimbus, res)).coldStart, true);
    const after = await stats(nimbus);
    assert.equal(
      after.prewarmedStarts,
      before.prewarmedStarts + 1,
      'the cold start used a pre-warmed sandbox',
    );
    await waitFor(async () => (await stats(nimbus)).prewarmed['python3:128'] >= 1, 'the pool to refill');
  });

  it('gives the function its own environment and code in a specialised sandbox', async () => {
    await waitFor(async () => (await stats(nimbus)).prewarmed['python3:128'] >= 1, 'a ready python sandbox');
    await nimbus.deploy('warm-env', 'python-lambda', 'python3', 'main.handler', {
      env: { GREETING_STYLE: 'pooled' },
    });
    const res = await nimbus.invoke('warm-env', {});
    assert.equal(res.body.env, 'pooled');
    assert.equal(res.body.functionName, 'warm-env');
  });

  it('never lets one sandbox serve two different functions', async () => {
    await nimbus.deploy('tenant-a', 'node-cjs', 'nodejs', 'index.handler');
    await nimbus.deploy('tenant-b', 'node-esm', 'nodejs', 'index.handler');
    const seen: Record<string, Set<string>> = { 'tenant-a': new Set(), 'tenant-b': new Set() };
    for (let round = 0; round < 4; round++) {
      for (const name of ['tenant-a', 'tenant-b']) {
        const res = await nimbus.invoke(name, { a: 1, b: 2, name });
        assert.equal(res.status, 200, res.text);
        if (name === 'tenant-a') assert.equal(res.body.functionName, 'tenant-a');
        else assert.equal(res.body.style, 'esm');
        seen[name]!.add((await record(nimbus, res)).instanceId);
      }
      // Change tenant-a so its instances are retired and new ones come from the pool again.
      await nimbus.request('PATCH', '/v1/functions/tenant-a', { json: { description: `round ${round}` } });
    }
    const shared = [...seen['tenant-a']!].filter((id) => seen['tenant-b']!.has(id));
    assert.deepEqual(shared, []);
    assert.ok(seen['tenant-a']!.size >= 4, 'each change of tenant-a got a fresh instance');
  });
});

describe('pre-warmed pool sizing', () => {
  it('grows the pool of a runtime as functions of it are deployed, before their first calls', async () => {
    const nimbus = await startTestServer({ prewarmPerRuntime: 1, prewarmMax: 4 });
    try {
      await waitFor(async () => (await stats(nimbus)).prewarmed['python3:128'] === 1, 'the base pool');
      for (let i = 0; i < 6; i++)
        await nimbus.deploy(`burst-${i}`, 'python-lambda', 'python3', 'main.handler');
      await waitFor(
        async () => (await stats(nimbus)).prewarmed['python3:128'] === 4,
        'the pool to grow to its maximum for the expected first calls',
      );
      // Node saw no deploys: its pool stays at the base size.
      assert.equal((await stats(nimbus)).prewarmed['nodejs:128'], 1);
    } finally {
      await nimbus.close();
    }
  });
});

describe('instance concurrency and limits', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ queueTimeoutMs: 400, idleTimeoutSec: 1 });
  });
  after(() => nimbus.close());

  it('lets one Node instance serve several calls at once', async () => {
    await nimbus.deploy('node-many', 'node-hostile', 'nodejs', 'index.handler', {
      concurrency: 3,
      maxInstances: 1,
    });
    await nimbus.invoke('node-many', {}); // start the instance
    const started = Date.now();
    const calls = await Promise.all(
      [1, 2, 3].map(() => nimbus.invoke('node-many', { action: 'sleep', seconds: 0.6 })),
    );
    const elapsed = Date.now() - started;
    for (const res of calls) assert.equal(res.status, 200, res.text);
    const instances = new Set(
      await Promise.all(calls.map(async (r) => (await record(nimbus, r)).instanceId)),
    );
    assert.equal(instances.size, 1, 'all three ran on the one instance');
    assert.ok(elapsed < 1500, `ran concurrently (took ${elapsed} ms for three 600 ms calls)`);
  });

  it('lets one Python instance serve several calls at once, keeping their logs apart', async () => {
    await nimbus.deploy('py-many', 'python-hostile', 'python3', 'main.handler', {
      concurrency: 2,
      maxInstances: 1,
    });
    await nimbus.invoke('py-many', {});
    const started = Date.now();
    const calls = await Promise.all(
      [1, 2].map(() => nimbus.invoke('py-many', { action: 'sleep', seconds: 0.6 })),
    );
    const elapsed = Date.now() - started;
    for (const res of calls) assert.equal(res.status, 200, res.text);
    assert.ok(elapsed < 1100, `ran concurrently (took ${elapsed} ms for two 600 ms calls)`);
    for (const res of calls) {
      const logs = await nimbus.request(
        'GET',
        `/v1/executions/${res.headers.get('x-nimbus-execution-id')}/logs`,
      );
      // The function's own lines (the platform frames them with START, END and REPORT).
      assert.deepEqual(
        logs.body.lines
          .filter((l: { stream: string }) => l.stream !== 'system')
          .map((l: { message: string }) => l.message),
        ['going to sleep'],
      );
    }
  });

  it('queues calls beyond the maximum and serves them when a slot frees up', async () => {
    await nimbus.deploy('one-at-a-time', 'python-hostile', 'python3', 'main.handler', { maxInstances: 1 });
    await nimbus.invoke('one-at-a-time', {});
    const calls = await Promise.all(
      [1, 2].map(() => nimbus.invoke('one-at-a-time', { action: 'sleep', seconds: 0.15 })),
    );
    for (const res of calls) assert.equal(res.status, 200, res.text);
    const ids = await Promise.all(calls.map(async (r) => (await record(nimbus, r)).instanceId));
    assert.equal(ids[0], ids[1], 'the second call waited for the only instance');
  });

  it('refuses calls that waited too long with 429 and a clear message', async () => {
    await nimbus.deploy('throttled', 'python-hostile', 'python3', 'main.handler', { maxInstances: 1 });
    const before = (await stats(nimbus)).throttled;
    const calls = await Promise.all(
      [1, 2, 3].map(() => nimbus.invoke('throttled', { action: 'sleep', seconds: 1.5 })),
    );
    const statuses = calls.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 429, 429]);
    const refused = calls.find((r) => r.status === 429)!;
    assert.equal(refused.body.error.code, 'TOO_MANY_REQUESTS');
    assert.match(refused.body.error.message, /limit of 1 instance/);
    assert.equal((await stats(nimbus)).throttled, before + 2);
    const listed = (await nimbus.request('GET', '/v1/executions?function=throttled')).body.executions;
    assert.equal(listed.length, 1, 'refused calls leave no execution record');
  });

  it('shares one cold start among concurrent first calls', async () => {
    await nimbus.deploy('shared-start', 'node-hostile', 'nodejs', 'index.handler', { concurrency: 5 });
    const before = (await stats(nimbus)).coldStarts;
    const calls = await Promise.all([1, 2, 3, 4, 5].map((i) => nimbus.invoke('shared-start', { i })));
    for (const res of calls) assert.equal(res.status, 200, res.text);
    assert.equal((await stats(nimbus)).coldStarts, before + 1);
  });

  it('keeps minimum instances warm through idle periods', async () => {
    await nimbus.deploy('always-on', 'python-lambda', 'python3', 'main.handler', { minInstances: 1 });
    await waitFor(
      async () => (await stats(nimbus)).functions['always-on']?.instances === 1,
      'the provisioned instance',
    );
    await sleep(2500); // longer than the 1 s idle timeout
    assert.equal((await stats(nimbus)).functions['always-on']?.instances, 1);
    const res = await nimbus.invoke('always-on', {});
    assert.equal(
      (await record(nimbus, res)).coldStart,
      false,
      'a provisioned instance serves its first call warm',
    );
  });

  it('rejects scaling settings out of range', async () => {
    for (const [body, message] of [
      [{ concurrency: 0 }, /concurrency must be a whole number from 1 to 1000/],
      [{ maxInstances: 0 }, /maxInstances must be a whole number from 1 to 1000/],
      [{ minInstances: 5, maxInstances: 2 }, /minInstances \(5\) cannot exceed maxInstances \(2\)/],
    ] as const) {
      const res = await nimbus.request('PATCH', '/v1/functions/always-on', { json: body });
      assert.equal(res.status, 400, res.text);
      assert.match(res.body.error.message, message);
    }
  });
});

describe('memory budget', () => {
  it('stops an instance that was busy when its function changed, once its call ends', async () => {
    const nimbus = await startTestServer({ prewarmPerRuntime: 0 });
    try {
      await nimbus.deploy('busy-change', 'python-hostile', 'python3', 'main.handler');
      const running = nimbus.invoke('busy-change', { action: 'sleep', seconds: 0.5 });
      await waitFor(
        async () => (await stats(nimbus)).functions['busy-change']?.busy === 1,
        'the call to start',
      );
      const memoryWhileBusy = (await stats(nimbus)).memoryUsedMb;
      await nimbus.request('PATCH', '/v1/functions/busy-change', { json: { description: 'changed' } });
      assert.equal((await running).status, 200, 'the running call finishes on its old instance');
      await waitFor(
        async () => (await stats(nimbus)).functions['busy-change'] === undefined,
        'the old instance to stop',
      );
      assert.equal((await stats(nimbus)).memoryUsedMb, memoryWhileBusy - 128, 'its memory is released');
    } finally {
      await nimbus.close();
    }
  });

  it('stops the least recently used idle instance to make room', async () => {
    const nimbus = await startTestServer({ memoryBudgetMb: 300, prewarmPerRuntime: 0 });
    try {
      for (const name of ['mem-a', 'mem-b', 'mem-c'])
        await nimbus.deploy(name, 'python-lambda', 'python3', 'main.handler');
      await nimbus.invoke('mem-a', {});
      await nimbus.invoke('mem-b', {});
      const c = await nimbus.invoke('mem-c', {}); // 3 × 128 MB > 300 MB: mem-a (least recently used) must go
      assert.equal(c.status, 200, c.text);
      const s = await stats(nimbus);
      assert.ok(s.memoryUsedMb <= 300, `within budget (${s.memoryUsedMb} MB)`);
      assert.equal(s.evictions, 1);
      assert.equal(s.functions['mem-a']?.instances ?? 0, 0);
      assert.equal(
        (await record(nimbus, await nimbus.invoke('mem-b', {}))).coldStart,
        false,
        'mem-b stayed warm',
      );
    } finally {
      await nimbus.close();
    }
  });
});
