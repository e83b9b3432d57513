/**
 * Asynchronous invocation: accepts calls into the durable queue (AsyncQueue port), and runs them
 * through the Invoker with bounded concurrency: claims due calls with a lease (renewed while they
 * run), retries failures with exponential backoff and jitter, drops calls older than their
 * function's maximum event age, sends results to on-success/on-failure destinations, and moves
 * calls that finally failed to the dead-letter list. Delivery is at least once: every effect of an
 * attempt (its record, its destination) is made durable before the queue is told, so a server that
 * dies mid-call leaves a leased call that the next server runs again. It must never drop a call.
 *
 * The dispatcher owns the execution records of queued calls: it writes the `queued` record, each
 * attempt's `running` state (the Invoker tells it when the attempt has an instance, and writes
 * nothing itself) and, in one write, the state the attempt leaves (succeeded, retrying, failed,
 * expired). It reads a record or log back only for what an earlier attempt (perhaps on another
 * server) left, through the ExecutionReader.
 */
import { hostname } from 'node:os';
import type { ArnScope } from '../../core/arn.js';
import { NimbusError, deadLetterNotFound } from '../../core/errors.js';
import type { Execution, ExecutionError, Trigger } from '../../core/execution.js';
import type { Destination, FunctionRecord } from '../../core/function.js';
import type {
  AsyncQueue,
  DeadLetter,
  DeadLetterCondition,
  DeadLetterQuery,
  ExecutionReader,
  QueuedCall,
} from '../../core/ports.js';
import { LATEST } from '../../core/version.js';
import {
  destinationRecord,
  encodeDestinationRecord,
  postDestination,
  type DestinationInput,
} from './destinations.js';
import type { EngineLogger, ExecutionRecorder } from '../executions/execution-recorder.js';
import { newExecutionId } from '../executions/execution-id.js';
import type { InvocationOutcome, Invoker } from '../invocation/invoker.js';
import type { VersionService } from '../functions/version-service.js';

interface DispatcherSettings {
  /** Calls the queue holds at most (waiting or running). */
  queueMax: number;
  /** Calls this server runs at once. */
  concurrency: number;
  /** Delay before the first retry; doubled for each further one. */
  retryBaseMs: number;
  /** Lease on a claimed call; renewed every third of it while the call runs. */
  leaseMs: number;
  /** Result payloads larger than this fail the attempt. */
  maxResultBytes: number;
  /** The server's region and account id, for the ARNs in destination records. */
  arnScope: ArnScope;
}

/** One call to queue (see `AsyncDispatcher.enqueue`). */
interface AsyncCallRequest {
  functionName: string;
  /** The event as JSON text, checked by the caller. */
  event: string;
  trigger: Trigger;
  /** The execution id to use instead of a new one (a timer tick's: see timerExecutionId). */
  executionId?: string | undefined;
  /**
   * A version number or alias, checked now (VERSION_NOT_FOUND, ALIAS_NOT_FOUND) and resolved again
   * when the call runs, so an alias moved meanwhile runs its new version. Absent: `$LATEST`.
   */
  qualifier?: string | undefined;
  /** The caller's X-Amzn-Trace-Id, which every attempt gets. */
  trace?: string | undefined;
}

/** What an asynchronous call's destination is told: how it ended (see `destinationRecord`). */
type DestinationReport = Omit<DestinationInput, 'scope' | 'executionId' | 'payload'>;

interface DispatcherLogger extends EngineLogger {
  info(obj: object, msg: string): void;
}

/** Errors that mean a queued call can never run: what it names is gone. */
const GONE = new Set<string>(['FUNCTION_NOT_FOUND', 'VERSION_NOT_FOUND', 'ALIAS_NOT_FOUND']);

/** How often the queue is looked at when nothing woke the dispatcher (other servers, expired leases). */
const POLL_MS = 500;
const MAX_RETRY_DELAY_MS = 5 * 60_000;
/** How long `close` waits for calls to finish their bookkeeping after the invoker drained. */
const CLOSE_GRACE_MS = 5_000;

