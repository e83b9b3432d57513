/**
 * An instance: one running sandbox serving executions of one function revision over the frame
 * protocol. It turns protocol messages and process exits into invocation results, and never
 * outlives a timeout: the engine kills it instead.
 */
import type { ExecutionError, LogStream } from '../../core/execution.js';
import type { FunctionNetwork } from '../../core/function.js';
import type { Failure } from '../../core/outcome.js';
import type { FunctionCode, SandboxExit, SandboxProcess } from '../../core/ports.js';
import {
  type CallContext,
  encodeFrame,
  encodeInvokeFrame,
  FrameBatcher,
  FrameDecoder,
  type FunctionInit,
  HTTP_CHUNK_BYTES,
  HTTP_STREAM_WINDOW_BYTES,
  type RuntimeMessage,
  type StreamingHttpStyle,
  type WireError,
} from '../../runtimes/protocol.js';

/** A failure of kind `timed_out` means the call outlived its timeout; the caller stops the instance. */
export type InvokeResult = { ok: true; payload: Buffer } | { ok: false; failure: Failure };

/** Receives what an invocation prints; `system` lines come from the platform. */
export type LogSink = (stream: LogStream, text: string, time: number) => void;

/**
 * Where a streaming HTTP call's response goes (the HTTP trigger front door). The instance calls
 * `head` once, then `chunk` for each piece of the body; the receiver calls `written` when a chunk
 * has left (so the runtime may send more), and the instance sets `cancel` to stop the function's
 * body early. Style `response-stream` is a plain call whose caller takes a streamed response
 * (InvokeWithResponseStream, `lambda` HTTP triggers): a streaming handler's bytes come through
 * `head` and `chunk`, any other handler's result comes back as the call's payload.
 */
export interface HttpResponseSink {
  style: StreamingHttpStyle | 'response-stream';
  head(executionId: string, status: number, headers: [string, string][]): void;
  chunk(data: Buffer, written: () => void): void;
  cancel?: () => void;
  /**
   * What the execution record keeps as output (status, headers, byte count), once the call ends;
   * undefined when nothing was streamed (the result payload is the output then).
   */
  summary(): string | undefined;
}

/** The invoke frame's fields that ask for a streamed response. */
function streamFields(http: HttpResponseSink): { http: StreamingHttpStyle } | { stream: true } {
  return http.style === 'response-stream' ? { stream: true } : { http: http.style };
}

interface PendingInvocation {
  resolve: (result: InvokeResult) => void;
  log: LogSink;
  /** Unset while the call waits behind its instance's init (its clock has not started). */
  timer: NodeJS.Timeout | undefined;
  http?: HttpResponseSink | undefined;
  /** Streamed body bytes sent to `http` that it has not yet written (the flow-control window). */
  unackedBytes?: number;
}

function timedOut(timeoutMs: number): InvokeResult {
  const seconds = timeoutMs / 1000;
  return {
    ok: false,
    failure: {
      kind: 'timed_out',
      error: {
        type: 'Timeout',
        message: `the function did not finish within its timeout of ${seconds} s; raise timeoutSec or make it faster`,
      },
    },
  };
}

const STDERR_TAIL_BYTES = 4096;
/**
 * How long an instance stays idle before its sandbox is paused (frozen): back-to-back calls never
 * pay for pausing and resuming, and what a call leaves running stops soon after it returns.
 */
const IDLE_PAUSE_DELAY_MS = 100;
const WAKE_FRAME = encodeFrame({ t: 'wake' });

export class Instance {
  /** When the pool last took it back from a call (for idle reaping and least-recently-used eviction). */
  lastUsedAt = Date.now();
  /** Calls the pool has handed this instance and not yet taken back. */
  leases = 0;
  /** The function revision this instance was specialised for; undefined while generic (pre-warmed). */
  revision: string | undefined;
  /** True once it has finished serving a call: later calls are warm. */
  hasServed = false;
  private alive = true;
  /** True while the sandbox is paused (frozen) between calls. */
  private paused = false;
  /** Pauses the sandbox once it has been idle for IDLE_PAUSE_DELAY_MS; one timer, re-armed per call. */
  private pauseTimer: NodeJS.Timeout | undefined;
  private killReason: string | undefined;
  private readonly pending = new Map<string, PendingInvocation>();
  private readyWaiter: ((msg: ControlMessage) => void) | undefined;
  private stderrTail = '';
  private readonly batcher: FrameBatcher;
  /** Lines printed when no invocation was running (e.g. during init). */
  private orphanLog: LogSink | undefined;
  /**
   * While init is on its way: the clocks of calls sent behind it, started once it succeeds.
   * Undefined otherwise (the common case, which costs nothing extra per call).
   */
  private clocksWaitingForInit: (() => void)[] | undefined;
  /** performance.now() when the function finished loading: a first call's time counts from here. */
  initedAt = 0;
  /** How long loading the function took (init sent to `inited`), once it has loaded. */
  initDurationMs: number | undefined;

