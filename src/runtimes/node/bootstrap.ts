/**
 * The Node.js runtime: runs inside the sandbox, loads one function and serves invocations sent
 * by the host over fd 3. Must not import platform code (only the wire protocol), because the
 * sandbox mounts nothing else.
 *
 * Handler styles: `async (event, context)`, promise-returning, and Lambda's callback style
 * `(event, context, callback)`; CommonJS, ESM, and TypeScript (pre-built to ESM by the host).
 * Calls of a `fetch` HTTP trigger get a Web `Request` and return a `Response`, whose body is
 * streamed to the host in `http_chunk` frames, paced by the host's `http_ack`s. Handlers wrapped in
 * Lambda's `awslambda.streamifyResponse` stream their response the same way (see "Response
 * streaming" below).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  encodeFrame,
  encodeResultFrame,
  FrameBatcher,
  FrameDecoder,
  HTTP_CHUNK_BYTES,
  HTTP_INTEGRATION_CONTENT_TYPE,
  HTTP_STREAM_WINDOW_BYTES,
  type FunctionInit,
  type HostMessage,
  type HttpRequestEvent,
  type WireError,
} from '../protocol.js';

const CODE_DIR = process.env.NIMBUS_CODE_DIR ?? '/code';

type Handler = (
  event: unknown,
  context: unknown,
  callback?: (err: unknown, value?: unknown) => void,
) => unknown;

const channel = new Socket({ fd: 3, readable: true, writable: true });
const currentInvocation = new AsyncLocalStorage<string>();
const inFlight = new Set<string>();
let handler: Handler | undefined;
let fn: FunctionInit | undefined;

/** Results of concurrent calls and log lines written in one event-loop turn leave together. */
const batcher = new FrameBatcher((data) => channel.write(data));

function send(header: object, payload?: Buffer): void {
  sendFrame(encodeFrame(header, payload));
}

function sendFrame(frame: Buffer): void {
  batcher.push(frame);
}

// Route console output through the channel, tagged with the invocation that printed it, so
// every line lands in the right execution's log, in order with its result.
function captureStream(stream: NodeJS.WriteStream, s: 'stdout' | 'stderr'): void {
  stream.write = ((chunk: string | Uint8Array, encoding?: unknown, cb?: unknown): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    send({ t: 'log', id: currentInvocation.getStore() ?? soleInvocation(), s, d: text, ts: Date.now() });
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }) as typeof stream.write;
}

function soleInvocation(): string | null {
  if (inFlight.size !== 1) return null;
  return inFlight.values().next().value ?? null;
}

function toWireError(err: unknown, fallbackType = 'Error'): WireError {
  if (err instanceof Error) {
    return { type: err.name || fallbackType, message: err.message, stack: err.stack };
  }
  if (err && typeof err === 'object' && 'message' in err) {
    const o = err as { name?: unknown; message: unknown; stack?: unknown };
    return {
      type: typeof o.name === 'string' ? o.name : fallbackType,
      message: String(o.message),
      stack: typeof o.stack === 'string' ? o.stack : undefined,
    };
  }
  return {
    type: fallbackType,
    message: typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err)),
  };
}

/**
 * Loads a module synchronously where Node can (CommonJS, and ES modules on Node versions that
 * `require()` them): `import()` reads the file through the thread pool, a few hops that a cold
 * start would wait for. ES modules with top-level await, and ES modules on older Node versions,
 * go through `import()`; a module refused that way has not been evaluated.
 */
async function loadModule(path: string, codeDir: string): Promise<Record<string, unknown>> {
  const require = createRequire(join(codeDir, 'noop.js'));
  try {
    return require(path) as Record<string, unknown>;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  }
}

function resolveModuleFile(init: Pick<FunctionInit, 'entry' | 'handler'>, codeDir: string): string {
  if (init.entry) return join(codeDir, init.entry);
  const dot = init.handler.lastIndexOf('.');
  const base = join(codeDir, init.handler.slice(0, dot));
  for (const ext of ['.js', '.mjs', '.cjs']) {
    if (existsSync(base + ext)) return base + ext;
  }
  const err = new Error(
    `handler module '${init.handler.slice(0, dot)}' not found: expected ${init.handler.slice(0, dot)}.js, .mjs or .cjs in the package`,
  );
  err.name = 'ImportModuleError';
  throw err;
}

