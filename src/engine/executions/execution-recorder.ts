/**
 * Records executions and their logs without slowing the hot path: records and log lines are
 * buffered in memory and written in one transaction every flush interval. Live log listeners
 * (`logs --follow`) get each line as soon as it is printed. Lines are never silently dropped:
 * past the per-execution cap one visible marker line is stored instead of the rest.
 *
 * Each record has one writer (the Invoker for a synchronous call, the AsyncDispatcher for a queued
 * one); readers go through the ExecutionReader, which asks `written` for the writes a read must
 * see, so nobody flushes to read.
 */
import { EventEmitter } from 'node:events';
import {
  LOG_LINE_CONTINUED_MARKER,
  LOG_LINE_MAX_CHARS,
  LOG_TRUNCATED_MARKER,
  TEXT_TRUNCATED_MARKER,
  type Execution,
  type ExecutionError,
  type LogLine,
  type LogStream,
} from '../../core/execution.js';
import type { Store } from '../../core/ports.js';
import { renderedEnd, renderedLine, renderedStart } from './report-lines.js';

/** Which writes a read must see: one execution's, one function's, or (an empty scope) all. */
export type WriteScope = { executionId: string } | { functionName?: string | undefined };

/** What a new execution record is made from (see ExecutionRecorder.newExecution). */
interface NewExecution extends Pick<
  Execution,
  'id' | 'functionName' | 'version' | 'trigger' | 'invocationType' | 'status' | 'startedAt' | 'attempts'
> {
  /** The event as JSON text. */
  event: string;
  error?: ExecutionError | null;
  qualifier?: string | undefined;
}

interface RecorderSettings {
  flushIntervalMs: number;
  logBytesPerExecution: number;
  recordTextBytes: number;
}

/** Minimal logger the engine needs (pino satisfies it). */
export interface EngineLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Collects one execution's output, splitting it into lines. Work is linear in the bytes printed:
 * a fragment without a newline is kept as a list of pieces (never re-joined or re-split per
 * chunk), a line longer than `LOG_LINE_MAX_CHARS` is cut into pieces of that size, and once the
 * per-execution cap is reached further output is dropped at once.
 */
export class ExecutionLog {
  private bytes = 0;
  private truncated = false;
  private readonly partial: Record<LogStream, { pieces: string[]; chars: number }> = {
    stdout: { pieces: [], chars: 0 },
    stderr: { pieces: [], chars: 0 },
    system: { pieces: [], chars: 0 },
  };

  constructor(
    private readonly execution: Execution,
    private readonly recorder: ExecutionRecorder,
    private readonly capBytes: number,
    /** Position of the next line: 0, or after the lines of an async call's earlier attempts. */
    private seq = 0,
  ) {}

  /** Appends printed text; complete lines are recorded, a trailing fragment waits for its newline. */
  append(stream: LogStream, text: string, time: number): void {
    let start = 0;
    while (!this.truncated) {
      const end = text.indexOf('\n', start);
      if (end < 0) break;
      this.addFragment(stream, text.slice(start, end), time);
      this.endLine(stream, time);
      start = end + 1;
    }
    if (!this.truncated && start < text.length) this.addFragment(stream, text.slice(start), time);
  }

  /** Adds text without a newline to the stream's pending line, recording full-size pieces of it. */
  private addFragment(stream: LogStream, fragment: string, time: number): void {
    if (fragment === '') return;
    const partial = this.partial[stream];
    partial.pieces.push(fragment);
    partial.chars += fragment.length;
    if (partial.chars <= LOG_LINE_MAX_CHARS) return;
    let pending = partial.pieces.join('');
    while (pending.length > LOG_LINE_MAX_CHARS && !this.truncated) {
      this.line(stream, pending.slice(0, LOG_LINE_MAX_CHARS) + LOG_LINE_CONTINUED_MARKER, time);
      pending = pending.slice(LOG_LINE_MAX_CHARS);
    }
    partial.pieces = this.truncated ? [] : [pending];
    partial.chars = this.truncated ? 0 : pending.length;
  }

