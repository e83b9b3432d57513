/**
 * The Node.js runtime: runs inside the sandbox, loads one function and serves invocations sent
 * by the host over fd 3. Must not import platform code (only the wire protocol), because the
 * sandbox mounts nothing else.
 *
 * Handler styles: `async (event, context)`, promise-returning, and Lambda's callback style
 * `(event, context, callback)`; CommonJS, ESM, and TypeScript (pre-built to ESM by the host).
 * What a function can see follows Lambda's Node.js runtime interface client: how a handler string
 * names its module and export, the `Runtime.*` init errors, the context object, console output as
 * `<time>\t<requestId>\t<LEVEL>\t<message>` lines and `Invoke Error` lines for failed calls.
 * Calls of a `fetch` HTTP trigger get a Web `Request` and return a `Response`, whose body is
 * streamed to the host in `http_chunk` frames, paced by the host's `http_ack`s. Handlers wrapped in
 * Lambda's `awslambda.streamifyResponse` stream their response the same way (see "Response
 * streaming" below).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import Module, { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'node:util';
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
  type CallContext,
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

/** The runtime's own files (this bootstrap, the protocol): frames in them are the platform's, not the function's. */
const RUNTIME_PATH = fileURLToPath(new URL('..', import.meta.url));
const RUNTIME_URL = new URL('..', import.meta.url).href;

function isPlatformFrame(line: string): boolean {
  return line.includes(RUNTIME_PATH) || line.includes(RUNTIME_URL);
}

/**
 * The function's part of a stack: the message lines and the frames above the first of this
 * runtime's own, without the `node:` frames that led from the runtime into the function
 * (module loading, promise jobs). Frames the function called through (`Array.map`, a library)
 * stay.
 */
function functionStack(stack: string): string {
  const lines = stack.split('\n');
  let end = lines.findIndex((line, i) => i > 0 && isPlatformFrame(line));
  if (end < 0) end = lines.length;
  while (end > 1 && /^\s+at (.*\()?node:/.test(lines[end - 1]!)) end--;
  return lines.slice(0, end).join('\n');
}

/**
 * A failure as the host hears it, shaped as Lambda's runtime reports it: an Error (or anything
 * with a string name, message and stack) keeps its name as the type; anything else gets its
 * `typeof` as the type and its text as the message (`callback('boom')` is a `string` error).
 */
function toWireError(err: unknown): WireError {
  if (isErrorLike(err)) return { type: err.name, message: err.message, stack: functionStack(err.stack) };
  if (err instanceof Error) {
    return { type: err.name || 'Error', message: err.message, stack: err.stack && functionStack(err.stack) };
  }
  return { type: typeof err, message: textOf(err) };
}

/** `String(value)`, or a note when the value refuses to become text (an object without a prototype, say). */
function textOf(value: unknown): string {
  try {
    return String(value);
  } catch {
    return 'the function failed with a value that cannot be turned into text';
  }
}

function isErrorLike(err: unknown): err is { name: string; message: string; stack: string } {
  const e = err as { name?: unknown; message?: unknown; stack?: unknown } | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.name === 'string' &&
    typeof e.message === 'string' &&
    typeof e.stack === 'string'
  );
}

// Lambda's init errors: their type is their name, e.g. `Runtime.ImportModuleError`.
class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class UnhandledPromiseRejection extends Error {}
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
for (const type of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  UnhandledPromiseRejection,
  NodeJsExit,
]) {
  type.prototype.name = `Runtime.${type.name}`;
}

/** Console levels as Lambda's runtime names them, and the stream each goes to here. */
const CONSOLE_LEVELS = [
  ['trace', 'TRACE', 'stdout'],
  ['debug', 'DEBUG', 'stdout'],
  ['info', 'INFO', 'stdout'],
  ['log', 'INFO', 'stdout'],
  ['warn', 'WARN', 'stderr'],
  ['error', 'ERROR', 'stderr'],
  ['fatal', 'FATAL', 'stderr'],
] as const;

