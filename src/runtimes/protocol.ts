/**
 * The instance protocol: length-prefixed frames over fd 3 of a sandboxed runtime process.
 * Shared by the host (engine) and the Node bootstrap, so it must import nothing of the platform.
 *
 * Frame layout: u32 BE length of the rest | u32 BE header length | header (JSON, UTF-8) | payload bytes.
 * Payloads carry event and result JSON as raw bytes so the host never re-serialises them.
 * The Python bootstrap implements the same layout by hand.
 */

export interface FunctionInit {
  functionName: string;
  functionVersion: string;
  /**
   * The function's ARN without a qualifier, `arn:aws:lambda:<region>:<account>:function:<name>`
   * (region and account are server settings). A call that named a qualifier carries its own `arn`.
   * The rest of Lambda's documented environment (AWS_REGION, log group and stream names, the
   * initialization type…) arrives in `env`.
   */
  functionArn: string;
  /** `module.export`; resolved under /code. */
  handler: string;
  /** Built entry module (relative to /code) that replaces the handler's module, e.g. for TypeScript. */
  entry?: string | undefined;
  memoryMb: number;
  timeoutSec: number;
  /** Calls the runtime may run at once. */
  concurrency: number;
  /** The function's environment, applied before its module is loaded. */
  env: Record<string, string>;
}

export type HostMessage =
  /** Sent when a pre-warmed sandbox is taken, ahead of its init, so the runtime is awake for it. */
  | { t: 'wake' }
  | ({ t: 'init' } & FunctionInit)
  /**
   * Payload: the event as JSON. `deadline` is epoch milliseconds. `http` is set for calls of an
   * HTTP trigger in a streaming style: the payload is then an `HttpRequestEvent` and the runtime
   * answers with `http_head`, `http_chunk`s and an empty `result`.
   *
   * An invoke may follow an `init` before `inited` came back (a cold start's first calls travel
   * with their init): the runtime runs it once init has finished, and not at all if init failed
   * (the host fails it with the init error). Such an invoke carries `budgetMs` and its deadline
   * starts when the call does (now + budgetMs), so init time is not taken from the call.
   */
  | ({
      t: 'invoke';
      id: string;
      deadline: number;
      budgetMs?: number;
      http?: StreamingHttpStyle;
      /**
       * The caller takes a streamed response (InvokeWithResponseStream, a `lambda`-style HTTP
       * trigger): a handler wrapped in `awslambda.streamifyResponse` answers with one `http_head`
       * (status 200 and the stream's content type), `http_chunk`s and an empty `result`, paced by
       * `http_ack`s and stopped by `http_cancel` like a streaming HTTP call; any other handler
       * answers with a plain `result`. Without it a streaming handler's bytes come back whole as
       * the `result` payload, as Lambda's Invoke returns them. Runtimes without response
       * streaming (Python) ignore it.
       */
      stream?: true;
    } & CallContext)
  /** The host wrote `n` more bytes of the call's response to its client: the runtime may send more. */
  | { t: 'http_ack'; id: string; n: number }
  /** The client went away (or the response grew past its limit): stop producing the body. */
  | { t: 'http_cancel'; id: string };

/**
 * What a caller may say about one call, beyond its event; every field is absent on a plain call, so
 * the hot path's frame stays as it is.
 */
export interface CallContext {
  /** The ARN the caller invoked, with `:qualifier` (a version or alias), when it named one. */
  arn?: string | undefined;
  /**
   * The caller's `X-Amzn-Trace-Id`, which the runtime puts in `_X_AMZN_TRACE_ID` for the call; when
   * absent the runtime makes a fresh one (`Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=0`).
   */
  trace?: string | undefined;
  /** The client context (JSON text, already decoded from `X-Amz-Client-Context`'s base64). */
  cc?: string | undefined;
}

/** HTTP request styles whose responses the runtime streams (the `lambda` style is a plain invoke). */
export type StreamingHttpStyle = 'wsgi' | 'fetch';

/** The content type of a stream that starts with an `HttpResponseStream.from` prelude. */
export const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

/** The event of a streaming HTTP call (JSON, the body base64). */
export interface HttpRequestEvent {
  method: string;
  /** Path as the function sees it (after `/fn/<name>` for path routing), still percent-encoded. */
  path: string;
  /**
   * The prefix the function is mounted at, still percent-encoded: `/fn/<name>` for a path-routed
   * trigger (a WSGI app's SCRIPT_NAME, so the URLs it builds stay under it); absent for host routing.
   */
  scriptName?: string | undefined;
  /** Query string without `?`, signed-URL parameters removed. */
  query: string;
  /** Header pairs in the order received, names lower-case. */
  headers: [string, string][];
  body: string;
  scheme: 'http' | 'https';
  /** Host name and port the request was sent to. */
  host: string;
  port: number;
  sourceIp: string;
  protocol: string;
}

