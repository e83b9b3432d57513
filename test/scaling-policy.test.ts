/**
 * The InstancePool's pure parts, without a server: the scaling policy (how many instances a
 * revision starts for its waiting calls, the queue at the function's limits, minimum instances,
 * idle reaping, start-time estimates) and the memory budget (reserve/release, making room, and
 * the fair-share rule of whom a start may evict).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MemoryBudget,
  evictionCandidates,
  leastRecentlyUsedIdle,
  type MemoryHolder,
} from '../src/engine/invocation/memory-budget.js';
import {
  DEFAULT_START_MS,
  MAX_PARALLEL_STARTS_PER_FUNCTION,
  StartTimes,
  drainedWhileStarting,
  ewma,
  hasUncoveredCalls,
  idleInstancesToStop,
  instancesToProvision,
  instancesToStart,
  type RevisionLoad,
} from '../src/engine/invocation/scaling-policy.js';

/** A revision with nothing running, nothing starting and nothing waiting. */
function load(overrides: Partial<RevisionLoad>): RevisionLoad {
  return {
    concurrency: 1,
    maxInstances: 100,
    instances: 0,
    liveInstances: 0,
    starting: 0,
    waiting: 0,
    callMs: undefined,
    ...overrides,
  };
}

describe('scaling policy: instances to start', () => {
  it('starts nothing while no call waits', () => {
    assert.equal(instancesToStart(load({}), 150), 0);
  });

  it('starts one instance for one waiting call', () => {
    assert.equal(instancesToStart(load({ waiting: 1 }), 150), 1);
  });

  it('starts at most two at once before any call time is known, four once it is', () => {
    assert.equal(
      instancesToStart(load({ waiting: 50 }), 150),
      MAX_PARALLEL_STARTS_PER_FUNCTION.unknownCallTime,
    );
    assert.equal(MAX_PARALLEL_STARTS_PER_FUNCTION.unknownCallTime, 2);
    // Slow calls: the one live instance drains nothing while another starts.
    const known = load({ waiting: 50, instances: 1, liveInstances: 1, callMs: 10_000 });
    assert.equal(instancesToStart(known, 150), MAX_PARALLEL_STARTS_PER_FUNCTION.known);
    assert.equal(MAX_PARALLEL_STARTS_PER_FUNCTION.known, 4);
  });

  it('counts the starts under way: each will take `concurrency` of the waiting calls', () => {
    assert.equal(
      instancesToStart(load({ waiting: 1, starting: 1 }), 150),
      0,
      'one call, one start under way',
    );
    assert.equal(instancesToStart(load({ waiting: 2, starting: 1 }), 150), 1);
    assert.equal(
      instancesToStart(load({ waiting: 3, concurrency: 4 }), 150),
      1,
      'one instance takes all three',
    );
    assert.equal(instancesToStart(load({ waiting: 5, concurrency: 4 }), 150), 2);
  });

  it('starts nothing at maxInstances: the calls wait in the queue', () => {
    const atLimit = load({ waiting: 10, instances: 2, liveInstances: 2, maxInstances: 2, callMs: 1000 });
    assert.equal(instancesToStart(atLimit, 150), 0);
    assert.equal(instancesToStart(load({ waiting: 10, starting: 2, maxInstances: 2 }), 150), 0);
    // Below the limit only up to it.
    assert.equal(
      instancesToStart(load({ waiting: 10, instances: 1, maxInstances: 2, callMs: 1000 }), 150),
      1,
    );
  });

  it('leaves calls that running instances drain while a new one starts to them', () => {
    // One instance answering in 1 ms serves ~150 calls in a 150 ms start: a burst of 100 needs no start.
    const fast = load({ waiting: 100, instances: 1, liveInstances: 1, callMs: 1 });
    assert.equal(drainedWhileStarting(fast, 150), 150);
    assert.equal(instancesToStart(fast, 150), 0);
    // With 100 ms calls it drains only one in a start: the rest need instances (four at a time).
    const slow = load({ waiting: 100, instances: 1, liveInstances: 1, callMs: 100 });
    assert.equal(drainedWhileStarting(slow, 150), 1);
    assert.equal(instancesToStart(slow, 150), 4);
    // A pre-warmed start (10 ms) is quicker than the running instance's calls help with.
    assert.equal(
      drainedWhileStarting(load({ liveInstances: 1, callMs: 100 }), DEFAULT_START_MS.prewarmed),
      0,
    );
  });

  it('counts only live instances as draining, and nothing before a call time is known', () => {
    assert.equal(drainedWhileStarting(load({ instances: 2, liveInstances: 0, callMs: 1 }), 150), 0);
    assert.equal(drainedWhileStarting(load({ instances: 2, liveInstances: 2 }), 150), 0);
    assert.equal(drainedWhileStarting(load({ liveInstances: 2, concurrency: 3, callMs: 30 }), 150), 30);
  });

  it('treats calls of 0 ms as 0.05 ms, so one instance never drains an unbounded queue', () => {
    assert.equal(drainedWhileStarting(load({ liveInstances: 1, callMs: 0 }), 150), 3000);
  });

  it('says when waiting calls are not covered by the starts under way', () => {
    assert.equal(hasUncoveredCalls(3, 1, 2), true);
    assert.equal(hasUncoveredCalls(2, 1, 2), false);
    assert.equal(hasUncoveredCalls(0, 0, 1), false);
  });
});