/** The request id a log line is written under: the call that printed it, `undefined` during init (as on Lambda). */
function currentRequestId(): string {
  return currentInvocation.getStore() ?? soleInvocation() ?? 'undefined';
}

/**
 * Replaces the console's methods as Lambda's runtime does (text format): each call writes one
 * `<ISO time>\t<requestId>\t<LEVEL>\t<formatted message>` entry. `console.trace` logs its message
 * at TRACE without a stack, as there. Output written to `process.stdout` directly stays as it is.
 */
function patchConsole(): void {
  const target = console as unknown as Record<string, (...args: unknown[]) => void>;
  for (const [method, level, stream] of CONSOLE_LEVELS) {
    const out = stream === 'stdout' ? process.stdout : process.stderr;
    target[method] = (...args: unknown[]) => {
      out.write(`${new Date().toISOString()}\t${currentRequestId()}\t${level}\t${format(...args)}\n`);
    };
  }
}

/**
 * Logs a failure as Lambda's runtime does: `ERROR\t<what> \t{"errorType","errorMessage",…,"stack":[…]}`
 * (the error's own enumerable fields included, the stack as lines, the function's frames only).
 */
function logError(what: string, err: unknown): void {
  const error = err instanceof Error ? err : new Error(textOf(err));
  let json: string;
  try {
    json = JSON.stringify(error, (_key, value: unknown) =>
      value instanceof Error ? errorFields(value) : value,
    );
  } catch {
    const wire = toWireError(error);
    json = JSON.stringify({
      errorType: wire.type,
      errorMessage: wire.message,
      stack: wire.stack?.split('\n'),
    });
  }
  console.error(what, `\t${json}`);
}

function errorFields(error: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    errorType: error.name,
    errorMessage: error.message,
    code: (error as { code?: unknown }).code,
    ...error,
  };
  if (typeof error.stack === 'string') fields.stack = functionStack(error.stack).split('\n');
  return fields;
}

/**
 * Loads a module synchronously where Node can (CommonJS, and ES modules on Node versions that
 * `require()` them): `import()` reads the file through the thread pool, a few hops that a cold
 * start would wait for. ES modules with top-level await, and ES modules on older Node versions,
 * go through `import()`; a module refused that way has not been evaluated.
 */
async function loadModule(path: string): Promise<Record<string, unknown>> {
  try {
    return runtimeRequire(path) as Record<string, unknown>;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  }
}

/** Loads user modules by absolute path; a module that is not found names this runtime as the requirer, as Lambda's names its own. */
const runtimeRequire = createRequire(import.meta.url);