/** Body bytes a runtime may send ahead of the host's `http_ack`s (the rest waits). */
export const HTTP_STREAM_WINDOW_BYTES = 1024 * 1024;
/** Body bytes per `http_chunk` frame at most. */
export const HTTP_CHUNK_BYTES = 256 * 1024;

export interface WireError {
  type: string;
  message: string;
  stack?: string | undefined;
}

export type RuntimeMessage =
  | { t: 'ready' }
  | { t: 'inited' }
  | { t: 'init_error'; error: WireError }
  /** `ts` is informational: the host stamps each line with its own clock and trusts only stdout/stderr. */
  | { t: 'log'; id: string | null; s: 'stdout' | 'stderr'; d: string; ts: number }
  /** Payload: the result as JSON when ok. */
  | { t: 'result'; id: string; ok: true }
  /** `fatal`: the runtime is exiting after this result and must not be sent more work. */
  | { t: 'result'; id: string; ok: false; error: WireError; fatal?: boolean }
  /** A streaming HTTP call's status and headers, sent once, before any `http_chunk`. */
  | { t: 'http_head'; id: string; status: number; headers: [string, string][] }
  /** Payload: the next piece of a streaming HTTP call's response body. */
  | { t: 'http_chunk'; id: string };

export function encodeFrame(header: object, payload?: Buffer): Buffer {
  const head = JSON.stringify(header);
  const headLength = Buffer.byteLength(head);
  const bodyLength = payload ? payload.length : 0;
  const frame = Buffer.allocUnsafe(8 + headLength + bodyLength);
  frame.writeUInt32BE(4 + headLength + bodyLength, 0);
  frame.writeUInt32BE(headLength, 4);
  frame.write(head, 8, 'utf8');
  if (payload) payload.copy(frame, 8 + headLength);
  return frame;
}

/** Ids that can be written into a header as they are (execution ids are UUIDs). */
const PLAIN_ID = /^[\w-]{1,64}$/;

/**
 * The hot-path frames, with their header written directly: the same bytes `encodeFrame` would
 * produce, without serialising an object per call.
 */
export function encodeInvokeFrame(id: string, deadline: number, event: Buffer): Buffer {
  if (!PLAIN_ID.test(id) || !Number.isSafeInteger(deadline))
    return encodeFrame({ t: 'invoke', id, deadline }, event);
  return frameOf(`{"t":"invoke","id":"${id}","deadline":${deadline}}`, event);
}

export function encodeResultFrame(id: string, result: Buffer): Buffer {
  if (!PLAIN_ID.test(id)) return encodeFrame({ t: 'result', id, ok: true }, result);
  return frameOf(`{"t":"result","id":"${id}","ok":true}`, result);
}

function frameOf(asciiHead: string, payload: Buffer): Buffer {
  const headLength = asciiHead.length;
  const frame = Buffer.allocUnsafe(8 + headLength + payload.length);
  frame.writeUInt32BE(4 + headLength + payload.length, 0);
  frame.writeUInt32BE(headLength, 4);
  frame.write(asciiHead, 8, 'latin1');
  payload.copy(frame, 8 + headLength);
  return frame;
}

/** A large batch leaves in parts of this many frames, so the peer starts on the first part early. */
const MAX_FRAMES_PER_WRITE = 16;

/**
 * Collects the frames written in one event-loop turn (the calls of every request that arrived
 * together, or the results of concurrent calls) and writes them as one buffer, so one wake-up of
 * the peer serves them all and the stream machinery runs once per batch, not once per frame.
 */
export class FrameBatcher {
  private frames: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(private readonly write: (data: Buffer) => void) {}

  push(frame: Buffer): void {
    this.frames.push(frame);
    this.bytes += frame.length;
    if (this.frames.length === MAX_FRAMES_PER_WRITE) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** Writes what is waiting now (before closing the stream, say). */
  flush(): void {
    const frames = this.frames;
    if (frames.length === 0) return;
    this.frames = [];
    const data = frames.length === 1 ? frames[0]! : Buffer.concat(frames, this.bytes);
    this.bytes = 0;
    this.write(data);
  }
}

/** Frames larger than this are a protocol violation (payloads are capped far below it). */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Incremental decoder: feed it chunks, it calls `onFrame` for every complete frame. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /**
   * Bytes the next frame needs: a large frame's pieces are joined once, when all have arrived,
   * not on every piece (which copied a multi-megabyte event over and over).
   */
  private needed = 4;

  constructor(private readonly onFrame: (header: unknown, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.needed) return;
    while (this.buffered >= 4) {
      const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      const length = buf.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES || length < 4) throw new Error(`invalid frame length ${length}`);
      if (buf.length < 4 + length) {
        this.chunks = [buf];
        this.needed = 4 + length;
        return;
      }
      this.needed = 4;
      const headLength = buf.readUInt32BE(4);
      const header: unknown = JSON.parse(buf.toString('utf8', 8, 8 + headLength));
      const payload = buf.subarray(8 + headLength, 4 + length);
      const rest = buf.subarray(4 + length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      this.onFrame(header, payload);
    }
  }
}
