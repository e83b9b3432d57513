/**
 * One function revision in the InstancePool: the instances specialised for it, those starting,
 * and the calls waiting for a free slot, oldest first. Routes within the revision (the busiest
 * instance with a free slot gets the next call, so idle ones can be reaped) and answers waiting
 * calls; when to start or stop instances is the pool's (and its scaling policy's) business.
 */
import { createHash } from 'node:crypto';
import type { FunctionRecord } from '../../core/function.js';
import { NimbusError } from '../../core/errors.js';
import type { Failure } from '../../core/outcome.js';
import type { PreparedCode } from '../code/code-cache.js';
import type { Instance, LogSink } from './instance.js';
import type { MemoryHolder } from './memory-budget.js';
import type { RevisionLoad } from './scaling-policy.js';

/** An instance for a call (`cold` when it was started for it), or why none could be had. */
export type Acquired = { instance: Instance; cold: boolean } | { failure: Failure };

/** A call waiting for a slot. */
export interface Waiter {
  settle: (result: Acquired | Error) => void;
  /** Gets the output of an init the call waits behind. */
  log: LogSink;
  since: number;
}

const revisions = new WeakMap<FunctionRecord, string>();

/** Identifies code plus configuration: a change to either means new instances. */
export function revisionOf(fn: FunctionRecord): string {
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

/** A failure for calls that waited on a revision a redeploy replaced. */
export function superseded(message: string): Failure {
  return { kind: 'superseded', error: { type: 'FunctionChanged', message } };
}

export class PoolRevision implements MemoryHolder {
  readonly instances: Instance[] = [];
  /** Instances being started for it (their memory is already reserved). */
  starting = 0;
  readonly waiters: Waiter[] = [];
  /** Set when the function changed: it serves the calls it has and takes no more. */
  retired = false;
  /** Moving average of how long this revision's calls take (ms); undefined before the first. */
  callMs: number | undefined;

  constructor(
    readonly revision: string,
    readonly fn: FunctionRecord,
    readonly code: PreparedCode,
  ) {}

  get functionName(): string {
    return this.fn.name;
  }

  /** Memory of its instances, running and starting. */
  get heldMb(): number {
    return (this.instances.length + this.starting) * this.fn.memoryMb;
  }

  /** Whether it holds nothing and is no longer needed (retired, or no minimum to keep). */
  get isDisposable(): boolean {
    return (
      this.instances.length === 0 &&
      this.starting === 0 &&
      this.waiters.length === 0 &&
      (this.retired || this.fn.minInstances === 0)
    );
  }

  /** What the scaling policy sees of it. */
  load(): RevisionLoad {
    return {
      concurrency: this.fn.concurrency,
      maxInstances: this.fn.maxInstances,
      instances: this.instances.length,
      liveInstances: this.instances.filter((i) => i.isAlive).length,
      starting: this.starting,
      waiting: this.waiters.length,
      callMs: this.callMs,
    };
  }

  /** The busiest instance that still has a free slot: packing calls lets idle ones be reaped. */
  freeInstance(): Instance | undefined {
    let best: Instance | undefined;
    for (const instance of this.instances) {
      if (!instance.isAlive || instance.leases >= this.fn.concurrency) continue;
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

  /** Instances serving at least one call. */
  busyInstances(): number {
    return this.instances.filter((i) => i.leases > 0).length;
  }

  /**
   * Queues a call for a slot (the pool hands it one, or starts an instance for it). After
   * `timeoutMs` without one it is refused with 429 TOO_MANY_REQUESTS (`onThrottled` is told);
   * `onSettled` gets how long it waited, however it ended.
   */
  wait(
    log: LogSink,
    timeoutMs: number,
    onSettled: (waitedMs: number) => void,
    onThrottled: () => void,
  ): Promise<Acquired> {
    const fn = this.fn;
    return new Promise<Acquired>((resolve, reject) => {
      const waiter: Waiter = {
        log,
        since: Date.now(),
        settle: (result) => {
          clearTimeout(timer);
          onSettled(Date.now() - waiter.since);
          if (result instanceof Error) reject(result);
          else resolve(result);
        },
      };
      const throttle = () => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        // A call an instance on its way will serve is not throttled: the start ends within its
        // init timeout, and a failed start fails the calls it was for.
        if (i < this.starting * fn.concurrency) {
          timer = setTimeout(throttle, timeoutMs);
          return;
        }
        this.waiters.splice(i, 1);
        onThrottled();
        waiter.settle(
          new NimbusError(
            'TOO_MANY_REQUESTS',
            `function '${fn.name}' is at its limit of ${fn.maxInstances} instance(s) × ${fn.concurrency} concurrent call(s) (or the node's memory budget) and no slot freed up within ${timeoutMs} ms; retry later, or raise maxInstances or concurrency`,
          ),
        );
      };
      let timer = setTimeout(throttle, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Hands free slots to waiting calls, oldest first. */
  dispatch(): void {
    while (this.waiters.length > 0) {
      const instance = this.freeInstance();
      if (!instance) return;
      const waiter = this.waiters.shift()!;
      instance.leases++;
      waiter.settle({ instance, cold: !instance.hasServed });
    }
  }

  /** Removes an instance; false when it was not (or no longer) one of this revision's. */
  remove(instance: Instance): boolean {
    const i = this.instances.indexOf(instance);
    if (i < 0) return false;
    this.instances.splice(i, 1);
    return true;
  }

  /** Answers every waiting call with `result`. */
  settleAll(result: Acquired | Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.settle(result);
  }

  /**
   * After a failed start: calls still waiting share its failure when nothing else could serve
   * them (no instance, none starting); otherwise the oldest does, and later calls try afresh.
   */
  failWaiters(failure: Failure): void {
    if (this.instances.length === 0 && this.starting === 0) this.settleAll({ failure });
    else this.waiters.shift()?.settle({ failure });
  }
}