  /** Records the stream's pending line (a newline was printed). */
  private endLine(stream: LogStream, time: number): void {
    const partial = this.partial[stream];
    const message = partial.pieces.length === 1 ? partial.pieces[0]! : partial.pieces.join('');
    partial.pieces = [];
    partial.chars = 0;
    this.line(stream, message, time);
  }

  /** Where the next line goes (END and REPORT follow it in a rendered log). */
  get nextSeq(): number {
    return this.seq;
  }

  /** Records any unterminated fragments; called when the execution ends. */
  close(): void {
    for (const stream of ['stdout', 'stderr', 'system'] as const) {
      if (this.partial[stream].chars > 0) this.endLine(stream, Date.now());
    }
  }

  private line(stream: LogStream, message: string, time: number): void {
    if (this.truncated) return;
    this.bytes += Buffer.byteLength(message) + 1;
    if (this.bytes > this.capBytes) {
      this.truncated = true;
      stream = 'system';
      message = LOG_TRUNCATED_MARKER;
    }
    this.recorder.addLine({
      executionId: this.execution.id,
      functionName: this.execution.functionName,
      seq: this.seq++,
      time: new Date(time).toISOString(),
      stream,
      message,
    });
  }
}

export class ExecutionRecorder {
  private pendingExecutions = new Map<string, Execution>();
  private pendingLines: LogLine[] = [];
  private readonly live = new EventEmitter();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Execution ids and function names with a record or a line in the next batch. */
  private pendingScope = new BatchScope();
  /** The same for the batch being written now. */
  private writingScope = new BatchScope();

  constructor(
    private readonly store: Store,
    private readonly settings: RecorderSettings,
    private readonly logger: EngineLogger,
  ) {
    this.live.setMaxListeners(0);
  }

  /** The collector for an execution's output; the record itself is written by `save`. */
  logFor(execution: Execution, seqStart = 0): ExecutionLog {
    return new ExecutionLog(execution, this, this.settings.logBytesPerExecution, seqStart);
  }

  /**
   * Records the (final or intermediate) state of an execution. The recorder keeps a reference until
   * the next flush, so changes made before then are written too: the newest state always wins.
   */
  save(execution: Execution): void {
    this.pendingExecutions.set(execution.id, execution);
    this.pendingScope.add(execution.id, execution.functionName);
    this.schedule();
  }

  /** Saves a record and resolves once it is durable (for effects that must follow it, like a queue step). */
  async persist(execution: Execution): Promise<void> {
    this.save(execution);
    await this.written({ executionId: execution.id });
  }

  /**
   * Resolves once every write accepted so far in `scope` is in the store: at once when none is
   * buffered or being written, else after the batch that holds them (written now rather than at
   * the next interval, so a reader does not wait for the timer).
   */
  written(scope: WriteScope): Promise<void> {
    if (this.pendingScope.covers(scope)) return this.flush();
    if (this.writingScope.covers(scope)) return this.flushing;
    return Promise.resolve();
  }

  /** Log bytes recorded since start (message characters plus 64 per line), for log retention. */
  loggedBytes = 0;

  addLine(line: LogLine): void {
    this.pendingLines.push(line);
    this.pendingScope.add(line.executionId, line.functionName);
    this.loggedBytes += line.message.length + 64;
    // Followers see the log as rendered (START first), so each stored line one place down.
    if (this.following()) this.live.emit('line', renderedLine(line));
    this.schedule();
  }

  /** Tells followers a call has started (its START line); nothing is stored. */
  announceStart(execution: Execution): void {
    if (this.following()) this.live.emit('line', renderedStart(execution));
  }