  /** True while its function is loading (calls sent now run once it has loaded). */
  get initializing(): boolean {
    return this.clocksWaitingForInit !== undefined;
  }

  constructor(
    readonly id: string,
    readonly memoryMb: number,
    private readonly process: SandboxProcess,
  ) {
    this.batcher = new FrameBatcher((data) => process.channel.write(data));
    const decoder = new FrameDecoder((header, payload) => this.onMessage(header as RuntimeMessage, payload));
    process.channel.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch {
        void this.kill();
      }
    });
    process.channel.on('error', () => undefined);
    // Output that bypassed the runtime's capture (child processes, native writes, fatal errors).
    process.stdout.on('data', (chunk: Buffer) => this.onRawOutput('stdout', chunk));
    process.stderr.on('data', (chunk: Buffer) => this.onRawOutput('stderr', chunk));
    void process.exited.then((exit) => this.onExit(exit));
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** Waits for the runtime to start. Resolves with an error on failure (and the instance is killed). */
  async waitReady(timeoutMs: number): Promise<Failure | undefined> {
    const ready = await this.nextControlMessage(timeoutMs);
    if (ready.t !== 'ready') return this.initFailure(ready);
    // A first read runs code the runtime has never run (Node compiles its stream-reading path on
    // first use: milliseconds). Let that happen now, while the sandbox waits in the pool, rather
    // than when its first function's init arrives.
    this.process.channel.write(WAKE_FRAME);
    // Not paused while it waits in the pre-warmed pool: it has run no function's code (nothing
    // there to stop), and thawing it would put a freezer write, which can wait behind other
    // sandboxes' cgroup moves for milliseconds, on every cold start.
    return undefined;
  }

  private foreground = false;

  /**
   * Called when a pre-warmed sandbox is taken for a function: gives it its full CPU share and nudges
   * the idle runtime now, so it is awake (scheduled, caches warm) by the time its init arrives.
   * Written at once, not coalesced with the init that follows.
   */
  wake(): void {
    this.resume();
    this.toForeground();
    this.process.channel.write(WAKE_FRAME);
  }

  /** Gives the sandbox its function's code and layers (before init). */
  loadCode(code: FunctionCode): Promise<void> {
    return this.process.loadCode(code);
  }

  /** Gives the sandbox its function's network access (before init); resolves once it is enforced. */
  connectNetwork(network: FunctionNetwork): Promise<void> {
    return this.process.connectNetwork(network);
  }

  private toForeground(): void {
    if (this.foreground) return;
    this.foreground = true;
    this.process.setForeground();
  }

  /**
   * Loads the function into a ready runtime. The init frame leaves at once (before this returns
   * its promise), and calls may be sent right behind it: the runtime runs them when init is done,
   * which saves a cold start a round trip. Their timeouts start when init succeeds. Resolves with
   * an error on failure; the instance is then killed and the calls sent behind the init fail with
   * the same error.
   */
  async specialize(
    revision: string,
    init: FunctionInit,
    timeoutMs: number,
    log: LogSink,
  ): Promise<Failure | undefined> {
    this.revision = revision;
    this.orphanLog = log;
    this.resume();
    this.toForeground();
    this.clocksWaitingForInit = [];
    const sentAt = performance.now();
    this.send(encodeFrame({ t: 'init', ...init }));
    const inited = await this.nextControlMessage(timeoutMs);
    const clocks = this.clocksWaitingForInit;
    this.clocksWaitingForInit = undefined;
    if (inited.t !== 'inited') {
      const failure = this.initFailure(inited);
      this.failPending(failure);
      return failure;
    }
    this.initedAt = performance.now();
    this.initDurationMs = this.initedAt - sentAt;
    this.orphanLog = undefined;
    // Loading ran at full speed; calls (and whatever they leave running) get the memory's share.
    this.process.limitCpu(init.concurrency);
    for (const startClock of clocks) startClock();
    if (this.pending.size === 0) this.pauseWhenIdle();
    return undefined;
  }

  /**
   * Sends one invocation; resolves with its result, with the reason the instance died, or with
   * `timeout` once `timeoutMs` has passed (the runtime is told the same deadline).
   */
  invoke(
    id: string,
    event: Buffer,
    timeoutMs: number,
    log: LogSink,
    http?: HttpResponseSink,
    context?: CallContext,
  ): Promise<InvokeResult> {
    if (this.paused) this.resume();
    if (this.clocksWaitingForInit) return this.invokeBehindInit(id, event, timeoutMs, log, http, context);
    return new Promise<InvokeResult>((resolve) => {
      const timer = this.timeoutOf(id, resolve, timeoutMs);
      this.pending.set(id, { resolve, log, timer, http });
      const deadline = Date.now() + timeoutMs;
      // A plain call (the hot path) gets its header written directly.
      if (!http && !context) return this.send(encodeInvokeFrame(id, deadline, event));
      const head = { t: 'invoke', id, deadline, ...context };
      this.send(encodeFrame(http ? { ...head, ...streamFields(http) } : head, event));
      if (http) this.allowCancel(id, http);
    });
  }

  /** A call sent right behind an init that has not finished: its clock starts when init succeeds. */
  private invokeBehindInit(
    id: string,
    event: Buffer,
    timeoutMs: number,
    log: LogSink,
    http: HttpResponseSink | undefined,
    context: CallContext | undefined,
  ): Promise<InvokeResult> {
    return new Promise<InvokeResult>((resolve) => {
      const pending: PendingInvocation = { resolve, log, timer: undefined, http };
      this.pending.set(id, pending);
      this.clocksWaitingForInit!.push(() => {
        if (this.pending.has(id)) pending.timer = this.timeoutOf(id, resolve, timeoutMs);
      });
      const head = { t: 'invoke', id, deadline: Date.now() + timeoutMs, budgetMs: timeoutMs, ...context };
      this.send(encodeFrame(http ? { ...head, ...streamFields(http) } : head, event));
      if (http) this.allowCancel(id, http);
    });
  }

  /** The timer that ends call `id` with a timeout unless its result comes first. */
  private timeoutOf(id: string, resolve: (result: InvokeResult) => void, timeoutMs: number): NodeJS.Timeout {
    return setTimeout(() => {
      if (this.pending.delete(id)) resolve(timedOut(timeoutMs));
    }, timeoutMs);
  }

  private allowCancel(id: string, http: HttpResponseSink): void {
    http.cancel = () => {
      if (this.pending.has(id)) this.send(encodeFrame({ t: 'http_cancel', id }));
    };
  }

  /** Fails every call in flight with `failure` (the process died, or init failed: they were sent behind it). */
  private failPending(failure: Failure): void {
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      clearTimeout(pending.timer);
      pending.resolve({ ok: false, failure });
    }
  }

  /**
   * Writes a frame. Frames written in the same event-loop turn leave together (see FrameBatcher),
   * so the sandbox starts on the first part of a large batch while the host parses the rest.
   */
  private send(frame: Buffer): void {
    this.batcher.push(frame);
  }

  /** Arms (or re-arms) the pause of an idle sandbox; the timer checks again that nothing runs. */
  private pauseWhenIdle(): void {
    if (this.pauseTimer) this.pauseTimer.refresh();
    else this.pauseTimer = setTimeout(() => this.pauseIfIdle(), IDLE_PAUSE_DELAY_MS).unref();
  }

  private pauseIfIdle(): void {
    if (this.paused || !this.alive || this.pending.size > 0 || this.clocksWaitingForInit) return;
    this.paused = true;
    this.process.pause();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.process.resume();
  }

  /** Stops the sandbox; `reason` is what calls still in flight are told. */
  async kill(reason?: string): Promise<void> {
    this.killReason ??= reason;
    this.alive = false;
    await this.process.kill();
  }

  /** The most memory the sandbox has used so far (bytes), when its driver can tell. */
  peakMemoryBytes(): number | undefined {
    return this.process.peakMemoryBytes();
  }

  get exited(): Promise<SandboxExit> {
    return this.process.exited;
  }

  private initFailure(msg: ControlMessage): Failure {
    void this.kill();
    if (msg.t === 'init_error') return { kind: 'init_failed', error: toExecutionError(msg.error) };
    if (msg.t === 'failed') return msg.failure;
    return {
      kind: 'init_failed',
      error: { type: 'InitError', message: `runtime sent '${msg.t}' while starting` },
    };
  }

  private nextControlMessage(timeoutMs: number): Promise<ControlMessage> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.readyWaiter = undefined;
        resolve({
          t: 'failed',
          failure: {
            kind: 'init_failed',
            error: { type: 'InitTimeout', message: `function did not initialise within ${timeoutMs} ms` },
          },
        });
      }, timeoutMs);
      this.readyWaiter = (msg) => {
        clearTimeout(timer);
        this.readyWaiter = undefined;
        resolve(msg);
      };
      if (!this.alive) this.readyWaiter({ t: 'ready' });
    });
  }

  private onMessage(msg: RuntimeMessage, payload: Buffer): void {
    switch (msg.t) {
      case 'log': {
        // The frame's stream and time are the function's word: the host stamps the time itself and
        // a runtime may only say stdout or stderr (never `system`, the platform's own lines).
        const id = typeof msg.id === 'string' ? msg.id : null;
        const sink = (id !== null ? this.pending.get(id)?.log : undefined) ?? this.soleSink();
        if (typeof msg.d === 'string') sink?.(msg.s === 'stderr' ? 'stderr' : 'stdout', msg.d, Date.now());
        return;
      }
      case 'result': {
        const pending = this.pending.get(msg.id);
        if (!pending) return;
        this.pending.delete(msg.id);
        clearTimeout(pending.timer);
        if (!msg.ok && msg.fatal) this.alive = false;
        if (this.pending.size === 0) this.pauseWhenIdle();
        pending.resolve(
          msg.ok
            ? { ok: true, payload }
            : { ok: false, failure: { kind: 'function_error', error: toExecutionError(msg.error) } },
        );
        return;
      }
      case 'http_head': {
        this.pending.get(msg.id)?.http?.head(msg.id, msg.status, msg.headers);
        return;
      }
      case 'http_chunk': {
        const pending = this.pending.get(msg.id);
        const http = pending?.http;
        if (!pending || !http) return;
        const n = payload.length;
        // The window is the host's to enforce: a runtime that ignores acks would make the host
        // buffer the response in memory. It may send one chunk once it has seen room in the window.
        pending.unackedBytes = (pending.unackedBytes ?? 0) + n;
        if (n > HTTP_CHUNK_BYTES || pending.unackedBytes > HTTP_STREAM_WINDOW_BYTES + HTTP_CHUNK_BYTES) {
          void this.kill(
            `the function streamed more than ${HTTP_STREAM_WINDOW_BYTES} bytes its client had not yet ` +
              'taken, ignoring the flow-control window (write the stream through its runtime, which waits for room)',
          );
          return;
        }
        http.chunk(payload, () => {
          pending.unackedBytes! -= n;
          if (this.alive && this.pending.has(msg.id))
            this.send(encodeFrame({ t: 'http_ack', id: msg.id, n }));
        });
        return;
      }
      default:
        this.readyWaiter?.(msg);
    }
  }

  private soleSink(): LogSink | undefined {
    if (this.pending.size === 1) return this.pending.values().next().value?.log;
    return this.orphanLog;
  }

  private onRawOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const text = chunk.toString('utf8');
    if (stream === 'stderr') this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
    this.soleSink()?.(stream, text, Date.now());
  }

  private onExit(exit: SandboxExit): void {
    this.alive = false;
    clearTimeout(this.pauseTimer);
    let failure: Failure = this.killReason
      ? { kind: 'crashed', error: { type: 'InstanceStopped', message: this.killReason } }
      : describeExit(exit, this.stderrTail);
    // Dying while it loads is a failed init (running out of memory stays what it is).
    if (this.readyWaiter && failure.kind === 'crashed') failure = { ...failure, kind: 'init_failed' };
    if (this.readyWaiter) this.readyWaiter({ t: 'failed', failure });
    this.failPending(failure);
  }
}

/** What the runtime says while it starts or loads a function, or how that ended without a word from it. */
type ControlMessage = RuntimeMessage | { t: 'failed'; failure: Failure };

function toExecutionError(e: WireError): ExecutionError {
  return { type: e.type, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
}

/** Names why a runtime process died, `out of memory` included, from its exit and last stderr. */
function describeExit(exit: SandboxExit, stderrTail: string): Failure {
  const heapExhausted = /JavaScript heap out of memory|Reached heap limit|MemoryError/.test(stderrTail);
  if (exit.outOfMemory || heapExhausted) {
    return {
      kind: 'out_of_memory',
      error: {
        type: 'OutOfMemory',
        message: 'out of memory: the function used more memory than its limit; raise memoryMb or use less',
      },
    };
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  const tail = stderrTail.trim().split('\n').slice(-5).join('\n');
  return {
    kind: 'crashed',
    error: {
      type: exit.signal === 'SIGSEGV' ? 'Segfault' : 'Crash',
      message: `the function's process ${how} before returning a result${tail ? `; last output:\n${tail}` : ''}`,
    },
  };
}
