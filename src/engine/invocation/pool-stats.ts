/**
 * The InstancePool's counters and gauges, for the benchmark, the tests and the metrics endpoint
 * (`GET /v1/stats`): what it has done since it started, and what its revisions hold now.
 */
import type { MemoryBudget } from './memory-budget.js';
import type { PoolRevision } from './pool-revision.js';

/** What the pool has done since it started. */
export interface PoolCounters {
  coldStarts: number;
  prewarmedStarts: number;
  warmHits: number;
  queued: number;
  queueWaitMsTotal: number;
  throttled: number;
  evictions: number;
}

export interface PoolStats extends PoolCounters {
  instances: number;
  idle: number;
  starting: number;
  memoryUsedMb: number;
  memoryBudgetMb: number;
  /** Ready pre-warmed sandboxes per shape (`runtime:memoryMb`). */
  prewarmed: Record<string, number>;
  functions: Record<string, { instances: number; busy: number; queued: number }>;
}

export function zeroCounters(): PoolCounters {
  return {
    coldStarts: 0,
    prewarmedStarts: 0,
    warmHits: 0,
    queued: 0,
    queueWaitMsTotal: 0,
    throttled: 0,
    evictions: 0,
  };
}

/** The stats of a pool with these revisions, counters, memory budget and pre-warmed sandboxes. */
export function poolStats(
  revisions: Iterable<PoolRevision>,
  counters: PoolCounters,
  memory: MemoryBudget,
  prewarmed: Record<string, number>,
): PoolStats {
  const functions: PoolStats['functions'] = {};
  let instances = 0;
  let idle = 0;
  let starting = 0;
  for (const state of revisions) {
    const busy = state.busyInstances();
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
    ...counters,
    memoryUsedMb: memory.usedMb,
    memoryBudgetMb: memory.totalMb,
    prewarmed,
    functions,
  };
}
