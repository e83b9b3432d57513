/**
 * Schedules instances: routes each call to a warm instance with a free slot (a function may let
 * one instance serve several calls at once), starts instances when all are busy (from a
 * pre-warmed generic sandbox when one is ready, so a cold start does not pay for an interpreter),
 * queues calls beyond the function's maximum for a bounded time and then refuses them with 429,
 * keeps minimum instances warm, reaps idle ones, and keeps the total memory of all instances
 * within the node's budget by stopping the least recently used idle instances first.
 * An instance only ever serves the one function revision it was specialised for.
 */
import { createHash, randomUUID } from 'node:crypto';
import { lambdaFunctionArn, type ArnScope } from '../core/arn.js';
import { NimbusError, messageWithCauses } from '../core/errors.js';
import type { Failure } from '../core/outcome.js';
import type { FunctionRecord, Runtime } from '../core/function.js';
import type { SandboxDriver } from '../core/ports.js';
import type { PreparedCode } from './code-cache.js';
import { functionEnv } from './function-env.js';
import { Instance, type LogSink } from './instance.js';
import { PrewarmedSandboxes } from './prewarmed-sandboxes.js';

interface PoolSettings {
  /** The server's region and account id (functions' ARNs and AWS_REGION). */
  arnScope: ArnScope;
  idleTimeoutMs: number;
  maxProcesses: number;
  tmpSizeMb: number;
  /** How long a call may wait for an instance before it is refused with 429. */
  queueTimeoutMs: number;
  /** Memory all instances together may be given. */
  memoryBudgetMb: number;
  /** Generic sandboxes kept ready per runtime at the default memory size (0 turns pre-warming off). */
  prewarmPerRuntime: number;
  /** Upper bound of the adaptive pre-warmed pool per runtime and memory size. */
  prewarmMax: number;
}

/** An instance for a call (`cold` when it was started for it), or why none could be had. */
export type Acquired = { instance: Instance; cold: boolean } | { failure: Failure };

/** Counters and gauges for the benchmark, tests and the metrics endpoint. */
export interface PoolStats {
  instances: number;
  idle: number;
  starting: number;
  coldStarts: number;
  prewarmedStarts: number;
  warmHits: number;
  queued: number;
  queueWaitMsTotal: number;
  throttled: number;
  evictions: number;
  memoryUsedMb: number;
  memoryBudgetMb: number;
  prewarmed: Record<string, number>;
  functions: Record<string, { instances: number; busy: number; queued: number }>;
}

/**
 * Instances one function starts at once; more wait until these are up (and may not be needed).
 * Fewer while no call has finished yet: until then nobody knows whether the first instances will
 * drain a burst in milliseconds (most functions) or need company.
 */
const MAX_PARALLEL_STARTS_PER_FUNCTION = { unknownCallTime: 2, known: 4 };
/** Weight of the newest sample in the moving averages of call and start times. */
const EWMA_WEIGHT = 0.2;
/** Start time assumed before any was measured: a pre-warmed take, else an interpreter start. */
const DEFAULT_START_MS = { prewarmed: 10, spawned: 150 };

/** Initialisation gets at least this long, even for functions with a shorter timeout. */
const MIN_INIT_TIMEOUT_MS = 10_000;

const revisions = new WeakMap<FunctionRecord, string>();

function ewma(average: number | undefined, sample: number): number {
  return average === undefined ? sample : average + EWMA_WEIGHT * (sample - average);
}

/** Identifies code plus configuration: a change to either means new instances. */
function revisionOf(fn: FunctionRecord): string {
  let rev = revisions.get(fn);
  if (!rev) {
    const h = createHash('sha256');
    h.update(JSON.stringify([fn.codeSha256, fn.runtime, fn.handler, fn.memoryMb, fn.timeoutSec, fn.env]));
    h.update(JSON.stringify([fn.concurrency, fn.version, fn.updatedAt]));
    h.update(fn.layers.map((layer) => layer.codeSha256).join(','));
    rev = `${fn.name}:${h.digest('hex').slice(0, 16)}`;
    revisions.set(fn, rev);
  }
  return rev;
}

interface Waiter {
  settle: (result: Acquired | Error) => void;
  log: LogSink;
  since: number;
}