/** Loads the handler's module from `codeDir` and returns the exported function. */
async function loadHandler(init: Pick<FunctionInit, 'entry' | 'handler'>, codeDir: string): Promise<Handler> {
  const mod = await loadModule(resolveModuleFile(init, codeDir), codeDir);
  const exportName = init.handler.slice(init.handler.lastIndexOf('.') + 1);
  const nested = mod.default as Record<string, unknown> | undefined;
  const candidate =
    mod[exportName] ?? (nested && typeof nested === 'object' ? nested[exportName] : undefined);
  if (typeof candidate !== 'function') {
    const err = new Error(
      `handler '${init.handler}' is not a function exported by its module (found ${typeof candidate})`,
    );
    err.name = 'HandlerNotFound';
    throw err;
  }
  return candidate as Handler;
}

async function initFunction(init: FunctionInit): Promise<void> {
  fn = init;
  // Only what differs: assigning TZ, even to its current value, makes Node reload the time zone.
  for (const [name, value] of Object.entries(init.env)) {
    if (process.env[name] !== value) process.env[name] = value;
  }
  try {
    installAwsLambdaGlobal();
    handler = await loadHandler(init, CODE_DIR);
    send({ t: 'inited' });
  } catch (err) {
    send({ t: 'init_error', error: toWireError(err, 'InitError') });
  }
}

function contextLog(level: string, stream: NodeJS.WriteStream): (...args: unknown[]) => void {
  return (...args) => {
    stream.write(
      `[${level}] ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`,
    );
  };
}

/** Set once the function is loaded: what every call's context shares (its logger functions too). */
let sharedContext: Record<string, unknown> | undefined;

