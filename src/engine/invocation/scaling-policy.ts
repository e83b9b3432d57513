/**
 * The scaling policy: pure decisions (no I/O, no timers) on how many instances of a function
 * revision to start for the calls waiting for one, how many to keep warm, which idle ones to stop,
 * and how long a start is expected to take. The InstancePool feeds it a revision's load and does
 * what it says; the memory budget (memory-budget.ts) may still refuse a start the policy wants.
 * A call waits whenever no instance has a free slot; the policy decides what starts for it.
 */
import type { Runtime } from '../../core/function.js';

/** What the policy sees of one function revision at the moment of a decision. */
export interface RevisionLoad {
  /** Calls one instance serves at once. */
  concurrency: number;
  maxInstances: number;
  /** Instances the revision holds (counted against maxInstances), alive or not yet known dead. */
  instances: number;
  /** Instances alive among them (those that can serve calls while others start). */
  liveInstances: number;
  /** Instances being started for it. */
  starting: number;
  /** Calls waiting for a slot. */
  waiting: number;
  /** Moving average of how long its calls take (ms); undefined before the first finished. */
  callMs: number | undefined;
}

/**
 * Instances one function starts at once; more wait until these are up (and may not be needed).
 * Fewer while no call has finished yet: until then nobody knows whether the first instances will
 * drain a burst in milliseconds (most functions) or need company.
 */
export const MAX_PARALLEL_STARTS_PER_FUNCTION = { unknownCallTime: 2, known: 4 };
/** Weight of the newest sample in the moving averages of call and start times. */
const EWMA_WEIGHT = 0.2;
/** Start time assumed before any was measured: a pre-warmed take, else an interpreter start. */
export const DEFAULT_START_MS = { prewarmed: 10, spawned: 150 };
/** Call times below this count as this (a call of 0 ms would drain any queue at once). */
const MIN_CALL_MS = 0.05;

/** An exponentially weighted moving average with one more sample. */
export function ewma(average: number | undefined, sample: number): number {
  return average === undefined ? sample : average + EWMA_WEIGHT * (sample - average);
}

/** Calls the live instances finish while a new instance would start (0 before any call time is known). */
export function drainedWhileStarting(load: RevisionLoad, expectedStartMs: number): number {
  if (load.callMs === undefined || load.liveInstances === 0) return 0;
  return Math.floor(
    (load.liveInstances * load.concurrency * expectedStartMs) / Math.max(load.callMs, MIN_CALL_MS),
  );
}

/**
 * How many instances to start now for the waiting calls: as many as the calls need, counting that
 * each starting instance will take `concurrency` of them and that running instances serve the
 * queue while a new one starts (short calls drain a burst faster than instances start); a few at
 * a time (MAX_PARALLEL_STARTS_PER_FUNCTION), never beyond maxInstances. 0 means the calls wait.
 */
export function instancesToStart(load: RevisionLoad, expectedStartMs: number): number {
  const drained = drainedWhileStarting(load, expectedStartMs);
  const parallel = MAX_PARALLEL_STARTS_PER_FUNCTION[load.callMs === undefined ? 'unknownCallTime' : 'known'];
  let starts = 0;
  for (;;) {
    const starting = load.starting + starts;
    if (load.waiting - drained <= starting * load.concurrency) break;
    if (starting >= parallel) break;
    if (load.instances + starting >= load.maxInstances) break;
    starts++;
  }
  return starts;
}

/** Whether some waiting calls are not covered by the instances already starting. */
export function hasUncoveredCalls(waiting: number, starting: number, concurrency: number): boolean {
  return waiting > starting * concurrency;
}

/** Instances to start so that the revision has its minimum (held plus starting). */
export function instancesToProvision(instances: number, starting: number, minInstances: number): number {
  return Math.max(0, minInstances - instances - starting);
}

/** What the policy needs to know of an instance to choose idle ones. */
export interface IdleCandidate {
  /** Calls it serves now. */
  leases: number;
  /** When it last finished a call (ms since the epoch). */
  lastUsedAt: number;
}

/**
 * The idle instances to stop now: those idle for at least `idleTimeoutMs`, least recently used
 * first, as long as the revision keeps `minInstances` (of all it holds).
 */
export function idleInstancesToStop<T extends IdleCandidate>(
  instances: readonly T[],
  minInstances: number,
  idleTimeoutMs: number,
  now: number,
): T[] {
  const idle = instances
    .filter((i) => i.leases === 0 && now - i.lastUsedAt >= idleTimeoutMs)
    .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  return idle.slice(0, Math.max(0, instances.length - minInstances));
}

/** Moving averages of start times per runtime and kind of start (a pre-warmed take or a spawn). */
export class StartTimes {
  private readonly averages = new Map<string, number>();

  record(runtime: Runtime, fromPrewarmed: boolean, ms: number): void {
    const key = `${runtime}:${fromPrewarmed ? 'prewarmed' : 'spawned'}`;
    this.averages.set(key, ewma(this.averages.get(key), ms));
  }

  /** How long the next start of this runtime is expected to take; `prewarmedReady` when a take is possible. */
  expected(runtime: Runtime, prewarmedReady: boolean): number {
    const kind = prewarmedReady ? 'prewarmed' : 'spawned';
    return this.averages.get(`${runtime}:${kind}`) ?? DEFAULT_START_MS[kind];
  }
}
