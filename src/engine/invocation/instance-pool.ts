/**
 * Schedules instances: routes each call to a warm instance with a free slot (a function may let
 * one instance serve several calls at once), starts instances when all are busy (from a
 * pre-warmed generic sandbox when one is ready, so a cold start does not pay for an interpreter),
 * queues calls beyond the function's maximum for a bounded time and then refuses them with 429,
 * keeps minimum instances warm, reaps idle ones, and keeps the total memory of all instances
 * within the node's budget by stopping the least recently used idle instances first.
 * An instance only ever serves the one function revision it was specialised for.
 *
 * The pool routes and composes; the decisions and the work are in its parts: scaling-policy.ts
 * (how many to start, which idle ones to stop), memory-budget.ts (the budget and whom a start may
 * evict), instance-starter.ts (sandbox, network, code, init) and prewarmed-sandboxes.ts.
 */
import { NimbusError } from '../../core/errors.js';
import type { FunctionRecord } from '../../core/function.js';
import type { SandboxDriver } from '../../core/ports.js';
import type { PreparedCode } from '../code/code-cache.js';
import type { Instance, LogSink } from './instance.js';
import { InstanceStarter, type StarterSettings } from './instance-starter.js';
import { MemoryBudget, evictionCandidates, leastRecentlyUsedIdle } from './memory-budget.js';
import { PoolRevision, revisionOf, superseded, type Acquired } from './pool-revision.js';
import { zeroCounters, poolStats, type PoolStats } from './pool-stats.js';
import type { PrewarmedSandboxes } from './prewarmed-sandboxes.js';
import {
  ewma,
  hasUncoveredCalls,
  idleInstancesToStop,
  instancesToProvision,
  instancesToStart,
} from './scaling-policy.js';

export type { Acquired } from './pool-revision.js';
export type { PoolStats } from './pool-stats.js';

interface PoolSettings extends StarterSettings {
  idleTimeoutMs: number;
  /** How long a call may wait for an instance before it is refused with 429. */
  queueTimeoutMs: number;
  /** Memory all instances together may be given. */
  memoryBudgetMb: number;
}

export class InstancePool {
  private readonly revisionStates = new Map<string, PoolRevision>();
  /** Revisions that had calls waiting (some may have none left): all that scaleBlocked must visit. */
  private readonly statesWithWaiters = new Set<PoolRevision>();
  private readonly memory: MemoryBudget;
  private readonly starter: InstanceStarter;
  private readonly prewarmed: PrewarmedSandboxes;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly counters = zeroCounters();

  constructor(
    driver: SandboxDriver,
    private readonly settings: PoolSettings,
  ) {
    this.memory = new MemoryBudget(settings.memoryBudgetMb);
    this.starter = new InstanceStarter(driver, settings, this.memory);
    this.prewarmed = this.starter.prewarmed;
    this.timer = setInterval(() => this.maintain(Date.now()), Math.min(1000, settings.idleTimeoutMs)).unref();
  }

  /** Fills the pre-warmed pools; called once the server is up. */
  warmUp(): void {
    this.prewarmed.refill();
  }

  /** A warm instance with a free slot, taken at once; undefined when the call must wait or start one. */
  acquireWarm(fn: FunctionRecord, code: PreparedCode): Acquired | undefined {
    const free = this.stateFor(fn, code).freeInstance();
    if (!free) return undefined;
    free.leases++;
    if (free.initializing) return { instance: free, cold: true };
    this.counters.warmHits++;
    return { instance: free, cold: false };
  }

  /** An instance with a free slot for this call: warm if possible, else newly started (cold). */
  acquire(fn: FunctionRecord, code: PreparedCode, log: LogSink): Promise<Acquired> {
    const warm = this.acquireWarm(fn, code);
    if (warm) return Promise.resolve(warm);
    const state = this.stateFor(fn, code);
    const waiting = state.wait(
      log,
      this.settings.queueTimeoutMs,
      (waitedMs) => (this.counters.queueWaitMsTotal += waitedMs),
      () => this.counters.throttled++,
    );
    this.statesWithWaiters.add(state);
    this.counters.queued++;
    this.scale(state);
    return waiting;
  }