function makeContext(id: string, deadline: number): object {
  sharedContext ??= {
    functionName: fn!.functionName,
    functionVersion: fn!.functionVersion,
    memoryLimitInMB: String(fn!.memoryMb),
    invokedFunctionArn: `arn:nimbus:function:${fn!.functionName}`,
    logger: {
      debug: contextLog('DEBUG', process.stdout),
      info: contextLog('INFO', process.stdout),
      warn: contextLog('WARN', process.stderr),
      error: contextLog('ERROR', process.stderr),
    },
  };
  return {
    ...sharedContext,
    awsRequestId: id,
    requestId: id,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function callHandler(h: Handler, event: unknown, context: object): Promise<unknown> {
  if (h.length < 3) return Promise.resolve().then(() => h(event, context));
  return new Promise((resolve, reject) => {
    const returned = h(event, context, (err, value) => (err ? reject(err) : resolve(value)));
    if (returned && typeof (returned as Promise<unknown>).then === 'function') {
      (returned as Promise<unknown>).then(resolve, reject);
    }
  });
}

/** Runs one call of `h` and encodes its result frame (sent by the caller). */
async function runCall(h: Handler, id: string, deadline: number, payload: Buffer): Promise<Buffer> {
  try {
    const event: unknown = payload.length === 0 ? {} : JSON.parse(payload.toString('utf8'));
    const call = () => callHandler(h, event, makeContext(id, deadline));
    // Output is tagged by the async context only when calls overlap: with one call at a time the
    // sole call in flight owns it, and promises skip the async-context bookkeeping.
    const value = fn!.concurrency > 1 ? await currentInvocation.run(id, call) : await call();
    let json: string;
    try {
      json = JSON.stringify(value === undefined ? null : value);
    } catch (err) {
      throw Object.assign(new Error(`result is not JSON-serialisable: ${(err as Error).message}`), {
        name: 'MarshalError',
      });
    }
    return encodeResultFrame(id, Buffer.from(json, 'utf8'));
  } catch (err) {
    return encodeFrame({ t: 'result', id, ok: false, error: toWireError(err) });
  }
}

async function invoke(id: string, deadline: number, payload: Buffer): Promise<void> {
  inFlight.add(id);
  try {
    sendFrame(await runCall(handler!, id, deadline, payload));
  } finally {
    inFlight.delete(id);
  }
}

/** Flow control of one streaming HTTP call: bytes sent and not yet acknowledged by the host. */
interface HttpCall {
  unacked: number;
  cancelled: boolean;
  wake: (() => void) | undefined;
  /** Called when the host cancels the call (a streaming handler's call then ends at once). */
  onCancel?: (() => void) | undefined;
}

const httpCalls = new Map<string, HttpCall>();

function requestOf(e: HttpRequestEvent): Request {
  const url = `${e.scheme}://${e.host}${e.path}${e.query ? `?${e.query}` : ''}`;
  const headers = new Headers();
  for (const [name, value] of e.headers) headers.append(name, value);
  const hasBody = e.method !== 'GET' && e.method !== 'HEAD';
  return new Request(url, {
    method: e.method,
    headers,
    ...(hasBody ? { body: Buffer.from(e.body, 'base64'), duplex: 'half' } : {}),
  } as RequestInit);
}

/** Waits until the host has taken enough of the body that `call` may send more. */
function windowOpen(call: HttpCall): Promise<void> {
  if (call.unacked < HTTP_STREAM_WINDOW_BYTES || call.cancelled) return Promise.resolve();
  return new Promise((resolve) => (call.wake = resolve));
}

/** Runs one call of a `fetch` handler: head, body chunks, then an empty result. */
async function runFetchCall(h: Handler, id: string, deadline: number, payload: Buffer): Promise<Buffer> {
  const call: HttpCall = { unacked: 0, cancelled: false, wake: undefined };
  httpCalls.set(id, call);
  try {
    const request = requestOf(JSON.parse(payload.toString('utf8')) as HttpRequestEvent);
    const run = () => Promise.resolve().then(() => h(request, makeContext(id, deadline)));
    const value = fn!.concurrency > 1 ? await currentInvocation.run(id, run) : await run();
    if (!(value instanceof Response)) {
      throw Object.assign(
        new Error(`a fetch handler must return a Response (or a promise of one), not ${describe(value)}`),
        { name: 'InvalidResponse' },
      );
    }
    const headers: [string, string][] = [];
    value.headers.forEach((v, k) => {
      if (k !== 'set-cookie') headers.push([k, v]);
    });
    for (const cookie of value.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
    send({ t: 'http_head', id, status: value.status, headers });
    if (value.body) {
      const reader = value.body.getReader();
      for (;;) {
        await windowOpen(call);
        if (call.cancelled) {
          await reader.cancel().catch(() => undefined);
          break;
        }
        const { done, value: piece } = await reader.read();
        if (done) break;
        const bytes = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
        for (let at = 0; at < bytes.length; at += HTTP_CHUNK_BYTES) {
          const part = bytes.subarray(at, at + HTTP_CHUNK_BYTES);
          call.unacked += part.length;
          send({ t: 'http_chunk', id }, part);
        }
      }
    }
    return encodeResultFrame(id, Buffer.alloc(0));
  } catch (err) {
    return encodeFrame({ t: 'result', id, ok: false, error: toWireError(err) });
  } finally {
    httpCalls.delete(id);
  }
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  return `a ${typeof value}`;
}

function onHttpControl(msg: Extract<HostMessage, { t: 'http_ack' | 'http_cancel' }>): void {
  const call = httpCalls.get(msg.id);
  if (!call) return;
  if (msg.t === 'http_ack') call.unacked -= msg.n;
  else {
    call.cancelled = true;
    call.onCancel?.();
  }
  const wake = call.wake;
  if (wake && (call.cancelled || call.unacked < HTTP_STREAM_WINDOW_BYTES)) {
    call.wake = undefined;
    wake();
  }
}

async function invokeFetch(id: string, deadline: number, payload: Buffer): Promise<void> {
  inFlight.add(id);
  try {
    sendFrame(await runFetchCall(handler!, id, deadline, payload));
  } finally {
    inFlight.delete(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Response streaming: Lambda's `awslambda` global (streamifyResponse, HttpResponseStream) and the
// calls of handlers wrapped in it, `(event, responseStream, context)`. Their bytes travel in the
// same `http_head`/`http_chunk` frames and `http_ack` window as a `fetch` call's body.

/** How Lambda's runtime marks a handler as streaming (and its stream's buffer size). */
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGH_WATER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
/** What a streaming handler may send back to a caller that takes a buffered response (Invoke). */
const BUFFERED_STREAM_BYTES = 6 * 1024 * 1024;

type StreamingHandler = Handler & { [HANDLER_STREAMING]?: unknown; [HANDLER_HIGH_WATER_MARK]?: unknown };

/**
 * Defines `globalThis.awslambda` before the function's module loads, as Lambda's Node runtime
 * does (and, like it, not when AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA is `1` or `true`).
 */
function installAwsLambdaGlobal(): void {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (off === '1' || off === 'true') return;
  (globalThis as Record<string, unknown>).awslambda = {
    streamifyResponse(h: StreamingHandler, options?: { highWaterMark?: unknown }): StreamingHandler {
      h[HANDLER_STREAMING] = STREAM_RESPONSE;
      const highWaterMark = Number(options?.highWaterMark);
      if (Number.isFinite(highWaterMark) && highWaterMark >= 0)
        h[HANDLER_HIGH_WATER_MARK] = Math.floor(highWaterMark);
      return h;
    },
    HttpResponseStream,
  };
}

function isStreamingHandler(h: Handler): boolean {
  return (h as StreamingHandler)[HANDLER_STREAMING] === STREAM_RESPONSE;
}

/** An operation on a response stream that is not allowed (Lambda's error name). */
class InvalidStreamingOperation extends Error {
  override name = 'InvalidStreamingOperation';
}

/** Where a response stream's bytes go: to the host as they come, or into one buffer. */
interface StreamOutput {
  /** Resolves once `chunk` may be followed by more (the host's window has room). */
  write(chunk: Buffer, contentType: string): Promise<void>;
  /** The stream ended: send the head if nothing was written. */
  end(contentType: string): void;
}

/**
 * The `responseStream` a streaming handler gets: a Writable (write, end, pipeline, backpressure)
 * with Lambda's `setContentType`. `HttpResponseStream.from` sets `_onBeforeFirstWrite` to put its
 * prelude ahead of the body.
 */
class ResponseStream extends Writable {
  _onBeforeFirstWrite: ((write: (chunk: string | Uint8Array) => void) => void) | undefined;
  private contentType = 'application/octet-stream';
  private started = false;

  constructor(
    private readonly output: StreamOutput,
    highWaterMark: number | undefined,
  ) {
    super(highWaterMark === undefined ? {} : { highWaterMark });
  }

  setContentType(contentType: string): void {
    if (this.started) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    this.contentType = String(contentType);
  }

  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    // As Lambda's stream does: anything but text and bytes is written as its JSON.
    const data = typeof chunk === 'string' || chunk instanceof Uint8Array ? chunk : JSON.stringify(chunk);
    this.startBody();
    return super.write(data, encoding as BufferEncoding, cb as (err?: Error | null) => void);
  }

  override end(chunk?: unknown, encoding?: unknown, cb?: unknown): this {
    if (typeof chunk === 'function') return super.end(chunk as () => void);
    if (chunk !== undefined && chunk !== null) {
      this.write(chunk, typeof encoding === 'function' ? undefined : encoding);
    }
    this.startBody();
    const done = typeof encoding === 'function' ? encoding : cb;
    return super.end(done as (() => void) | undefined);
  }

  /** Writes the prelude of `HttpResponseStream.from` once, ahead of the first body bytes. */
  private startBody(): void {
    if (this.started) return;
    this.started = true;
    this._onBeforeFirstWrite?.((piece) => super.write(piece));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.output.write(chunk, this.contentType).then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.output.end(this.contentType);
    done();
  }
}

/** Lambda's `awslambda.HttpResponseStream`: `from(stream, {statusCode, headers, cookies})`. */
class HttpResponseStream {
  static from(stream: ResponseStream, prelude: unknown): ResponseStream {
    stream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
    const metadata = JSON.stringify(prelude ?? {});
    stream._onBeforeFirstWrite = (write) => {
      write(metadata);
      // The delimiter: 8 NUL bytes (JSON text never contains one).
      write(new Uint8Array(8));
    };
    return stream;
  }
}

/** Sends the bytes to the host as they are written: a head, then chunks within the ack window. */
function streamedOutput(id: string, call: HttpCall): StreamOutput {
  let headSent = false;
  const head = (contentType: string) => {
    if (headSent) return;
    headSent = true;
    send({ t: 'http_head', id, status: 200, headers: [['content-type', contentType]] });
  };
  return {
    async write(chunk, contentType) {
      head(contentType);
      for (let at = 0; at < chunk.length; at += HTTP_CHUNK_BYTES) {
        await windowOpen(call);
        if (call.cancelled) throw new Error('the caller stopped reading the response');
        const part = chunk.subarray(at, at + HTTP_CHUNK_BYTES);
        call.unacked += part.length;
        send({ t: 'http_chunk', id }, part);
      }
    },
    end: head,
  };
}

/** Collects the bytes for a caller that takes the whole response at once (Invoke, async calls). */
function bufferedOutput(): StreamOutput & { bytes(): Buffer } {
  const parts: Buffer[] = [];
  let size = 0;
  return {
    write(chunk) {
      size += chunk.length;
      if (size > BUFFERED_STREAM_BYTES) {
        const err = new Error(
          `the function streamed more than ${BUFFERED_STREAM_BYTES} bytes to a caller that takes a buffered response; invoke it with InvokeWithResponseStream or through an HTTP trigger to stream more`,
        );
        err.name = 'ResponseTooLarge';
        return Promise.reject(err);
      }
      parts.push(chunk);
      return Promise.resolve();
    },
    end() {},
    bytes: () => Buffer.concat(parts, size),
  };
}

/**
 * Runs one call of a streaming handler and encodes its result frame: empty when the bytes were
 * streamed, the bytes themselves when `streamed` is false. The call ends when the handler has
 * settled and the stream has finished (Lambda waits for both), when the stream fails, or at once
 * when the host cancels it (the client went away or the body passed its limit).
 */
async function runStreamingCall(
  h: Handler,
  id: string,
  deadline: number,
  payload: Buffer,
  streamed: boolean,
): Promise<Buffer> {
  const call: HttpCall = { unacked: 0, cancelled: false, wake: undefined };
  const buffered = streamed ? undefined : bufferedOutput();
  const stream = new ResponseStream(
    buffered ?? streamedOutput(id, call),
    (h as StreamingHandler)[HANDLER_HIGH_WATER_MARK] as number | undefined,
  );
  let cancelled!: () => void;
  const stopped = new Promise<void>((resolve) => (cancelled = resolve));
  call.onCancel = cancelled;
  if (streamed) httpCalls.set(id, call);
  const finished = new Promise<void>((resolve, reject) => {
    stream.once('finish', resolve);
    // `on`, not `once`: a later misuse (a write after end) must not become an uncaught error.
    stream.on('error', reject);
    stream.once('close', () => {
      if (!stream.writableFinished) reject(new Error('the response stream was destroyed before it ended'));
    });
  });
  finished.catch(() => undefined);
  try {
    const event: unknown = payload.length === 0 ? {} : JSON.parse(payload.toString('utf8'));
    const run = async () => {
      const streaming = h as unknown as (event: unknown, stream: ResponseStream, context: object) => unknown;
      const returned = streaming(event, stream, makeContext(id, deadline));
      if (!returned || typeof (returned as Promise<unknown>).then !== 'function') {
        throw new InvalidStreamingOperation('Streaming does not support non-async handlers.');
      }
      if ((await returned) !== undefined) console.warn('Streaming handlers ignore return values.');
      await finished;
    };
    const running = fn!.concurrency > 1 ? currentInvocation.run(id, run) : run();
    running.catch(() => undefined);
    await Promise.race([running, finished.then(() => running), stopped]);
    if (call.cancelled) stream.destroy();
    return encodeResultFrame(id, buffered ? buffered.bytes() : Buffer.alloc(0));
  } catch (err) {
    stream.destroy();
    if (call.cancelled) return encodeResultFrame(id, Buffer.alloc(0));
    return encodeFrame({ t: 'result', id, ok: false, error: toWireError(err) });
  } finally {
    httpCalls.delete(id);
  }
}

async function invokeStreaming(
  id: string,
  deadline: number,
  payload: Buffer,
  streamed: boolean,
): Promise<void> {
  inFlight.add(id);
  try {
    sendFrame(await runStreamingCall(handler!, id, deadline, payload, streamed));
  } finally {
    inFlight.delete(id);
  }
}

/**
 * Rehearses a function's first call while the sandbox waits in the pre-warmed pool: loads a
 * throw-away ES module and a CommonJS one from the sandbox's private /tmp and runs a call through
 * the same code as a real one (nothing is sent), so the module loaders and this file's own
 * functions are compiled before a cold start needs them.
 */
async function rehearse(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-warmup-'));
  try {
    writeFileSync(
      join(dir, 'esm.mjs'),
      'export const handler = async (event, context) => ({ event, left: context.getRemainingTimeInMillis() });\n',
    );
    writeFileSync(
      join(dir, 'cjs.js'),
      'exports.handler = (event, context, callback) => callback(null, event);\n',
    );
    fn = {
      functionName: 'warmup',
      functionVersion: '0',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:warmup',
      handler: 'esm.handler',
      memoryMb: 0,
      timeoutSec: 1,
      concurrency: 1,
      env: {},
    };
    for (const h of ['esm.handler', 'cjs.handler']) {
      const loaded = await loadHandler({ handler: h }, dir);
      new FrameDecoder(() => undefined).push(
        await runCall(loaded, 'warmup', Date.now() + 1000, Buffer.from('{}')),
      );
    }
  } finally {
    fn = undefined;
    sharedContext = undefined;
    rmSync(dir, { recursive: true, force: true });
  }
}

// An error escaping the handler's promise chain leaves the instance in an unknown state:
// fail what is in flight with the real error, then exit so the host replaces the instance.
function crash(err: unknown): void {
  const error = toWireError(err, 'UncaughtException');
  for (const id of inFlight) send({ t: 'result', id, ok: false, error, fatal: true });
  if (inFlight.size === 0)
    send({ t: 'log', id: null, s: 'stderr', d: `${error.stack ?? error.message}\n`, ts: Date.now() });
  batcher.flush();
  channel.end(() => process.exit(1));
}

captureStream(process.stdout, 'stdout');
captureStream(process.stderr, 'stderr');
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

/** Set while the function loads: calls sent behind the init wait for it. */
let loading: Promise<void> | undefined;

function startInvoke(msg: Extract<HostMessage, { t: 'invoke' }>, payload: Buffer): void {
  // A call that came behind its init gets its time from when it starts, not from when it was sent.
  const deadline = msg.budgetMs === undefined ? msg.deadline : Date.now() + msg.budgetMs;
  // After a failed init the host has already failed the call and stops this instance.
  if (!handler) return;
  if (msg.http === 'fetch') void invokeFetch(msg.id, deadline, payload);
  else if (isStreamingHandler(handler)) void invokeStreaming(msg.id, deadline, payload, msg.stream === true);
  else void invoke(msg.id, deadline, payload);
}

const decoder = new FrameDecoder((header, payload) => {
  const msg = header as HostMessage;
  if (msg.t === 'init') {
    loading = initFunction(msg).finally(() => (loading = undefined));
  } else if (msg.t === 'invoke') {
    if (loading) void loading.then(() => startInvoke(msg, payload));
    else startInvoke(msg, payload);
  } else if (msg.t === 'http_ack' || msg.t === 'http_cancel') onHttpControl(msg);
});
channel.on('data', (chunk: Buffer) => decoder.push(chunk));
// The host closing the channel means this instance is retired.
channel.on('end', () => process.exit(0));
channel.on('error', () => process.exit(1));
/**
 * Collects garbage now, while the sandbox waits in the pool: start-up and the rehearsal leave the
 * young generation nearly full, and the few allocations of a function's init and first call would
 * otherwise set off a scavenge of all of it (~3 ms here) on the cold start's clock. `gc` is made in
 * a throw-away context, so functions never see a global `gc`.
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  gc();
}

// Warm up while waiting in the pre-warmed pool, not on a cold start's clock. A failed rehearsal
// or collection only costs speed: the sandbox is still ready.
void rehearse()
  .catch(() => undefined)
  .then(() => {
    try {
      collectGarbage();
    } catch {
      // a Node whose V8 flags cannot be changed at run time: skip it
    }
    send({ t: 'ready' });
  });
