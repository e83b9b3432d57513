/**
 * Starts instances, in the two steps a cold start has: a generic runtime sandbox of one shape
 * (runtime, memory size) that has loaded no function (for the pre-warmed pool, or when none is
 * ready), then, for one function revision, its network and code and its init (the handler's module
 * loaded with the function's environment). Failures come back as Failures, never thrown. Knows
 * nothing of routing calls or of when to start: the InstancePool decides that.
 */
import { randomUUID } from 'node:crypto';
import { lambdaFunctionArn, type ArnScope } from '../../core/arn.js';
import { messageWithCauses } from '../../core/errors.js';
import type { FunctionRecord, Runtime } from '../../core/function.js';
import type { Failure } from '../../core/outcome.js';
import type { SandboxDriver } from '../../core/ports.js';
import type { PreparedCode } from '../code/code-cache.js';
import { functionEnv } from './function-env.js';
import { Instance, type LogSink } from './instance.js';
import type { MemoryBudget } from './memory-budget.js';
import { PrewarmedSandboxes } from './prewarmed-sandboxes.js';
import { StartTimes } from './scaling-policy.js';

export interface StarterSettings {
  /** The server's region and account id (functions' ARNs and AWS_REGION). */
  arnScope: ArnScope;
  maxProcesses: number;
  tmpSizeMb: number;
  /** Generic sandboxes kept ready per runtime at the default memory size (0 turns pre-warming off). */
  prewarmPerRuntime: number;
  /** Upper bound of the adaptive pre-warmed pool per runtime and memory size. */
  prewarmMax: number;
}

/** An instance prepared for a function's init, or why none could be; `fromPool` and `began` describe the start. */
export type Prepared = ({ instance: Instance } | { failure: Failure }) & { fromPool: boolean; began: number };

/** Initialisation gets at least this long, even for functions with a shorter timeout. */
const MIN_INIT_TIMEOUT_MS = 10_000;

function platformError(message: string): { failure: Failure } {
  return { failure: { kind: 'platform_error', error: { type: 'PlatformError', message } } };
}

export class InstanceStarter {
  /** Ready generic sandboxes; their memory counts against the budget like instances'. */
  readonly prewarmed: PrewarmedSandboxes;
  private readonly startTimes = new StartTimes();

  constructor(
    private readonly driver: SandboxDriver,
    private readonly settings: StarterSettings,
    private readonly memory: MemoryBudget,
  ) {
    this.prewarmed = new PrewarmedSandboxes({
      basePerRuntime: settings.prewarmPerRuntime,
      maxPerShape: settings.prewarmMax,
      start: (runtime, memoryMb) => this.startGeneric(runtime, memoryMb, true),
      // A refill makes room by stopping other ready sandboxes only, never a function's instance.
      reserveMemory: (mb) => memory.reserve(mb, () => this.prewarmed.evictOne()),
      releaseMemory: (mb) => memory.release(mb),
    });
  }

  /** How long starting an instance of this function is expected to take now. */
  expectedStartMs(fn: FunctionRecord): number {
    return this.startTimes.expected(fn.runtime, this.prewarmed.hasReady(fn.runtime, fn.memoryMb));
  }

  /** Counts a start that succeeded (prepared and initialised) into the start-time averages. */
  recordStart(fn: FunctionRecord, start: Prepared): void {
    this.startTimes.record(fn.runtime, start.fromPool, performance.now() - start.began);
  }

  /**
   * Starts a generic runtime sandbox of one shape, without code yet, and waits until it is ready.
   * `background` starts it at a lower CPU share (a pre-warmed refill, off the request path).
   */
  async startGeneric(
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
      return platformError(`could not start a sandbox: ${messageWithCauses(err)}`);
    }
    const failure = await instance.waitReady(MIN_INIT_TIMEOUT_MS);
    if (!failure) return instance;
    // No function code has run yet: a runtime that does not start is Nimbus's failure (unless it
    // ran out of the memory the function asked for).
    if (failure.kind === 'out_of_memory') return { failure };
    return platformError(`the runtime did not start: ${failure.error.message}`);
  }

  /**
   * An instance ready for `fn`'s init (its memory already reserved): a pre-warmed sandbox of its
   * shape when one is ready (taken at once, before this yields, its reservation handed back), else
   * a new one; with the function's network in force and its code loaded. On failure it is stopped.
   */
  async prepare(fn: FunctionRecord, code: PreparedCode): Promise<Prepared> {
    const began = performance.now();
    const taken = this.prewarmed.take(fn.runtime, fn.memoryMb);
    const fromPool = taken !== undefined;
    let instance: Instance;
    if (taken) {
      this.memory.release(taken.memoryMb); // the function's reservation covers it now
      instance = taken;
      instance.wake();
    } else {
      const started = await this.startGeneric(fn.runtime, fn.memoryMb, false);
      if ('failure' in started) return { ...started, fromPool, began };
      instance = started;
    }
    try {
      // The function's network choice is in force before any of its code loads.
      await Promise.all([instance.connectNetwork(fn.network), instance.loadCode(code)]);
      return { instance, fromPool, began };
    } catch (err) {
      void instance.kill();
      return {
        ...platformError(`could not prepare the instance: ${messageWithCauses(err)}`),
        fromPool,
        began,
      };
    }
  }

  /**
   * Sends the init that loads the function into a prepared instance of revision `revision`; calls
   * may be sent right behind it. Resolves with the init's failure (the instance is then killed and
   * the calls behind it fail with it), undefined once the function has loaded. `provisioned` when
   * the instance is started ahead of demand (minimum instances); `log` gets the init's output.
   */
  initialise(
    instance: Instance,
    revision: string,
    fn: FunctionRecord,
    code: PreparedCode,
    provisioned: boolean,
    log: LogSink,
  ): Promise<Failure | undefined> {
    const scope = this.settings.arnScope;
    return instance.specialize(
      revision,
      {
        functionName: fn.name,
        functionVersion: fn.version,
        functionArn: lambdaFunctionArn(scope, fn.name),
        handler: fn.handler,
        entry: code.entry,
        memoryMb: fn.memoryMb,
        timeoutSec: fn.timeoutSec,
        concurrency: fn.concurrency,
        env: functionEnv(fn, {
          scope,
          instanceId: instance.id,
          provisioned,
          now: new Date(),
          runtimeVersion: this.driver.runtimeVersion(fn.runtime),
        }),
      },
      Math.max(MIN_INIT_TIMEOUT_MS, fn.timeoutSec * 1000),
      log,
    );
  }
}