  /** Takes back an instance after a call that left it healthy; `callMs` is how long the call ran. */
  release(instance: Instance, callMs: number): void {
    instance.leases--;
    instance.hasServed = true;
    instance.lastUsedAt = Date.now();
    const state = instance.revision ? this.revisionStates.get(instance.revision) : undefined;
    if (!state || state.retired || !instance.isAlive || this.closed) {
      if (instance.leases === 0) void this.discard(instance);
      return;
    }
    state.callMs = ewma(state.callMs, callMs);
    state.dispatch();
    this.scaleBlocked();
  }

  /** Stops an instance that must not serve again (timed out, crashed, retired or evicted). */
  async discard(instance: Instance, reason?: string): Promise<void> {
    const state = instance.revision ? this.revisionStates.get(instance.revision) : undefined;
    if (state?.remove(instance)) this.memory.release(instance.memoryMb);
    await instance.kill(reason);
    if (state && state.waiters.length > 0) this.scale(state);
  }

  /**
   * Stops the idle instances of a function now (of one of its versions when `version` is given,
   * e.g. `$LATEST` after an update); busy ones stop when their calls finish.
   */
  async retireFunction(name: string, version?: string): Promise<void> {
    const doomed: Promise<void>[] = [];
    for (const state of this.revisionStates.values()) {
      if (state.fn.name !== name) continue;
      if (version !== undefined && state.fn.version !== version) continue;
      state.retired = true;
      for (const instance of [...state.instances])
        if (instance.leases === 0) doomed.push(this.discard(instance));
      // Calls waiting for the old revision are served by the new one when they retry; tell them now.
      state.settleAll({ failure: superseded(`function '${name}' changed while this call waited; retry it`) });
      // The state stays until its last busy instance is gone (maintain() drops it), so their memory is released.
    }
    await Promise.all(doomed);
  }

  /**
   * Called on deploy and update: keeps `fn.minInstances` warm from now on, and counts the change as
   * demand for its runtime and memory size (a first call usually follows a deploy), so the
   * pre-warmed pool grows with the deploy rate, not only with the cold starts already paid.
   */
  provision(fn: FunctionRecord, code: PreparedCode): void {
    if (fn.minInstances > 0) this.ensureMinimum(this.stateFor(fn, code));
    else this.prewarmed.noteDemand(fn.runtime, fn.memoryMb);
  }

  stats(): PoolStats {
    return poolStats(this.revisionStates.values(), this.counters, this.memory, this.prewarmed.sizes());
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const all: Promise<void>[] = [this.prewarmed.close()];
    for (const state of this.revisionStates.values()) {
      state.settleAll(new NimbusError('SANDBOX_UNAVAILABLE', 'Nimbus is shutting down'));
      for (const instance of [...state.instances])
        all.push(this.discard(instance, 'Nimbus is shutting down'));
    }
    await Promise.all(all);
  }

  /** Idle reaping and minimum instances; runs every second. */
  private maintain(now: number): void {
    for (const state of this.revisionStates.values()) {
      const { idleTimeoutMs } = this.settings;
      const idle = idleInstancesToStop(state.instances, state.fn.minInstances, idleTimeoutMs, now);
      for (const instance of idle) void this.discard(instance);
      this.ensureMinimum(state);
      if (state.isDisposable) this.revisionStates.delete(state.revision);
    }
    this.prewarmed.refill();
  }

  private ensureMinimum(state: PoolRevision): void {
    if (this.closed || state.retired) return;
    const starts = instancesToProvision(state.instances.length, state.starting, state.fn.minInstances);
    for (let i = 0; i < starts; i++) {
      if (!this.reserveMemory(state)) return;
      void this.startInstance(state, () => undefined, true);
    }
  }

  private stateFor(fn: FunctionRecord, code: PreparedCode): PoolRevision {
    const revision = revisionOf(fn);
    let state = this.revisionStates.get(revision);
    if (!state) {
      state = new PoolRevision(revision, fn, code);
      this.revisionStates.set(revision, state);
    }
    return state;
  }

