/**
 * The node's memory budget: the memory all instances (and pre-warmed sandboxes) together may be
 * given. A start reserves its function's memory size before it begins and the memory is released
 * when the instance stops; when a reservation does not fit, the caller's `makeRoom` stops
 * something. Which idle instances a start may stop is the fair-share rule of evictionCandidates.
 * No I/O and no timers: the InstancePool decides what stopping means.
 */

export class MemoryBudget {
  private used = 0;

  constructor(readonly totalMb: number) {}

  get usedMb(): number {
    return this.used;
  }

  /**
   * Counts `mb` against the budget, calling `makeRoom` (which frees some memory and says whether
   * it could) while it does not fit. False, with nothing counted, when no more room can be made.
   */
  reserve(mb: number, makeRoom: () => boolean): boolean {
    while (this.used + mb > this.totalMb) {
      if (!makeRoom()) return false;
    }
    this.used += mb;
    return true;
  }

  release(mb: number): void {
    this.used -= mb;
  }
}

/** Memory one function revision holds (its instances, running and starting). */
export interface MemoryHolder {
  functionName: string;
  heldMb: number;
}

/**
 * Whose idle instances a start for `requester` needing `mb` may stop: other functions' only while
 * its function would then hold no more than a fair share (the budget split evenly among the
 * functions holding memory, itself included), or for its first instance; beyond that only its own
 * function's (other revisions). So one function cannot evict everyone else's warm instances.
 * Never the requester itself.
 */
export function evictionCandidates<T extends MemoryHolder>(
  holders: Iterable<T>,
  requester: T,
  mb: number,
  budgetMb: number,
): T[] {
  const all = [...holders];
  const heldPerFunction = new Map<string, number>();
  for (const holder of all) {
    if (holder.heldMb > 0)
      heldPerFunction.set(
        holder.functionName,
        (heldPerFunction.get(holder.functionName) ?? 0) + holder.heldMb,
      );
  }
  const own = heldPerFunction.get(requester.functionName) ?? 0;
  const functionsHolding = heldPerFunction.size + (own > 0 ? 0 : 1);
  const mayEvictOthers = own === 0 || own + mb <= budgetMb / functionsHolding;
  return all.filter(
    (holder) => holder !== requester && (mayEvictOthers || holder.functionName === requester.functionName),
  );
}

/** What eviction needs to know of an instance. */
export interface EvictableInstance {
  leases: number;
  lastUsedAt: number;
}

/** The least recently used instance serving no call, among all the groups given. */
export function leastRecentlyUsedIdle<T extends EvictableInstance>(
  groups: Iterable<readonly T[]>,
): T | undefined {
  let victim: T | undefined;
  for (const group of groups) {
    for (const instance of group) {
      if (instance.leases === 0 && (!victim || instance.lastUsedAt < victim.lastUsedAt)) victim = instance;
    }
  }
  return victim;
}