describe('scaling policy: minimum and idle instances', () => {
  it('provisions up to minInstances, counting the ones starting', () => {
    assert.equal(instancesToProvision(0, 0, 2), 2);
    assert.equal(instancesToProvision(1, 1, 2), 0);
    assert.equal(instancesToProvision(3, 0, 2), 0);
    assert.equal(instancesToProvision(0, 0, 0), 0);
  });

  it('stops idle instances past the idle timeout, least recently used first, keeping the minimum', () => {
    const now = 100_000;
    const a = { name: 'a', leases: 0, lastUsedAt: now - 50_000 };
    const b = { name: 'b', leases: 0, lastUsedAt: now - 90_000 };
    const busy = { name: 'busy', leases: 1, lastUsedAt: now - 99_000 };
    const recent = { name: 'recent', leases: 0, lastUsedAt: now - 1_000 };
    const all = [a, b, busy, recent];
    assert.deepEqual(idleInstancesToStop(all, 0, 10_000, now), [b, a], 'never a busy or a recently used one');
    assert.deepEqual(idleInstancesToStop(all, 3, 10_000, now), [b], 'four held, three kept');
    assert.deepEqual(idleInstancesToStop(all, 4, 10_000, now), []);
    assert.deepEqual(idleInstancesToStop(all, 0, 60_000, now), [b]);
  });
});

describe('scaling policy: start times', () => {
  it('assumes the defaults until starts are measured, then follows a moving average', () => {
    const times = new StartTimes();
    assert.equal(times.expected('python3', true), DEFAULT_START_MS.prewarmed);
    assert.equal(times.expected('python3', false), DEFAULT_START_MS.spawned);
    times.record('python3', true, 20);
    assert.equal(times.expected('python3', true), 20);
    times.record('python3', true, 70);
    assert.equal(times.expected('python3', true), 30, 'the newest sample weighs 0.2');
    assert.equal(times.expected('python3', false), DEFAULT_START_MS.spawned, 'spawns are averaged apart');
    assert.equal(times.expected('nodejs', true), DEFAULT_START_MS.prewarmed, 'and so are runtimes');
  });

  it('averages with weight 0.2 for the newest sample', () => {
    assert.equal(ewma(undefined, 8), 8);
    assert.equal(ewma(10, 20), 12);
  });
});

describe('memory budget', () => {
  it('reserves while it fits and releases', () => {
    const budget = new MemoryBudget(512);
    assert.equal(
      budget.reserve(256, () => assert.fail('room was there')),
      true,
    );
    assert.equal(
      budget.reserve(256, () => assert.fail('room was there')),
      true,
    );
    assert.equal(budget.usedMb, 512);
    budget.release(128);
    assert.equal(budget.usedMb, 384);
    assert.equal(budget.totalMb, 512);
  });

  it('makes room until the reservation fits, and counts nothing when it cannot', () => {
    const budget = new MemoryBudget(512);
    budget.reserve(512, () => false);
    let freed = 0;
    const makeRoom = () => {
      if (freed >= 2) return false;
      freed++;
      budget.release(128);
      return true;
    };
    assert.equal(budget.reserve(200, makeRoom), true);
    assert.equal(freed, 2, 'two 128 MB stops were needed for 200 MB');
    assert.equal(budget.usedMb, 456);
    assert.equal(budget.reserve(512, makeRoom), false);
    assert.equal(budget.usedMb, 456, 'a refused reservation counts nothing');
  });
});

describe('memory budget: whom a start may evict (fair share)', () => {
  const holder = (functionName: string, heldMb: number): MemoryHolder => ({ functionName, heldMb });

  it('lets a function’s first instance evict anyone’s, never its own revision', () => {
    const requester = holder('new', 0);
    const others = [holder('a', 512), holder('b', 512)];
    assert.deepEqual(evictionCandidates([...others, requester], requester, 128, 1024), others);
  });

  it('lets a function evict other functions’ instances while it stays within its fair share', () => {
    // Budget 1024 split among a, b and the requester: 341 MB each. Holding 128, +128 = 256 fits.
    const requester = holder('mine', 128);
    const a = holder('a', 512);
    const b = holder('b', 384);
    assert.deepEqual(evictionCandidates([a, b, requester], requester, 128, 1024), [a, b]);
  });

  it('beyond its fair share, only its own function’s other revisions', () => {
    // It holds 384 MB over two revisions: +128 = 512 > 1024 / 3.
    const requester = holder('mine', 256);
    const oldRevision = holder('mine', 128);
    const a = holder('a', 384);
    const b = holder('b', 256);
    assert.deepEqual(evictionCandidates([a, oldRevision, b, requester], requester, 128, 1024), [oldRevision]);
  });

  it('counts all revisions of a function as its holding, and only functions holding memory', () => {
    const requester = holder('mine', 128);
    const oldRevision = holder('mine', 256);
    const idleFunction = holder('gone', 0);
    const a = holder('a', 512);
    // Two functions hold memory (mine: 384, a): the share is 512; 384 + 128 fits it exactly.
    assert.deepEqual(evictionCandidates([a, idleFunction, oldRevision, requester], requester, 128, 1024), [
      a,
      idleFunction,
      oldRevision,
    ]);
    // 384 + 256 does not.
    assert.deepEqual(evictionCandidates([a, idleFunction, oldRevision, requester], requester, 256, 1024), [
      oldRevision,
    ]);
  });

  it('picks the least recently used idle instance among the candidates', () => {
    const busyOld = { leases: 1, lastUsedAt: 1 };
    const idleOld = { leases: 0, lastUsedAt: 5 };
    const idleNew = { leases: 0, lastUsedAt: 9 };
    assert.equal(leastRecentlyUsedIdle([[idleNew, busyOld], [idleOld]]), idleOld);
    assert.equal(leastRecentlyUsedIdle([[busyOld]]), undefined);
    assert.equal(leastRecentlyUsedIdle([]), undefined);
  });
});