export class AsyncDispatcher {
  /** Identifies this server's leases; unique per start. */
  private readonly owner = `${hostname()}:${process.pid}:${newExecutionId().slice(-12)}`;
  private readonly running = new Map<string, Promise<void>>();
  private started = false;
  private stopped = false;
  private pumping = false;
  private again = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly wakeTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly queue: AsyncQueue,
    /** Reads what earlier attempts of a call left: its record, its log lines. */
    private readonly executions: ExecutionReader,
    /** Resolves a call's function (its `$LATEST`, or the version its qualifier names). */
    private readonly versions: VersionService,
    private readonly invoker: Invoker,
    private readonly recorder: ExecutionRecorder,
    private readonly logger: DispatcherLogger,
    private readonly settings: DispatcherSettings,
  ) {}

  /**
   * Queues a call. Throws FUNCTION_NOT_FOUND for an unknown function (VERSION_NOT_FOUND,
   * ALIAS_NOT_FOUND for an unknown qualifier) and TOO_MANY_REQUESTS when the queue is full; once it
   * resolves the call is durable and its `queued` execution record is readable.
   */
  async enqueue(request: AsyncCallRequest): Promise<Execution> {
    const { event, trigger, qualifier, trace } = request;
    const fn = await this.versions.resolve(request.functionName, qualifier ?? LATEST);
    const now = Date.now();
    const at = new Date(now).toISOString();
    const id = request.executionId ?? newExecutionId(now);
    await this.queue.enqueue(
      {
        id,
        functionName: fn.name,
        payload: event,
        trigger,
        enqueuedAt: at,
        attempts: 0,
        runAfter: at,
        lastError: null,
        qualifier,
        ...(trace === undefined ? {} : { trace }),
      },
      this.settings.queueMax,
    );
    const execution = this.recorder.newExecution({
      id,
      functionName: fn.name,
      version: fn.version,
      trigger,
      invocationType: 'async',
      status: 'queued',
      startedAt: at,
      event,
      attempts: 0,
      qualifier,
    });
    this.recorder.save(execution);
    this.wake();
    return execution;
  }

  /** Dead letters, newest failure first. */
  listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]> {
    return this.queue.listDeadLetters(query);
  }

  async getDeadLetter(id: string): Promise<DeadLetter> {
    const letter = await this.queue.getDeadLetter(id);
    if (!letter) throw deadLetterNotFound(id);
    return letter;
  }

  /** Throws DEAD_LETTER_NOT_FOUND when there is no such dead letter. */
  async deleteDeadLetter(id: string): Promise<void> {
    if (!(await this.queue.deleteDeadLetter(id))) throw deadLetterNotFound(id);
  }

  /** Queues a dead letter's event again as a new call, and records the replay on the dead letter. */
  async replay(id: string, trigger: Trigger): Promise<{ executionId: string; functionName: string }> {
    const letter = await this.getDeadLetter(id);
    const execution = await this.enqueue({
      functionName: letter.functionName,
      event: letter.payload,
      trigger,
      qualifier: letter.qualifier,
    });
    await this.queue.markReplayed(id, execution.id, new Date());
    return { executionId: execution.id, functionName: letter.functionName };
  }

  /** Starts claiming. Leases left by a previous run of this (the only) server are released first. */
  async start(): Promise<void> {
    const released = await this.queue.releaseAllLeases();
    if (released > 0) {
      this.logger.info({ released }, 'asynchronous calls left running by a previous server will run again');
    }
    this.started = true;
    this.pollTimer = setInterval(() => this.wake(), POLL_MS).unref();
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(500, this.settings.leaseMs / 3));
    this.heartbeat.unref();
    this.wake();
  }

  /** Stops claiming new calls; calls already running go on (the invoker's drain waits for them). */
  stopClaiming(): void {
    this.stopped = true;
    clearInterval(this.pollTimer);
    for (const timer of this.wakeTimers) clearTimeout(timer);
    this.wakeTimers.clear();
  }

  /**
   * Stops for good: waits a little for running calls to record their ends, then stops renewing
   * leases. Calls still running keep their lease and run again on the next server (at least once).
   */
  async close(): Promise<void> {
    this.stopClaiming();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running.values()]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS))),
    ]);
    clearTimeout(timer);
    clearInterval(this.heartbeat);
  }

  /** Calls this server is running now. */
  get inFlight(): number {
    return this.running.size;
  }

  private wake(): void {
    if (!this.started || this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump().finally(() => (this.pumping = false));
  }

  private wakeAt(delayMs: number): void {
    const timer = setTimeout(() => {
      this.wakeTimers.delete(timer);
      this.wake();
    }, delayMs);
    timer.unref();
    this.wakeTimers.add(timer);
  }

  private async pump(): Promise<void> {
    do {
      this.again = false;
      const free = this.settings.concurrency - this.running.size;
      if (free <= 0 || this.stopped) return;
      let calls: QueuedCall[];
      try {
        calls = await this.queue.claim(this.owner, free, new Date(), this.settings.leaseMs);
      } catch (err) {
        this.logger.error({ err }, 'claiming asynchronous calls failed; will try again');
        return;
      }
      for (const call of calls) {
        // A running call whose renewed lease happens to end at the same millisecond is not new.
        if (this.running.has(call.id)) continue;
        const run = this.run(call)
          .catch((err: unknown) => {
            // The call keeps its lease and runs again once it ends: nothing is lost, but say why.
            this.logger.error({ err, executionId: call.id }, 'asynchronous call failed in the platform');
          })
          .finally(() => {
            this.running.delete(call.id);
            this.wake();
          });
        this.running.set(call.id, run);
      }
      if (calls.length === free) this.again = true;
    } while (this.again && !this.stopped);
  }

  private async renewLeases(): Promise<void> {
    if (this.running.size === 0) return;
    try {
      await this.queue.renewLeases(
        this.owner,
        [...this.running.keys()],
        new Date(Date.now() + this.settings.leaseMs),
      );
    } catch (err) {
      this.logger.error({ err }, 'renewing leases of running asynchronous calls failed');
    }
  }

  private async run(call: QueuedCall): Promise<void> {
    let fn: FunctionRecord;
    try {
      // A qualified call runs the version its qualifier names now, with that version's settings.
      fn = await this.versions.resolve(call.functionName, call.qualifier ?? LATEST);
    } catch (err) {
      if (err instanceof NimbusError && GONE.has(err.code)) return this.orphaned(call, err);
      throw err;
    }
    // The claim counted this attempt; earlier ones that never reported (their server died) count too.
    const attempt = call.attempts;
    const maxAgeMs = fn.async.maxEventAgeSec * 1000;
    if (Date.now() - Date.parse(call.enqueuedAt) > maxAgeMs) {
      return this.expire(call, fn, undefined, call.lastError, attempt - 1);
    }
    if (attempt > fn.async.maxRetries + 1) return this.lostAttempts(call, fn, attempt - 1);

    const logSeqStart = attempt > 1 ? await this.nextLogSeq(call.id) : 0;
    let outcome: InvocationOutcome;
    try {
      outcome = await this.invoker.invoke(fn, Buffer.from(call.payload), {
        trigger: call.trigger,
        maxResultBytes: this.settings.maxResultBytes,
        queued: {
          executionId: call.id,
          attempt,
          logSeqStart,
          // A copy: the Invoker goes on filling in its record, which is saved once it has ended.
          onRunning: (running) => this.recorder.save({ ...running }),
        },
        qualifier: call.qualifier,
        trace: call.trace,
      });
    } catch (err) {
      if (err instanceof NimbusError && GONE.has(err.code)) return this.orphaned(call, err);
      if (err instanceof NimbusError && err.code === 'TOO_MANY_REQUESTS') {
        // Throttled before it ran: not an attempt (as Lambda), but it still ages.
        const delay = this.retryDelay(attempt);
        await this.queue.reschedule(call.id, attempt - 1, new Date(Date.now() + delay), call.lastError);
        this.wakeAt(delay);
        return;
      }
      throw err;
    }

    const { execution, payload, nextLogSeq } = outcome;
    if (execution.status === 'succeeded') {
      await this.recorder.persist(execution);
      await this.sendTo(
        fn.async.onSuccess,
        call,
        { fn, condition: 'Success', attempts: attempt, execution, result: payload },
        nextLogSeq,
      );
      await this.queue.complete(call.id);
      return;
    }

    const delay = this.retryDelay(attempt);
    const retryAt = Date.now() + delay;
    if (attempt <= fn.async.maxRetries) {
      if (retryAt - Date.parse(call.enqueuedAt) > maxAgeMs) {
        // The retry would run past the event's maximum age: it ends here instead.
        return this.expire(call, fn, { execution, nextLogSeq }, execution.error, attempt);
      }
      execution.status = 'retrying';
      await this.recorder.persist(execution);
      await this.queue.reschedule(call.id, attempt, new Date(retryAt), execution.error);
      this.wakeAt(delay);
      return;
    }
    // Retries exhausted; a timed-out last attempt says so in its error.
    execution.status = 'failed';
    await this.recorder.persist(execution);
    await this.sendTo(
      fn.async.onFailure,
      call,
      { fn, condition: 'RetriesExhausted', attempts: attempt, execution },
      nextLogSeq,
    );
    await this.deadLetter(call, 'RetriesExhausted', execution.error, attempt);
  }

  /** 1, 2, 4 ... times the base delay, capped, plus up to a fifth more so retries of a burst spread out. */
  private retryDelay(attempt: number): number {
    const nominal = Math.min(this.settings.retryBaseMs * 2 ** Math.max(0, attempt - 1), MAX_RETRY_DELAY_MS);
    return Math.round(nominal * (1 + Math.random() * 0.2));
  }

  /** Ends a call that is too old to run (again); `last` is the attempt that just ran, if one did. */
  private async expire(
    call: QueuedCall,
    fn: FunctionRecord,
    last: { execution: Execution; nextLogSeq: number } | undefined,
    lastError: ExecutionError | null,
    attempts: number,
  ): Promise<void> {
    const execution = last?.execution ?? (await this.currentRecord(call, fn));
    execution.status = 'expired';
    execution.attempts = attempts;
    execution.error = {
      type: 'EventAgeExceeded',
      message: `the call was not run ${attempts > 0 ? 'again ' : ''}because it is older than the function's maximum event age of ${fn.async.maxEventAgeSec} s${lastError ? `; last error: ${lastError.type}: ${lastError.message}` : ''}`,
    };
    await this.recorder.persist(execution);
    await this.sendTo(
      fn.async.onFailure,
      call,
      { fn, condition: 'EventAgeExceeded', attempts, execution: last?.execution, lastError },
      last?.nextLogSeq,
    );
    await this.deadLetter(call, 'EventAgeExceeded', lastError ?? execution.error, attempts);
  }

  /**
   * A call whose function (or the version or alias it asked for) was deleted before it could run:
   * nothing can run it, so it is a dead letter.
   */
  private async orphaned(call: QueuedCall, cause: NimbusError): Promise<void> {
    const error: ExecutionError =
      cause.code === 'FUNCTION_NOT_FOUND'
        ? {
            type: 'FunctionNotFound',
            message: `function '${call.functionName}' was deleted before this call could run`,
          }
        : {
            type: cause.code === 'ALIAS_NOT_FOUND' ? 'AliasNotFound' : 'VersionNotFound',
            message: `${call.qualifier ?? ''} of function '${call.functionName}' was deleted before this call could run: ${cause.message}`,
          };
    const execution = await this.currentRecord(call, undefined);
    execution.status = 'failed';
    execution.outcome = 'developer_error';
    execution.error = error;
    await this.recorder.persist(execution);
    await this.deadLetter(call, 'RetriesExhausted', error, call.attempts - 1);
  }

  /**
   * A call whose every allowed attempt was started but whose last one never reported: its server
   * died during it (perhaps because of it). It is not run again.
   */
  private async lostAttempts(call: QueuedCall, fn: FunctionRecord, attempts: number): Promise<void> {
    const error: ExecutionError = call.lastError ?? {
      type: 'PlatformError',
      message: 'the server stopped during the last attempt, and no retries are left',
    };
    const execution = await this.currentRecord(call, fn);
    execution.status = 'failed';
    execution.outcome ??= 'platform_error';
    execution.error = error;
    execution.attempts = attempts;
    await this.recorder.persist(execution);
    await this.sendTo(fn.async.onFailure, call, {
      fn,
      condition: 'RetriesExhausted',
      attempts,
      lastError: error,
    });
    await this.deadLetter(call, 'RetriesExhausted', error, attempts);
  }

  /**
   * The record a queued call's earlier attempts (or its enqueueing) left, or a new one if it was
   * lost (e.g. by pruning).
   */
  private async currentRecord(call: QueuedCall, fn: FunctionRecord | undefined): Promise<Execution> {
    const stored = await this.executions.get(call.id);
    if (stored) return stored;
    return this.recorder.newExecution({
      id: call.id,
      functionName: call.functionName,
      version: fn?.version ?? LATEST,
      trigger: call.trigger,
      invocationType: 'async',
      status: 'queued',
      startedAt: call.enqueuedAt,
      event: call.payload,
      error: call.lastError,
      attempts: call.attempts,
      qualifier: call.qualifier,
    });
  }

  private async deadLetter(
    call: QueuedCall,
    condition: DeadLetterCondition,
    error: ExecutionError | null,
    attempts: number,
  ): Promise<void> {
    await this.queue.deadLetter({
      id: call.id,
      functionName: call.functionName,
      payload: call.payload,
      trigger: call.trigger,
      condition,
      error,
      attempts,
      enqueuedAt: call.enqueuedAt,
      failedAt: new Date().toISOString(),
      replayedAt: null,
      replayExecutionId: null,
      qualifier: call.qualifier,
    });
  }

  /**
   * Log lines of an async call's attempts follow one another: the next attempt starts after the
   * last line its earlier attempts left.
   */
  private async nextLogSeq(id: string): Promise<number> {
    const lines = await this.executions.logs(id);
    const last = lines.at(-1);
    return last === undefined ? 0 : last.seq + 1;
  }

  /**
   * Sends the Lambda-shaped record to a destination. A failed delivery is logged, not retried
   * forever: the call's own outcome is already recorded and must not be held up by its destination.
   * `nextLogSeq`: where the call's log goes on, when the attempt that just ran says so.
   */
  private async sendTo(
    destination: Destination | null,
    call: QueuedCall,
    report: DestinationReport,
    nextLogSeq?: number,
  ): Promise<void> {
    if (!destination) return;
    const fn = report.fn;
    const which = report.condition === 'Success' ? 'on-success' : 'on-failure';
    const target =
      destination.type === 'http' ? new URL(destination.url).origin : `function '${destination.name}'`;
    try {
      const record = destinationRecord({
        ...report,
        scope: this.settings.arnScope,
        executionId: call.id,
        payload: call.payload,
      });
      await this.deliver(destination, encodeDestinationRecord(record));
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.logger.warn(
        { err, executionId: call.id, function: fn.name, destination: target },
        `the ${which} destination was not reached`,
      );
      // The call's own record says so too, where its user looks: its log.
      await this.recordOnExecution(
        call.id,
        fn.name,
        `the ${which} destination (${target}) was not reached: ${reason}`,
        nextLogSeq,
      );
    }
  }

  /** Adds a platform line to a call's log (after its attempts' lines); a failure to do so is logged. */
  private async recordOnExecution(
    executionId: string,
    functionName: string,
    message: string,
    nextLogSeq: number | undefined,
  ): Promise<void> {
    try {
      const seq = nextLogSeq ?? (await this.nextLogSeq(executionId));
      this.recorder.addLine({
        executionId,
        functionName,
        seq,
        time: new Date().toISOString(),
        stream: 'system',
        message,
      });
      await this.recorder.written({ executionId });
    } catch (err) {
      this.logger.warn({ err, executionId }, 'recording a failed delivery on the execution failed');
    }
  }

  private async deliver(destination: Destination, record: string): Promise<void> {
    if (destination.type === 'function') {
      await this.enqueue({ functionName: destination.name, event: record, trigger: 'destination' });
    } else {
      await postDestination(destination.url, record);
    }
  }
}