/** Everything the pool knows about one function revision. */
interface RevisionState {
  revision: string;
  fn: FunctionRecord;
  code: PreparedCode;
  instances: Instance[];
  starting: number;
  waiters: Waiter[];
  retired: boolean;
  /** Moving average of how long this revision's calls take (ms); undefined before the first. */
  callMs: number | undefined;
}

export class InstancePool {
  private readonly revisionStates = new Map<string, RevisionState>();
  /** Revisions that had calls waiting (some may have none left): all that scaleBlocked must visit. */
  private readonly statesWithWaiters = new Set<RevisionState>();
  private readonly prewarmed: PrewarmedSandboxes;
  private readonly timer: NodeJS.Timeout;
  private memoryUsedMb = 0;
  private closed = false;
  /** Moving averages of start times (ms), per runtime and whether a pre-warmed sandbox was taken. */
  private readonly startMs = new Map<string, number>();
  private readonly counters = {
    coldStarts: 0,
    prewarmedStarts: 0,
    warmHits: 0,
    queued: 0,
    queueWaitMsTotal: 0,
    throttled: 0,
    evictions: 0,
  };

  constructor(
    private readonly driver: SandboxDriver,
    private readonly settings: PoolSettings,
  ) {
    this.prewarmed = new PrewarmedSandboxes({
      basePerRuntime: settings.prewarmPerRuntime,
      maxPerShape: settings.prewarmMax,
      start: (runtime, memoryMb) => this.startGeneric(runtime, memoryMb, true),
      reserveMemory: (mb) => this.reserveMemory(mb, undefined),
      releaseMemory: (mb) => (this.memoryUsedMb -= mb),
    });
    this.timer = setInterval(() => this.maintain(Date.now()), Math.min(1000, settings.idleTimeoutMs)).unref();
  }

  /** Fills the pre-warmed pools; called once the server is up. */
  warmUp(): void {
    this.prewarmed.refill();
  }

  /** A warm instance with a free slot, taken at once; undefined when the call must wait or start one. */
  acquireWarm(fn: FunctionRecord, code: PreparedCode): Acquired | undefined {
    const free = this.freeInstance(this.stateFor(fn, code));
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
    return new Promise<Acquired>((resolve, reject) => {
      const waiter: Waiter = {
        log,
        since: Date.now(),
        settle: (result) => {
          clearTimeout(timer);
          const waited = Date.now() - waiter.since;
          this.counters.queueWaitMsTotal += waited;
          if (result instanceof Error) reject(result);
          else resolve(result);
        },
      };
      const timer = setTimeout(() => {
        const i = state.waiters.indexOf(waiter);
        if (i >= 0) state.waiters.splice(i, 1);
        this.counters.throttled++;
        waiter.settle(
          new NimbusError(
            'TOO_MANY_REQUESTS',
            `function '${fn.name}' is at its limit of ${fn.maxInstances} instance(s) × ${fn.concurrency} concurrent call(s) (or the node's memory budget) and no slot freed up within ${this.settings.queueTimeoutMs} ms; retry later, or raise maxInstances or concurrency`,
          ),
        );
      }, this.settings.queueTimeoutMs);
      state.waiters.push(waiter);
      this.statesWithWaiters.add(state);
      this.counters.queued++;
      this.scale(state);
    });
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
    this.dispatch(state);
    this.scaleBlocked();
  }