  /**
   * Hands free slots to waiting calls, then starts the instances the scaling policy asks for, as
   * far as the memory budget allows; each finished start looks again.
   */
  private scale(state: PoolRevision): void {
    if (this.closed || state.retired) return;
    state.dispatch();
    const { fn } = state;
    const starts = instancesToStart(state.load(), this.starter.expectedStartMs(fn));
    for (let i = 0; i < starts; i++) {
      if (!this.reserveMemory(state)) return;
      // The log of the first call this instance is started for (each takes `concurrency` calls).
      const first = state.waiters[state.starting * fn.concurrency]!;
      void this.startInstance(state, first.log);
    }
  }

  /** After memory was freed, lets functions whose calls wait for memory start instances. */
  private scaleBlocked(): void {
    for (const state of this.statesWithWaiters) {
      if (state.waiters.length === 0) this.statesWithWaiters.delete(state);
      else if (hasUncoveredCalls(state.waiters.length, state.starting, state.fn.concurrency))
        this.scale(state);
    }
  }

  /**
   * Reserves memory for a start of `forState`, stopping pre-warmed sandboxes, then the least
   * recently used idle instances the fair-share rule lets it stop (evictionCandidates), to make
   * room. False when even that is not enough.
   */
  private reserveMemory(forState: PoolRevision): boolean {
    const mb = forState.fn.memoryMb;
    return this.memory.reserve(mb, () => {
      if (this.prewarmed.evictOne()) return true;
      const candidates = evictionCandidates(this.revisionStates.values(), forState, mb, this.memory.totalMb);
      const victim = leastRecentlyUsedIdle(candidates.map((state) => state.instances));
      if (!victim) return false;
      this.counters.evictions++;
      void this.discard(victim);
      return true;
    });
  }

  /** Starts an instance for a revision (memory already reserved) and hands it to waiting calls. */
  private async startInstance(state: PoolRevision, log: LogSink, provisioned = false): Promise<void> {
    state.starting++;
    const { fn, code } = state;
    const prepared = await this.starter.prepare(fn, code);
    const { fromPool } = prepared;
    if ('failure' in prepared || state.retired || this.closed) {
      state.starting--;
      this.countStart(fn, fromPool);
      this.memory.release(fn.memoryMb);
      if ('failure' in prepared) state.failWaiters(prepared.failure);
      else {
        void prepared.instance.kill();
        state.failWaiters(superseded(`function '${fn.name}' changed while it started; retry`));
      }
      return;
    }
    const { instance } = prepared;
    // The init is on its way: the waiting calls go right behind it (the runtime runs them once
    // the function is loaded), a round trip sooner than after `inited` comes back. Should the
    // init fail, the instance fails them with its error.
    const initialised = this.starter.initialise(instance, state.revision, fn, code, provisioned, log);
    state.starting--;
    // A provisioned instance was started ahead of demand: its first call is warm.
    instance.hasServed = provisioned;
    // Its idle time counts from now, not from when it was started for the pre-warmed pool.
    instance.lastUsedAt = Date.now();
    state.instances.push(instance);
    void instance.exited.then(() => {
      if (!state.remove(instance)) return;
      this.memory.release(instance.memoryMb);
      if (state.waiters.length > 0) this.scale(state);
    });
    state.dispatch();
    const initFailure = await initialised;
    this.countStart(fn, fromPool);
    if (initFailure) {
      void this.discard(instance);
      // The calls it was started for went behind its init and have failed with it.
      if (state.instances.length === 0 && state.starting === 0) state.failWaiters(initFailure);
      return;
    }
    this.starter.recordStart(fn, prepared);
    this.scale(state);
  }

  private countStart(fn: FunctionRecord, fromPool: boolean): void {
    this.counters.coldStarts++;
    if (fromPool) this.counters.prewarmedStarts++;
    this.prewarmed.noteDemand(fn.runtime, fn.memoryMb);
  }
}
