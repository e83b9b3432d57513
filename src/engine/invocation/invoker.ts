/**
 * Invokes functions: records the execution, gets an instance (warm or cold), sends the event,
 * enforces the timeout by killing the instance, classifies the outcome, and gives the instance
 * back or replaces it. Every invocation ends in exactly one recorded outcome. The Invoker writes
 * the records of synchronous calls only: a queued call's record belongs to the AsyncDispatcher,
 * which the Invoker tells when an attempt starts running and which records the attempt's outcome.
 */
import { lambdaFunctionArn, type ArnScope } from '../../core/arn.js';
import { NimbusError, messageWithCauses } from '../../core/errors.js';
import type { FunctionRecord } from '../../core/function.js';
import type { Execution, Trigger } from '../../core/execution.js';
import { failedStatusOf, outcomeClassOf, type Failure } from '../../core/outcome.js';
import { newExecutionId } from '../executions/execution-id.js';
import type { CodeCache } from '../code/code-cache.js';
import type { EngineLogger, ExecutionLog, ExecutionRecorder } from '../executions/execution-recorder.js';
import type { FunctionService } from '../functions/function-service.js';
import type { HttpResponseSink, Instance, InvokeResult, LogSink } from './instance.js';
import type { Acquired, InstancePool } from './instance-pool.js';
import type { CallContext } from '../../runtimes/protocol.js';
import { megabytes } from '../executions/report-lines.js';
import type { VersionService } from '../functions/version-service.js';

/**
 * How a call ended: its record, and the function's result as JSON bytes, or how it failed (what
 * the front doors map to their answers); and where the execution's next log line goes (after this
 * call's lines).
 */
export type InvocationOutcome =
  | { execution: Execution; payload: Buffer; failure: undefined; nextLogSeq: number }
  | { execution: Execution; payload: undefined; failure: Failure; nextLogSeq: number };

/**
 * How often a call whose function was redeployed while it waited for an instance is sent again, to
 * the new code, before it is answered with `superseded`.
 */
const SUPERSEDED_RETRIES = 3;

/**
 * What an invocation runs: a function's name, or the record that serves the call when the caller
 * resolved it already (from the same `qualifier` it passes in the options).
 */
type InvokeTarget = string | FunctionRecord;

interface InvokeOptions {
  trigger: Trigger;
  /** Result payloads larger than this fail the execution. */
  maxResultBytes: number;
  /**
   * An attempt of a queued (async) call: its execution record already exists and is reused across
   * attempts, so the id stays the one the caller was given. Its owner records it: the Invoker
   * saves nothing of it.
   */
  queued?: QueuedAttempt | undefined;
  /**
   * A streaming HTTP call (wsgi, fetch) or a call that takes a streamed response: the response
   * goes here, the record keeps its summary.
   */
  http?: HttpResponseSink | undefined;
  /**
   * What to run: `$LATEST` (when absent), a version number, or an alias (resolved per call, so a
   * weighted alias picks its version each time). The execution records it, and the version that served.
   */
  qualifier?: string | undefined;
  /** The caller's `X-Amzn-Trace-Id`, for the function's `_X_AMZN_TRACE_ID`. */
  trace?: string | undefined;
  /** The caller's client context, JSON text (decoded from `X-Amz-Client-Context`). */
  clientContext?: string | undefined;
}

interface QueuedAttempt {
  executionId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Where this attempt's log lines start, after the earlier attempts' lines. */
  logSeqStart: number;
  /** Called with the record (status `running`) once the attempt has an instance and runs. */
  onRunning(execution: Execution): void;
}

