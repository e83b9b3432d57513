/**
 * Instance lifecycle and record keeping: warm reuse, reaping after the idle period, fresh
 * instances after a change, deletion stopping instances, concurrent calls, capped input and
 * output, and retention.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { childrenOf, cmdline } from './helpers/procs.js';

async function coldStart(nimbus: TestServer, res: { headers: Headers }): Promise<boolean> {
  return (await nimbus.executionOf(res)).coldStart;
}

describe('instance lifecycle', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ idleTimeoutSec: 1, recordTextBytes: 64 });
  });
  after(() => nimbus.close());

  const instances = async () => (await nimbus.request('GET', '/v1/doctor')).body.instances as number;

  it('reaps an instance after the idle period, so the next call is cold', async () => {
    await nimbus.deploy('reaped', 'python-lambda', 'python3', 'main.handler');
    assert.equal(await coldStart(nimbus, await nimbus.invoke('reaped', {})), true);
    assert.equal(await coldStart(nimbus, await nimbus.invoke('reaped', {})), false);
    await waitFor(async () => (await instances()) === 0, 'the idle instance to be reaped');
    assert.equal(await coldStart(nimbus, await nimbus.invoke('reaped', {})), true);
  });

  it('serves a changed configuration from a fresh instance', async () => {
    await nimbus.deploy('changed', 'python-lambda', 'python3', 'main.handler', {
      env: { GREETING_STYLE: 'old' },
    });
    assert.equal((await nimbus.invoke('changed', {})).body.env, 'old');
    await nimbus.request('PATCH', '/v1/functions/changed', { json: { env: { GREETING_STYLE: 'new' } } });
    const res = await nimbus.invoke('changed', {});
    assert.equal(res.body.env, 'new');
    assert.equal(await coldStart(nimbus, res), true);
  });

  it('stops the instances of a deleted function', async () => {
    const before = await instances();
    await nimbus.deploy('doomed', 'node-cjs', 'nodejs', 'index.handler');
    await nimbus.invoke('doomed', {});
    assert.equal(await instances(), before + 1);
    assert.equal((await nimbus.request('DELETE', '/v1/functions/doomed')).status, 204);
    assert.equal(await instances(), before);
  });

  it('serves concurrent calls, each on an instance of its own', async () => {
    await nimbus.deploy('parallel', 'python-hostile', 'python3', 'main.handler');
    const calls = await Promise.all(
      Array.from({ length: 6 }, (_, i) => nimbus.invoke('parallel', { action: 'sleep', seconds: 0.3, i })),
    );
    for (const res of calls) assert.equal(res.status, 200, res.text);
    assert.ok(calls.every((r) => r.body === 'woke up'));
  });

  it('caps recorded input and output, marking the cut', async () => {
    await nimbus.deploy('capped', 'node-hostile', 'nodejs', 'index.handler');
    const res = await nimbus.invoke('capped', { action: 'big', bytes: 1000, padding: 'p'.repeat(200) });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 1000, 'the caller still gets the whole result');
    const record = (await nimbus.request('GET', `/v1/executions/${res.headers.get('x-nimbus-execution-id')}`))
      .body;
    assert.equal(record.inputTruncated, true);
    assert.equal(record.outputTruncated, true);
    assert.match(record.output, /…\[truncated\]$/);
    assert.ok(record.output.length < 100);
  });
});

describe('retention', () => {
  it('keeps at most the configured number of records per function', async () => {
    let nimbus = await startTestServer({ retentionPerFunction: 2 });
    try {
      await nimbus.deploy('kept', 'python-lambda', 'python3', 'main.handler');
      const ids: string[] = [];
      for (let i = 0; i < 4; i++)
        ids.push((await nimbus.invoke('kept', { i })).headers.get('x-nimbus-execution-id')!);
      nimbus = await nimbus.restart(); // retention runs at start and then periodically
      const left = (await nimbus.request('GET', '/v1/executions?function=kept')).body.executions;
      assert.deepEqual(
        left.map((e: { id: string }) => e.id),
        [ids[3], ids[2]],
      );
      assert.equal((await nimbus.request('GET', `/v1/executions/${ids[0]}/logs`)).status, 404);
    } finally {
      await nimbus.close();
    }
  });
});

/** Pids of this test process's sandbox launchers. */
function launcherPids(): Set<number> {
  return new Set(childrenOf(process.pid).filter((pid) => cmdline(pid).includes('launcher-process.js')));
}

describe('sandbox launcher', () => {
  it('survives the death of its launcher: its sandboxes are stopped and the next call starts afresh', async () => {
    const others = launcherPids();
    const nimbus = await startTestServer();
    try {
      await nimbus.deploy('relaunched', 'python-lambda', 'python3', 'main.handler');
      const first = await nimbus.invoke('relaunched', {});
      assert.equal(first.status, 200, first.text);
      const ours = [...launcherPids()].filter((pid) => !others.has(pid));
      assert.equal(ours.length, 1, 'one launcher started for this server');
      process.kill(ours[0]!, 'SIGKILL');
      // Its sandboxes can no longer be watched, so they are stopped and the instance is gone.
      await waitFor(
        async () => (await nimbus.request('GET', '/v1/doctor')).body.instances === 0,
        'the instance to be stopped',
      );
      const again = await nimbus.invoke('relaunched', {});
      assert.equal(again.status, 200, again.text);
      assert.equal((await nimbus.executionOf(again)).coldStart, true);
      assert.notEqual(
        (await nimbus.executionOf(again)).instanceId,
        (await nimbus.executionOf(first)).instanceId,
      );
    } finally {
      await nimbus.close();
    }
  });
});
