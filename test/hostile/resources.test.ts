/**
 * Hostile fixtures for CPU and memory (issue 12): a function may not burn more CPU than its
 * memory size buys, nothing it leaves running may use CPU between calls (idle instances are
 * frozen, and still stop cleanly when removed), its cgroups live inside the server's own cgroup,
 * and a function with many memory-heavy instances may not evict other functions' warm instances
 * beyond its fair share of the node's memory budget.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, waitFor, type TestServer } from '../helpers/harness.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
const unified = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'));

/** This process's (the server's) own cgroup in a v1 hierarchy, or in the v2 one. */
function ownCgroup(controller: string): string {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [id, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (unified ? id === '0' : controllers!.split(',').includes(controller)) {
      // v2: the server may have moved into its `nimbus-server` leaf.
      return unified ? path.replace(/\/nimbus-server$/, '') : path;
    }
  }
  return '/';
}

/** Where an instance's group would be inside the server's own cgroup, per controller. */
function instanceGroup(controller: string, instanceId: string): string {
  const hierarchy = unified ? CGROUP_ROOT : join(CGROUP_ROOT, controller);
  return join(hierarchy, ownCgroup(controller), 'nimbus', instanceId);
}

/**
 * CPU time the instance's processes have used, in ms: every process in its group (inside the
 * server's cgroup, or at the hierarchy root where older servers put it), from /proc (10 ms ticks).
 */
function cpuUsedMs(instanceId: string): number {
  const controller = unified ? 'cpu' : 'memory';
  const nested = instanceGroup(controller, instanceId);
  const group = existsSync(nested)
    ? nested
    : join(unified ? CGROUP_ROOT : join(CGROUP_ROOT, controller), 'nimbus', instanceId);
  let ticks = 0;
  for (const pid of readFileSync(join(group, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
    try {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks * 10;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('hostile: CPU quota, idle freezing, cgroup nesting and fair memory', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ prewarmPerRuntime: 0 });
  });
  after(() => nimbus.close());

  async function instanceOf(name: string, event: unknown = {}): Promise<string> {
    const res = await nimbus.invoke(name, event);
    assert.equal(res.status, 200, res.text);
    return (await nimbus.executionOf(res)).instanceId as string;
  }

  it("makes instances' cgroups inside the server's own cgroup", async () => {
    await nimbus.deploy('nested', 'node-resources', 'nodejs', 'index.handler');
    const id = await instanceOf('nested');
    for (const controller of unified ? ['cpu'] : ['memory', 'pids', 'cpu']) {
      const group = instanceGroup(controller, id);
      assert.ok(existsSync(group), `${controller}: ${group} exists`);
    }
    const doctor = (await nimbus.request('GET', '/v1/doctor')).body;
    assert.equal(doctor.cgroupNesting.placement, 'nested');
    assert.equal(doctor.cpuQuota, doctor.memoryLimit, 'the CPU quota is enforced like the memory limit');
  });

  it("holds a 128 MB function's busy loop to its CPU quota during a call", async (t) => {
    await nimbus.deploy('spinner', 'node-resources', 'nodejs', 'index.handler', { memoryMb: 128 });
    const id = await instanceOf('spinner');
    const call = nimbus.invoke('spinner', { action: 'spin', ms: 2500 });
    await sleep(500); // the call is running by now
    const [startMs, startCpu] = [performance.now(), cpuUsedMs(id)];
    await sleep(1500);
    const share = (cpuUsedMs(id) - startCpu) / (performance.now() - startMs);
    assert.equal((await call).status, 200);
    t.diagnostic(`CPU share during the call: ${(share * 100).toFixed(1)}%`);
    assert.ok(share > 0, 'the loop ran');
    // Its quota is an eighth of a CPU; without one it takes a whole core (or what a loaded host leaves).
    assert.ok(share < 0.3, `used ${(share * 100).toFixed(0)}% of a CPU, not at most its quota`);
  });

  it('freezes an idle instance: a busy child left behind uses no CPU between calls', async () => {
    await nimbus.deploy('leaver', 'node-resources', 'nodejs', 'index.handler');
    const id = await instanceOf('leaver', { action: 'leave-spinner' });
    // Once frozen, its CPU time stops growing (the child would otherwise burn a core).
    await waitFor(async () => {
      const before = cpuUsedMs(id);
      await sleep(200);
      return cpuUsedMs(id) === before;
    }, 'the idle instance to stop using CPU');
    const before = cpuUsedMs(id);
    await sleep(1000);
    const idleMs = cpuUsedMs(id) - before;
    assert.ok(idleMs <= 20, `the idle instance used ${idleMs} ms of CPU in 1 s`);

    // The next call thaws it and is warm.
    const res = await nimbus.invoke('leaver', {});
    assert.equal(res.status, 200, res.text);
    const execution = await nimbus.executionOf(res);
    assert.equal(execution.instanceId, id);
    assert.equal(execution.coldStart, false);

    // A frozen instance still stops completely when its function goes (frozen v1 tasks ignore SIGKILL).
    await waitFor(async () => {
      const before = cpuUsedMs(id);
      await sleep(200);
      return cpuUsedMs(id) === before;
    }, 'the instance to be frozen again');
    assert.equal((await nimbus.request('DELETE', '/v1/functions/leaver')).status, 204);
    await waitFor(async () => !existsSync(instanceGroup('memory', id)), 'the frozen group to be removed');
  });
});

describe('hostile: a memory-heavy function and the warm instances of others', () => {
  it("cannot evict another function's warm instance beyond its fair share of the budget", async () => {
    const nimbus = await startTestServer({ memoryBudgetMb: 512, prewarmPerRuntime: 0 });
    try {
      await nimbus.deploy('quiet', 'node-resources', 'nodejs', 'index.handler', { memoryMb: 128 });
      await nimbus.deploy('greedy', 'node-resources', 'nodejs', 'index.handler', {
        memoryMb: 128,
        maxInstances: 10,
      });
      assert.equal((await nimbus.invoke('quiet')).status, 200);
      // Six calls that would each take an instance: greedy may use the free memory (three
      // instances) but not stop quiet's, since it already holds more than half the budget.
      const calls = await Promise.all(
        Array.from({ length: 6 }, () => nimbus.invoke('greedy', { action: 'sleep', ms: 1500 })),
      );
      for (const call of calls) assert.equal(call.status, 200, call.text);
      const stats = (await nimbus.request('GET', '/v1/stats')).body;
      assert.equal(stats.evictions, 0, 'no instance was evicted');
      const res = await nimbus.invoke('quiet');
      assert.equal(res.status, 200, res.text);
      assert.equal((await nimbus.executionOf(res)).coldStart, false, "quiet's instance stayed warm");
    } finally {
      await nimbus.close();
    }
  });
});