/** A Node handler split as Lambda's runtime splits it (see core/handler.ts, which the host uses at deploy). */
function splitHandler(handler: string): { moduleRoot: string; module: string; exportPath: string } {
  if (handler.includes('..')) {
    throw new MalformedHandlerName(
      `'${handler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = basename(handler);
  const moduleRoot = handler.substring(0, handler.indexOf(base));
  const dot = base.indexOf('.');
  if (dot < 0) throw new MalformedHandlerName('Bad handler');
  return { moduleRoot, module: base.slice(0, dot), exportPath: base.slice(dot + 1) };
}

/**
 * Loads the handler's module as Lambda's runtime does: `<root>/<module>` itself (a file, or a
 * directory's package), then `.js`, `.mjs`, `.cjs` (each as CommonJS or ES module, as Node reads
 * it), then Node's resolution of the bare name from the package and the module root
 * (`node_modules`, NODE_PATH).
 */
async function loadUserModule(
  codeDir: string,
  parts: { moduleRoot: string; module: string },
): Promise<Record<string, unknown>> {
  const path = resolve(codeDir, parts.moduleRoot, parts.module);
  for (const ext of ['', '.js', '.mjs', '.cjs']) {
    if (existsSync(path + ext)) return loadModule(path + ext);
  }
  const found = runtimeRequire.resolve(parts.module, {
    paths: [codeDir, resolve(codeDir, parts.moduleRoot)],
  });
  return loadModule(found);
}

/**
 * Lambda's error for a module that does not parse (its message is the SyntaxError's text). Where
 * Node named the place (`/code/app.js:2`, the line, a caret: CommonJS does), the stack keeps it, so
 * the log says which line to fix.
 */
function userCodeSyntaxError(err: SyntaxError): UserCodeSyntaxError {
  const wrapped = new UserCodeSyntaxError(String(err));
  const stack = err.stack ?? '';
  const header = stack.indexOf(`\n\n${err.name}: `);
  if (header > 0) wrapped.stack = `${wrapped.name}: ${wrapped.message}\n${stack.slice(0, header)}`;
  return wrapped;
}

/** The value at a dotted path into a module's exports (Lambda's `index.handlers.main`). */
function exportAt(exports: unknown, path: string): unknown {
  let found = exports;
  for (const key of path.split('.')) found = found && (found as Record<string, unknown>)[key];
  return found;
}

/** Loads the handler's module from `codeDir` and returns the exported function, failing with Lambda's `Runtime.*` errors. */
async function loadHandler(init: Pick<FunctionInit, 'entry' | 'handler'>, codeDir: string): Promise<Handler> {
  const parts = splitHandler(init.handler);
  let mod: Record<string, unknown>;
  try {
    mod = init.entry ? await loadModule(join(codeDir, init.entry)) : await loadUserModule(codeDir, parts);
  } catch (err) {
    if (err instanceof SyntaxError) throw userCodeSyntaxError(err);
    if ((err as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND')
      throw new ImportModuleError(String(err));
    throw err;
  }
  let found = exportAt(mod, parts.exportPath);
  // A TypeScript module written CommonJS-style (`export =`, `exports.x =`) has its exports under
  // `default` once Nimbus has bundled it as an ES module; compiled to CommonJS, as users do for
  // Lambda, they would be the module's own.
  if (!found && init.entry) found = exportAt(mod.default, parts.exportPath);
  if (!found) throw new HandlerNotFound(`${init.handler} is undefined or not exported`);
  if (typeof found !== 'function') throw new HandlerNotFound(`${init.handler} is not a function`);
  return found as Handler;
}

async function initFunction(init: FunctionInit): Promise<void> {
  fn = init;
  // Only what differs: assigning TZ, even to its current value, makes Node reload the time zone.
  const nodePath = process.env.NODE_PATH;
  for (const [name, value] of Object.entries(init.env)) {
    if (process.env[name] !== value) process.env[name] = value;
  }
  // Node reads NODE_PATH once, at start-up, which for a pre-warmed runtime came before its function.
  if (process.env.NODE_PATH !== nodePath) (Module as unknown as { _initPaths(): void })._initPaths();
  try {
    installAwsLambdaGlobal();
    handler = await loadHandler(init, CODE_DIR);
    send({ t: 'inited' });
  } catch (err) {
    logError('Uncaught Exception', err);
    send({ t: 'init_error', error: toWireError(err) });
  }
}

function contextLog(level: string, stream: NodeJS.WriteStream): (...args: unknown[]) => void {
  return (...args) => {
    stream.write(
      `[${level}] ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`,
    );
  };
}

/** What every call's context shares, made once per function (its logger functions too). */
interface SharedContext {
  functionName: string;
  functionVersion: string;
  memoryLimitInMB: string;
  logGroupName: string | undefined;
  logStreamName: string | undefined;
  logger: Record<'debug' | 'info' | 'warn' | 'error', (...args: unknown[]) => void>;
  /** Function Compute's view of the same function. */
  fcFunction: { name: string; handler: string; memory: number; timeout: number };
  fcService: FcService;
  region: string;
  accountId: string;
}

interface FcService {
  name: string;
  qualifier: string;
  versionId: string;
  logProject: string;
  logStore: string;
}

/** Set once the function is loaded. */
let sharedContext: SharedContext | undefined;

function makeSharedContext(init: FunctionInit): SharedContext {
  // arn:aws:lambda:<region>:<account>:function:<name>
  const arn = init.functionArn.split(':');
  return {
    functionName: init.functionName,
    functionVersion: init.functionVersion,
    memoryLimitInMB: String(init.memoryMb),
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    logger: {
      debug: contextLog('DEBUG', process.stdout),
      info: contextLog('INFO', process.stdout),
      warn: contextLog('WARN', process.stderr),
      error: contextLog('ERROR', process.stderr),
    },
    fcFunction: {
      name: init.functionName,
      handler: init.handler,
      memory: init.memoryMb,
      timeout: init.timeoutSec,
    },
    fcService: fcService(init, undefined),
    region: arn[3] ?? '',
    accountId: arn[4] ?? '',
  };
}

/** Function Compute's `context.service`: Nimbus has no services, so the function stands for its own. */
function fcService(init: FunctionInit, qualifier: string | undefined): FcService {
  return {
    name: init.functionName,
    qualifier: qualifier ?? 'LATEST',
    versionId: init.functionVersion === '$LATEST' ? '' : init.functionVersion,
    logProject: '',
    logStore: '',
  };
}

/** What settles one call: its result or its error, once (later calls are ignored, as on Lambda). */
interface Settle {
  succeed: (value: unknown) => void;
  fail: (err: unknown) => void;
}

/**
 * The context of one call: Lambda's fields and methods, plus Function Compute's (`requestId`,
 * `function`, `service`, `region`, `accountId`, `credentials`) and Nimbus's `logger`.
 */
function makeContext(id: string, deadline: number, call: CallContext | undefined, settle?: Settle): object {
  const shared = (sharedContext ??= makeSharedContext(fn!));
  const arn = call?.arn;
  const qualifier = arn === undefined ? undefined : arn.split(':')[7];
  const done = (err?: unknown, value?: unknown) => {
    if (err !== undefined && err !== null) settle?.fail(err);
    else settle?.succeed(value);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: shared.functionName,
    functionVersion: shared.functionVersion,
    invokedFunctionArn: arn ?? fn!.functionArn,
    memoryLimitInMB: shared.memoryLimitInMB,
    awsRequestId: id,
    logGroupName: shared.logGroupName,
    logStreamName: shared.logStreamName,
    identity: undefined,
    clientContext: call?.cc === undefined ? undefined : parseClientContext(call.cc),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    succeed: (value?: unknown) => done(null, value),
    fail: (err?: unknown) => done(err ?? 'handled'),
    done,
    requestId: id,
    logger: shared.logger,
    function: shared.fcFunction,
    service: qualifier === undefined ? shared.fcService : fcService(fn!, qualifier),
    region: shared.region,
    accountId: shared.accountId,
    credentials: {},
  };
}

function parseClientContext(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`Cannot parse ClientContext as json: ${String(err)}`, { cause: err });
  }
}

/** `_X_AMZN_TRACE_ID` for a call that came without one: a new X-Ray root, not sampled. */
function freshTraceId(): string {
  if (traceRandomAt + TRACE_RANDOM_BYTES > traceRandom.length) {
    randomFillSync(traceRandom);
    traceRandomAt = 0;
  }
  const random = traceRandom.toString('hex', traceRandomAt, (traceRandomAt += TRACE_RANDOM_BYTES));
  const seconds = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0');
  return `Root=1-${seconds}-${random.slice(0, 24)};Parent=${random.slice(24)};Sampled=0`;
}

/** Random bytes of one trace id (12 of the root, 8 of the parent), drawn from a pool filled 200 ids at a time. */
const TRACE_RANDOM_BYTES = 20;
const traceRandom = Buffer.alloc(TRACE_RANDOM_BYTES * 200);
let traceRandomAt = traceRandom.length;

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

/** A call that finishes when the event loop has nothing left to do (see `onEventLoopEmpty`). */
interface LoopWaiter {
  complete: () => void;
}

const loopWaiters = new Set<LoopWaiter>();

/**
 * Lets `waiter` complete once nothing but the channel keeps the event loop alive, as Lambda's
 * runtime finishes a callback-style call only when its event loop is empty (unless
 * `callbackWaitsForEmptyEventLoop` is false). The channel stops counting as work meanwhile.
 */
function waitForEmptyEventLoop(waiter: LoopWaiter): void {
  loopWaiters.add(waiter);
  channel.unref();
}

function stopWaiting(waiter: LoopWaiter): void {
  if (loopWaiters.delete(waiter) && loopWaiters.size === 0) channel.ref();
}

/** The event loop ran dry: every waiting call completes, and the channel keeps the runtime alive again. */
function onEventLoopEmpty(): void {
  if (loopWaiters.size === 0) return;
  const waiters = [...loopWaiters];
  loopWaiters.clear();
  channel.ref();
  for (const waiter of waiters) waiter.complete();
}

/** An `async function` (Lambda's runtime tells them apart the same way). */
function isAsyncFunction(h: Handler): boolean {
  try {
    return h.constructor.name === 'AsyncFunction';
  } catch {
    return false;
  }
}

/**
 * Calls the handler as Lambda's runtime does. A returned promise settles the call; so does the
 * first of `context.succeed/fail/done`, or `callback(err)`. `callback(null, value)` settles it once
 * the event loop is empty (at once when `context.callbackWaitsForEmptyEventLoop` is false, or when
 * the function runs several calls at once). When
 * nothing settles it and the event loop runs dry, a plain function's call succeeds with null and an
 * `async function`'s fails with `Runtime.NodeJsExit`. A plain (not async) handler of one or two parameters
 * that returns a value succeeds with it (Lambda would ignore it and wait; returning it is what such
 * code means).
 */
function callHandler(
  h: Handler,
  event: unknown,
  id: string,
  deadline: number,
  call: CallContext | undefined,
): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    let settled = false;
    const waiter: LoopWaiter = { complete: () => settle.succeed(null) };
    const settle: Settle = {
      succeed: (value) => {
        if (settled) return;
        settled = true;
        stopWaiting(waiter);
        resolvePromise(value);
      },
      fail: (err) => {
        if (settled) return;
        settled = true;
        stopWaiting(waiter);
        reject(err);
      },
    };
    const context = makeContext(id, deadline, call, settle) as { callbackWaitsForEmptyEventLoop: unknown };
    const callback = (err: unknown, value?: unknown) => {
      if (settled) return;
      if (err !== undefined && err !== null) settle.fail(err);
      // Calls that share the instance keep its event loop busy: with concurrency above 1, waiting
      // for it to empty would hold one call's answer until the others end.
      else if (!context.callbackWaitsForEmptyEventLoop || fn!.concurrency > 1) settle.succeed(value);
      else {
        waiter.complete = () => settle.succeed(value);
        waitForEmptyEventLoop(waiter);
      }
    };
    let returned: unknown;
    try {
      returned = h(event, context, callback);
    } catch (err) {
      settle.fail(err);
      return;
    }
    if (settled) return;
    if (isPromiseLike(returned)) {
      returned.then(settle.succeed, settle.fail);
      waiter.complete = () => (isAsyncFunction(h) ? settle.fail(new NodeJsExit()) : settle.succeed(null));
      waitForEmptyEventLoop(waiter);
    } else if (h.length < 3 && returned !== undefined) settle.succeed(returned);
    else if (!loopWaiters.has(waiter)) waitForEmptyEventLoop(waiter);
  });
}

/** Runs one call of `h` and encodes its result frame (sent by the caller). */
async function runCall(
  h: Handler,
  id: string,
  deadline: number,
  payload: Buffer,
  call?: CallContext,
): Promise<Buffer> {
  try {
    const event: unknown = payload.length === 0 ? {} : JSON.parse(payload.toString('utf8'));
    const trace = call?.trace ?? freshTraceId();
    const run = () => {
      process.env._X_AMZN_TRACE_ID = trace;
      return callHandler(h, event, id, deadline, call);
    };
    // Output is tagged by the async context only when calls overlap: with one call at a time the
    // sole call in flight owns it, and promises skip the async-context bookkeeping.
    const value = fn!.concurrency > 1 ? await currentInvocation.run(id, run) : await run();
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
    if (fn!.concurrency > 1) currentInvocation.run(id, () => logError('Invoke Error', err));
    else logError('Invoke Error', err);
    return encodeFrame({ t: 'result', id, ok: false, error: toWireError(err) });
  }
}

async function invoke(
  id: string,
  deadline: number,
  payload: Buffer,
  call: CallContext | undefined,
): Promise<void> {
  inFlight.add(id);
  try {
    sendFrame(await runCall(handler!, id, deadline, payload, call));
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
    const run = () => Promise.resolve().then(() => h(request, makeContext(id, deadline, undefined)));
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
  context: CallContext | undefined,
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
    const trace = context?.trace ?? freshTraceId();
    const run = async () => {
      process.env._X_AMZN_TRACE_ID = trace;
      const streaming = h as unknown as (event: unknown, stream: ResponseStream, context: object) => unknown;
      const returned = streaming(event, stream, makeContext(id, deadline, context));
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
    if (fn!.concurrency > 1) currentInvocation.run(id, () => logError('Invoke Error', err));
    else logError('Invoke Error', err);
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
  context: CallContext | undefined,
): Promise<void> {
  inFlight.add(id);
  try {
    sendFrame(await runStreamingCall(handler!, id, deadline, payload, streamed, context));
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
    delete process.env._X_AMZN_TRACE_ID;
    rmSync(dir, { recursive: true, force: true });
  }
}

// An error escaping the handler's promise chain leaves the instance in an unknown state: log it
// as Lambda's runtime does, fail what is in flight with it, then exit so the host replaces the
// instance.
function crash(what: string, err: unknown): void {
  logError(what, err);
  const error = toWireError(err);
  for (const id of inFlight) send({ t: 'result', id, ok: false, error, fatal: true });
  batcher.flush();
  channel.end(() => process.exit(1));
}

captureStream(process.stdout, 'stdout');
captureStream(process.stderr, 'stderr');
patchConsole();
process.on('uncaughtException', (err) => crash('Uncaught Exception', err));
process.on('unhandledRejection', (reason, promise) =>
  crash(
    'Unhandled Promise Rejection',
    Object.assign(new UnhandledPromiseRejection(String(reason)), { reason, promise }),
  ),
);
process.on('beforeExit', onEventLoopEmpty);

/** Set while the function loads: calls sent behind the init wait for it. */
let loading: Promise<void> | undefined;

/** The call context of an invoke frame, or undefined when the caller gave none (a plain call). */
function callContextOf(msg: CallContext): CallContext | undefined {
  return msg.arn || msg.trace || msg.cc ? msg : undefined;
}

function startInvoke(msg: Extract<HostMessage, { t: 'invoke' }>, payload: Buffer): void {
  // A call that came behind its init gets its time from when it starts, not from when it was sent.
  const deadline = msg.budgetMs === undefined ? msg.deadline : Date.now() + msg.budgetMs;
  // After a failed init the host has already failed the call and stops this instance.
  if (!handler) return;
  if (msg.http === 'fetch') void invokeFetch(msg.id, deadline, payload);
  // The call's own ARN, trace id and client context travel only when the caller gave them.
  else if (isStreamingHandler(handler))
    void invokeStreaming(msg.id, deadline, payload, msg.stream === true, callContextOf(msg));
  else void invoke(msg.id, deadline, payload, callContextOf(msg));
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