  /** Stops an instance that must not serve again (timed out, crashed, retired or evicted). */
  async discard(instance: Instance, reason?: string): Promise<void> {
    const state = instance.revision ? this.revisionStates.get(instance.revision) : undefined;
    if (state) {
      const i = state.instances.indexOf(instance);
      if (i >= 0) {
        state.instances.splice(i, 1);
        this.memoryUsedMb -= instance.memoryMb;
      }
    }
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
      for (const waiter of state.waiters.splice(0)) {
        waiter.settle({
          failure: {
            kind: 'superseded',
            error: {
              type: 'FunctionChanged',
              message: `function '${name}' changed while this call waited; retry it`,
            },
          },
        });
      }
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
    const functions: PoolStats['functions'] = {};
    let instances = 0;
    let idle = 0;
    let starting = 0;
    for (const state of this.revisionStates.values()) {
      const busy = state.instances.filter((i) => i.leases > 0).length;
      instances += state.instances.length;
      idle += state.instances.length - busy;
      starting += state.starting;
      const entry = (functions[state.fn.name] ??= { instances: 0, busy: 0, queued: 0 });
      entry.instances += state.instances.length;
      entry.busy += busy;
      entry.queued += state.waiters.length;
    }
    return {
      instances,
      idle,
      starting,
      ...this.counters,
      memoryUsedMb: this.memoryUsedMb,
      memoryBudgetMb: this.settings.memoryBudgetMb,
      prewarmed: this.prewarmed.sizes(),
      functions,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const all: Promise<void>[] = [this.prewarmed.close()];
    for (const state of this.revisionStates.values()) {
      for (const waiter of state.waiters.splice(0))
        waiter.settle(new NimbusError('SANDBOX_UNAVAILABLE', 'Nimbus is shutting down'));
      for (const instance of [...state.instances])
        all.push(this.discard(instance, 'Nimbus is shutting down'));
    }
    await Promise.all(all);
  }

  /** Idle reaping and minimum instances; runs every second. */
  private maintain(now: number): void {
    for (const state of this.revisionStates.values()) {
      const idle = state.instances
        .filter((i) => i.leases === 0 && now - i.lastUsedAt >= this.settings.idleTimeoutMs)
        .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
      let surplus = state.instances.length - state.fn.minInstances;
      for (const instance of idle) {
        if (surplus-- <= 0) break;
        void this.discard(instance);
      }
      this.ensureMinimum(state);
      if (
        state.instances.length === 0 &&
        state.starting === 0 &&
        state.waiters.length === 0 &&
        (state.retired || state.fn.minInstances === 0)
      ) {
        this.revisionStates.delete(state.revision);
      }
    }
    this.prewarmed.refill();
  }

  private ensureMinimum(state: RevisionState): void {
    while (
      !this.closed &&
      !state.retired &&
      state.instances.length + state.starting < state.fn.minInstances
    ) {
      if (!this.reserveMemory(state.fn.memoryMb, state)) return;
      void this.startSpecialised(state, () => undefined, true);
    }
  }

  private stateFor(fn: FunctionRecord, code: PreparedCode): RevisionState {
    const revision = revisionOf(fn);
    let state = this.revisionStates.get(revision);
    if (!state) {
      state = {
        revision,
        fn,
        code,
        instances: [],
        starting: 0,
        waiters: [],
        retired: false,
        callMs: undefined,
      };
      this.revisionStates.set(revision, state);
    }
    return state;
  }

  /** The busiest instance that still has a free slot: packing calls lets idle ones be reaped. */
  private freeInstance(state: RevisionState): Instance | undefined {
    let best: Instance | undefined;
    for (const instance of state.instances) {
      if (!instance.isAlive || instance.leases >= state.fn.concurrency) continue;
      if (
        !best ||
        instance.leases > best.leases ||
        (instance.leases === best.leases && instance.lastUsedAt > best.lastUsedAt)
      ) {
        best = instance;
      }
    }
    return best;
  }

  /** Hands free slots to waiting calls, oldest first. */
  private dispatch(state: RevisionState): void {
    while (state.waiters.length > 0) {
      const instance = this.freeInstance(state);
      if (!instance) return;
      const waiter = state.waiters.shift()!;
      instance.leases++;
      waiter.settle({ instance, cold: !instance.hasServed });
    }
  }

  /** Starts instances for waiting calls, as far as the function's maximum and the memory budget allow. */
  /**
   * Starts instances for waiting calls: as many as the calls need, counting that each starting
   * instance will take `concurrency` of them, and that running instances serve the queue while a
   * new one would start (short calls drain a burst faster than instances start). A few starts at
   * a time (MAX_PARALLEL_STARTS_PER_FUNCTION); each finished start looks again.
   */
  private scale(state: RevisionState): void {
    if (this.closed || state.retired) return;
    this.dispatch(state);
    const c = state.fn.concurrency;
    const live = state.instances.filter((i) => i.isAlive).length;
    const drainedMeanwhile =
      state.callMs === undefined || live === 0
        ? 0
        : Math.floor((live * c * this.expectedStartMs(state.fn)) / Math.max(state.callMs, 0.05));
    while (
      state.waiters.length - drainedMeanwhile > state.starting * c &&
      state.starting <
        MAX_PARALLEL_STARTS_PER_FUNCTION[state.callMs === undefined ? 'unknownCallTime' : 'known'] &&
      state.instances.length + state.starting < state.fn.maxInstances
    ) {
      if (!this.reserveMemory(state.fn.memoryMb, state)) return;
      const first = state.waiters[state.starting * state.fn.concurrency]!;
      void this.startSpecialised(state, first.log);
    }
  }

  /** After memory was freed, lets functions whose calls wait for memory start instances. */
  private scaleBlocked(): void {
    for (const state of this.statesWithWaiters) {
      if (state.waiters.length === 0) this.statesWithWaiters.delete(state);
      else if (state.waiters.length > state.starting * state.fn.concurrency) this.scale(state);
    }
  }

  /**
   * Counts `mb` against the budget for a start of `forState` (undefined: a pre-warmed refill),
   * stopping pre-warmed sandboxes, then least recently used idle instances the start may stop
   * (evictionCandidates), to make room. A refill stops no function's instance. False when even that
   * is not enough.
   */
  private reserveMemory(mb: number, forState: RevisionState | undefined): boolean {
    while (this.memoryUsedMb + mb > this.settings.memoryBudgetMb) {
      if (this.prewarmed.evictOne()) continue;
      const victim = forState && this.leastRecentlyUsedIdle(this.evictionCandidates(forState, mb));
      if (!victim) return false;
      this.counters.evictions++;
      void this.discard(victim);
    }
    this.memoryUsedMb += mb;
    return true;
  }

  /**
   * Whose idle instances a start of `forState` needing `mb` may stop: other functions' only while
   * its function would then hold no more than a fair share (the budget split evenly among the
   * functions holding memory, itself included), or for its first instance; beyond that only its
   * own function's (other revisions). So one function cannot evict everyone else's warm instances.
   */
  private evictionCandidates(forState: RevisionState, mb: number): RevisionState[] {
    const held = new Map<string, number>();
    for (const state of this.revisionStates.values()) {
      const mbHeld = state.instances.length * state.fn.memoryMb + state.starting * state.fn.memoryMb;
      if (mbHeld > 0) held.set(state.fn.name, (held.get(state.fn.name) ?? 0) + mbHeld);
    }
    const own = held.get(forState.fn.name) ?? 0;
    const holders = held.size + (own > 0 ? 0 : 1);
    const mayEvictOthers = own === 0 || own + mb <= this.settings.memoryBudgetMb / holders;
    return [...this.revisionStates.values()].filter(
      (state) => state !== forState && (mayEvictOthers || state.fn.name === forState.fn.name),
    );
  }

  private leastRecentlyUsedIdle(candidates: RevisionState[]): Instance | undefined {
    let victim: Instance | undefined;
    for (const state of candidates) {
      for (const instance of state.instances) {
        if (instance.leases === 0 && (!victim || instance.lastUsedAt < victim.lastUsedAt)) victim = instance;
      }
    }
    return victim;
  }

  /** Starts an instance for a revision (memory already reserved) and hands it to waiting calls. */
  private async startSpecialised(state: RevisionState, log: LogSink, provisioned = false): Promise<void> {
    state.starting++;
    const began = performance.now();
    const { fn, code } = state;
    let instance = this.prewarmed.take(fn.runtime, fn.memoryMb);
    const fromPool = instance !== undefined;
    if (instance) {
      this.memoryUsedMb -= instance.memoryMb; // the pool's reservation becomes ours
      instance.wake();
    }
    let failure: Failure | undefined;
    if (!instance) {
      const started = await this.startGeneric(fn.runtime, fn.memoryMb, false);
      if ('failure' in started) failure = started.failure;
      else instance = started;
    }
    if (instance && !failure) {
      try {
        // The function's network choice is in force before any of its code loads.
        await Promise.all([instance.connectNetwork(fn.network), instance.loadCode(code)]);
      } catch (err) {
        failure = {
          kind: 'platform_error',
          error: {
            type: 'PlatformError',
            message: `could not prepare the instance: ${messageWithCauses(err)}`,
          },
        };
      }
    }
    if (failure || !instance || state.retired || this.closed) {
      state.starting--;
      this.countStart(fn, fromPool);
      this.memoryUsedMb -= fn.memoryMb;
      if (instance) void instance.kill();
      this.failWaiters(state, failure);
      return;
    }
    const initialised = instance.specialize(
      state.revision,
      {
        functionName: fn.name,
        functionVersion: fn.version,
        functionArn: lambdaFunctionArn(this.settings.arnScope, fn.name),
        handler: fn.handler,
        entry: code.entry,
        memoryMb: fn.memoryMb,
        timeoutSec: fn.timeoutSec,
        concurrency: fn.concurrency,
        env: functionEnv(fn, {
          scope: this.settings.arnScope,
          instanceId: instance.id,
          provisioned,
          now: new Date(),
          runtimeVersion: this.driver.runtimeVersion(fn.runtime),
        }),
      },
      Math.max(MIN_INIT_TIMEOUT_MS, fn.timeoutSec * 1000),
      log,
    );
    // The init is on its way: the waiting calls go right behind it (the runtime runs them once
    // the function is loaded), a round trip sooner than after `inited` comes back. Should the
    // init fail, the instance fails them with its error.
    state.starting--;
    // A provisioned instance was started ahead of demand: its first call is warm.
    instance.hasServed = provisioned;
    // Its idle time counts from now, not from when it was started for the pre-warmed pool.
    instance.lastUsedAt = Date.now();
    state.instances.push(instance);
    const live = instance;
    void live.exited.then(() => {
      const i = state.instances.indexOf(live);
      if (i >= 0) {
        state.instances.splice(i, 1);
        this.memoryUsedMb -= live.memoryMb;
        if (state.waiters.length > 0) this.scale(state);
      }
    });
    this.dispatch(state);
    const initFailure = await initialised;
    this.countStart(fn, fromPool);
    if (initFailure) {
      void this.discard(live);
      // The calls it was started for went behind its init and have failed with it.
      if (state.instances.length === 0 && state.starting === 0) this.failWaiters(state, initFailure);
      return;
    }
    const startKey = `${fn.runtime}:${fromPool ? 'prewarmed' : 'spawned'}`;
    this.startMs.set(startKey, ewma(this.startMs.get(startKey), performance.now() - began));
    this.scale(state);
  }

  private countStart(fn: FunctionRecord, fromPool: boolean): void {
    this.counters.coldStarts++;
    if (fromPool) this.counters.prewarmedStarts++;
    this.prewarmed.noteDemand(fn.runtime, fn.memoryMb);
  }

  /**
   * After a failed start: calls still waiting share its failure when nothing else could serve
   * them (no instance, none starting); otherwise the oldest does, and later calls try afresh.
   */
  private failWaiters(state: RevisionState, failure: Failure | undefined): void {
    const settled: Failure = failure ?? {
      kind: 'superseded',
      error: {
        type: 'FunctionChanged',
        message: `function '${state.fn.name}' changed while it started; retry`,
      },
    };
    if (state.instances.length === 0 && state.starting === 0) {
      for (const waiter of state.waiters.splice(0)) waiter.settle({ failure: settled });
    } else {
      state.waiters.shift()?.settle({ failure: settled });
    }
  }

  /** How long starting an instance of this function is expected to take now. */
  private expectedStartMs(fn: FunctionRecord): number {
    const kind = this.prewarmed.hasReady(fn.runtime, fn.memoryMb) ? 'prewarmed' : 'spawned';
    return this.startMs.get(`${fn.runtime}:${kind}`) ?? DEFAULT_START_MS[kind];
  }

  /** Starts a generic runtime sandbox of one shape, without code yet, and waits until it is ready. */
  private async startGeneric(
    runtime: Runtime,
    memoryMb: number,
    background: boolean,
  ): Promise<Instance | { failure: Failure }> {
    const id = `i-${randomUUID()}`;
    let instance: Instance;
    try {
      const sandbox = await this.driver.start({
        instanceId: id,
        runtime,
        memoryMb,
        limits: { maxProcesses: this.settings.maxProcesses, tmpSizeMb: this.settings.tmpSizeMb },
        background,
      });
      instance = new Instance(id, memoryMb, sandbox);
    } catch (err) {
      return {
        failure: {
          kind: 'platform_error',
          error: { type: 'PlatformError', message: `could not start a sandbox: ${messageWithCauses(err)}` },
        },
      };
    }
    const failure = await instance.waitReady(MIN_INIT_TIMEOUT_MS);
    if (!failure) return instance;
    // No function code has run yet: a runtime that does not start is Nimbus's failure (unless it
    // ran out of the memory the function asked for).
    if (failure.kind === 'out_of_memory') return { failure };
    return {
      failure: {
        kind: 'platform_error',
        error: { type: 'PlatformError', message: `the runtime did not start: ${failure.error.message}` },
      },
    };
  }
}