export class Invoker {
  private inFlight = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly functions: FunctionService,
    private readonly codeCache: CodeCache,
    private readonly pool: InstancePool,
    private readonly recorder: ExecutionRecorder,
    private readonly versions: VersionService,
    /** The server's region and account id: a qualified call's invoked ARN is in them. */
    private readonly arnScope: ArnScope,
    /** Where platform errors are logged, with their cause, as they are recorded. */
    private readonly logger: EngineLogger,
  ) {}

  /** Resolves when no invocation is running (for a graceful shutdown). */
  drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Runs one invocation to its end. `target` is the function's name (resolved here: `$LATEST`
   * from the in-memory view, or what `options.qualifier` names) or a record the caller already
   * resolved from `options.qualifier` with `VersionService.resolve`, when it needs the serving
   * version's settings first. Throws only when the function (or the qualifier's version or alias)
   * does not exist, the qualifier is malformed, or the call is throttled (429).
   */
  async invoke(target: InvokeTarget, event: Buffer, options: InvokeOptions): Promise<InvocationOutcome> {
    this.inFlight++;
    try {
      const fn =
        typeof target !== 'string'
          ? target
          : options.qualifier === undefined
            ? (this.functions.cached(target) ?? (await this.functions.get(target)))
            : await this.versions.resolve(target, options.qualifier);
      return await this.run(fn, event, options);
    } finally {
      if (--this.inFlight === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  /** The record that serves a call now: what `invoke` resolves, again (after a redeploy). */
  private resolveAgain(name: string, qualifier: string | undefined): Promise<FunctionRecord> {
    return qualifier === undefined ? this.functions.get(name) : this.versions.resolve(name, qualifier);
  }

  private async run(
    served: FunctionRecord,
    event: Buffer,
    options: InvokeOptions,
  ): Promise<InvocationOutcome> {
    let fn = served;
    const started = Date.now();
    const queued = options.queued;
    const execution = this.recorder.newExecution({
      id: queued ? queued.executionId : newExecutionId(started),
      functionName: fn.name,
      version: fn.version,
      trigger: options.trigger,
      invocationType: queued ? 'async' : 'sync',
      status: 'running',
      startedAt: new Date(started).toISOString(),
      event: event.toString('utf8'),
      attempts: queued ? queued.attempt : 1,
      qualifier: options.qualifier,
    });
    // Most calls print nothing: the collector is made when the first output arrives.
    let log: ExecutionLog | undefined;
    const sink: LogSink = (stream, text, time) =>
      (log ??= this.recorder.logFor(execution, queued?.logSeqStart)).append(stream, text, time);

    let result: InvokeResult;
    let instance: Instance | undefined;
    let callStarted = 0;
    /** Whether the call has a record and its START was announced (its END and REPORT follow). */
    let reported = false;
    let platformCause: unknown;
    /** Set while a superseded call looks its function up again (which may be gone by now). */
    let resolving = false;
    try {
      const first = this.acquire(fn, sink);
      let acquired = first instanceof Promise ? await first : first;
      // Redeployed while the call waited: it is served by the new code, as a call made now would be.
      for (let retry = 1; 'failure' in acquired && acquired.failure.kind === 'superseded'; retry++) {
        if (retry > SUPERSEDED_RETRIES) break;
        resolving = true;
        fn = await this.resolveAgain(fn.name, options.qualifier);
        resolving = false;
        execution.version = fn.version;
        acquired = await this.acquire(fn, sink);
      }
      // The record is saved once the call has an instance: a call refused with 429 leaves none.
      if (queued) queued.onRunning(execution);
      else this.recorder.save(execution);
      this.recorder.announceStart(execution);
      reported = true;
      if ('failure' in acquired) {
        result = { ok: false, failure: acquired.failure };
      } else {
        instance = acquired.instance;
        execution.coldStart = acquired.cold;
        execution.instanceId = instance.id;
        callStarted = performance.now();
        result = await instance.invoke(
          execution.id,
          event,
          fn.timeoutSec * 1000,
          sink,
          options.http,
          callContextOf(this.arnScope, fn, options),
        );
      }
    } catch (err) {
      if (err instanceof NimbusError && err.code === 'TOO_MANY_REQUESTS') throw err;
      // A function deleted (or an alias changed) while the call waited: the lookup's own answer.
      if (resolving) throw err;
      platformCause = err;
      result = {
        ok: false,
        failure: {
          kind: 'platform_error',
          error: { type: 'PlatformError', message: messageWithCauses(err) },
        },
      };
    }
    if (!result.ok && result.failure.kind === 'platform_error') {
      // The record tells the caller it was Nimbus's fault; the operator needs the why.
      this.logger.error(
        { err: platformCause ?? result.failure.error, executionId: execution.id, function: fn.name },
        `platform error in an execution: ${result.failure.error.message}`,
      );
    }

    // A first call sent behind its instance's init started when the init finished.
    const callMs = instance
      ? performance.now() - Math.max(callStarted, instance.initedAt)
      : Date.now() - started;
    // Read before the instance may be stopped below (its cgroup goes with it).
    const peakMemoryBytes = instance?.peakMemoryBytes();
    if (instance) {
      if (result.ok || result.failure.kind === 'function_error') this.pool.release(instance, callMs);
      else if (result.failure.kind === 'timed_out') {
        sink(
          'system',
          `[nimbus] execution timed out after ${fn.timeoutSec} s; instance stopped\n`,
          Date.now(),
        );
        void this.pool.discard(
          instance,
          'another call on the same instance timed out, so the instance was stopped',
        );
      } else void this.pool.discard(instance);
    }
    if (result.ok && result.payload.length > options.maxResultBytes) {
      result = {
        ok: false,
        failure: {
          kind: 'response_too_large',
          error: {
            type: 'ResponseTooLarge',
            message: `the function returned ${result.payload.length} bytes; the limit for a synchronous response is ${options.maxResultBytes} bytes`,
          },
        },
      };
    }

    log?.close();
    // The REPORT line's facts (rendered where logs are read, see report-lines.ts).
    execution.callDurationMs = callMs;
    execution.memorySizeMb = fn.memoryMb;
    const outOfMemory = !result.ok && result.failure.kind === 'out_of_memory';
    execution.maxMemoryUsedMb = outOfMemory
      ? fn.memoryMb
      : peakMemoryBytes === undefined
        ? null
        : megabytes(peakMemoryBytes);
    execution.initDurationMs = (execution.coldStart ? instance?.initDurationMs : undefined) ?? null;
    execution.durationMs = Date.now() - started;
    if (result.ok) {
      const payload = result.payload;
      const output = this.recorder.capText(options.http?.summary() ?? payload.toString('utf8'));
      execution.status = 'succeeded';
      execution.outcome = 'succeeded';
      execution.output = output.text;
      execution.outputTruncated = output.truncated;
    } else {
      execution.status = failedStatusOf(result.failure.kind);
      execution.outcome = outcomeClassOf(result.failure.kind);
      execution.error = result.failure.error;
    }
    // A queued call's record is its owner's to save, with the status the attempt leaves it in.
    if (!queued) this.recorder.save(execution);
    const nextLogSeq = log ? log.nextSeq : (queued?.logSeqStart ?? 0);
    if (reported) this.recorder.announceEnd(execution, nextLogSeq);
    return result.ok
      ? { execution, payload: result.payload, failure: undefined, nextLogSeq }
      : { execution, payload: undefined, failure: result.failure, nextLogSeq };
  }

  /**
   * An instance for the call, or why there is none: a warm one without a promise (the hot path),
   * else once one frees up or has started.
   */
  private acquire(fn: FunctionRecord, sink: LogSink): Acquired | Promise<Acquired> {
    const code = this.codeCache.preparedFor(fn);
    if (!code) {
      return this.codeCache
        .prepare(fn)
        .then((prepared) => this.pool.acquireWarm(fn, prepared) ?? this.pool.acquire(fn, prepared, sink));
    }
    return this.pool.acquireWarm(fn, code) ?? this.pool.acquire(fn, code, sink);
  }
}

/**
 * What the runtime is told about the call besides its event: undefined for a plain call (the hot
 * path's frame stays as it is); else the invoked ARN when a qualifier was named, the trace id and
 * the client context.
 */
function callContextOf(scope: ArnScope, fn: FunctionRecord, options: InvokeOptions): CallContext | undefined {
  const { qualifier, trace, clientContext } = options;
  if (qualifier === undefined && trace === undefined && clientContext === undefined) return undefined;
  const context: CallContext = {};
  if (qualifier !== undefined) context.arn = lambdaFunctionArn(scope, fn.name, qualifier);
  if (trace !== undefined) context.trace = trace;
  if (clientContext !== undefined) context.cc = clientContext;
  return context;
}