  /**
   * Tells followers a call has ended (its END and REPORT lines), its stored lines ending before
   * `nextStoredSeq`; nothing is stored (the record keeps the facts).
   */
  announceEnd(execution: Execution, nextStoredSeq: number): void {
    if (!this.following()) return;
    const time = new Date().toISOString();
    for (const line of renderedEnd(execution, nextStoredSeq, time)) this.live.emit('line', line);
  }

  private following(): boolean {
    return this.live.listenerCount('line') > 0;
  }

  /**
   * A new execution record: nothing has run yet (no outcome, duration, output or instance), the
   * event's text cut to the record limit. Not saved: callers save it when it should exist.
   */
  newExecution(fields: NewExecution): Execution {
    const input = this.capText(fields.event);
    const execution: Execution = {
      id: fields.id,
      functionName: fields.functionName,
      version: fields.version,
      trigger: fields.trigger,
      invocationType: fields.invocationType,
      status: fields.status,
      outcome: null,
      startedAt: fields.startedAt,
      durationMs: null,
      coldStart: false,
      input: input.text,
      inputTruncated: input.truncated,
      output: null,
      outputTruncated: false,
      error: fields.error ?? null,
      instanceId: null,
      attempts: fields.attempts,
      callDurationMs: null,
      initDurationMs: null,
      maxMemoryUsedMb: null,
      memorySizeMb: null,
    };
    if (fields.qualifier !== undefined) execution.qualifier = fields.qualifier;
    return execution;
  }

  /** Cuts input or output text to the record limit, saying so. */
  capText(text: string): { text: string; truncated: boolean } {
    const max = this.settings.recordTextBytes;
    // A UTF-16 unit is at most 3 UTF-8 bytes: short texts need no counting.
    if (text.length * 3 <= max || Buffer.byteLength(text) <= max) return { text, truncated: false };
    return {
      text: Buffer.from(text).subarray(0, max).toString('utf8') + TEXT_TRUNCATED_MARKER,
      truncated: true,
    };
  }

  /** Calls `listener` for every new log line of the function (all functions when undefined). */
  follow(functionName: string | undefined, listener: (line: LogLine) => void): () => void {
    const handler = (line: LogLine) => {
      if (functionName === undefined || line.functionName === functionName) listener(line);
    };
    this.live.on('line', handler);
    return () => this.live.off('line', handler);
  }

  /** Writes everything buffered so far (before retention pruning, and on close). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writePending());
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.settings.flushIntervalMs);
  }

  private async writePending(): Promise<void> {
    if (this.pendingExecutions.size === 0 && this.pendingLines.length === 0) return;
    const executions = [...this.pendingExecutions.values()];
    const lines = this.pendingLines;
    this.pendingExecutions = new Map();
    this.pendingLines = [];
    this.writingScope = this.pendingScope;
    this.pendingScope = new BatchScope();
    try {
      await this.store.writeBatch(executions, lines);
    } catch (err) {
      // Keep what failed (newer states win) and try again on the next flush.
      for (const e of executions) if (!this.pendingExecutions.has(e.id)) this.pendingExecutions.set(e.id, e);
      this.pendingLines = lines.concat(this.pendingLines);
      this.pendingScope.addAll(this.writingScope);
      this.logger.error({ err }, 'writing execution records failed; will retry');
      this.schedule();
    } finally {
      this.writingScope = new BatchScope();
    }
  }
}

/** The execution ids and function names a batch of records and lines touches. */
class BatchScope {
  private readonly executionIds = new Set<string>();
  private readonly functionNames = new Set<string>();

  add(executionId: string, functionName: string): void {
    this.executionIds.add(executionId);
    this.functionNames.add(functionName);
  }

  addAll(other: BatchScope): void {
    for (const id of other.executionIds) this.executionIds.add(id);
    for (const name of other.functionNames) this.functionNames.add(name);
  }

  covers(scope: WriteScope): boolean {
    if ('executionId' in scope) return this.executionIds.has(scope.executionId);
    if (scope.functionName === undefined) return this.executionIds.size > 0;
    return this.functionNames.has(scope.functionName);
  }
}
