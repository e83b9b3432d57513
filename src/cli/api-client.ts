/**
 * The CLI's only way to talk to a Nimbus server: typed calls on the public HTTP API with the global
 * fetch. It must never import server code and never print: a refusal from the server becomes an
 * ApiError, failing to talk to it a CliError, and main.ts decides how to show either.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Execution, ExecutionError, LogLine } from '../core/execution.js';
import type { AsyncConfig, FunctionRecord } from '../core/function.js';
import type { DeadLetter } from '../core/ports.js';
import type { LayerVersionRecord } from '../core/layer.js';
import type { AliasRecord } from '../core/version.js';
import { CliError } from './cli-error.js';
import type { Connection } from './connection.js';
import { MalformedLineError, readNdjson } from './ndjson.js';

/** A function as the API shows it; listings carry `envKeys` instead of `env`. */
export type FunctionView = Omit<FunctionRecord, 'env'> & { env?: Record<string, string>; envKeys?: string[] };

/** Layer versions are given as ARNs or `name:version` and shown as records. */
export type FunctionPatch = Partial<
  Pick<
    FunctionRecord,
    | 'runtime'
    | 'handler'
    | 'memoryMb'
    | 'timeoutSec'
    | 'concurrency'
    | 'minInstances'
    | 'maxInstances'
    | 'env'
    | 'description'
    | 'network'
  >
> & { async?: Partial<AsyncConfig>; layers?: string[] };

/** A published version as the API shows it: its frozen settings, flat (listings: `envKeys`). */
export type VersionView = Omit<FunctionView, 'name'> & { functionName: string; functionDescription: string };

export type AliasView = AliasRecord;

/** A layer version as the API shows it, with its ARNs. */
type LayerVersionView = LayerVersionRecord & { arn: string; layerArn: string };

/** What a layer version is published with besides its zip. */
interface LayerMetadata {
  description?: string | undefined;
  compatibleRuntimes?: string[] | undefined;
  licenseInfo?: string | undefined;
}

/** A dead letter as the API shows it: the event is parsed JSON. */
/** An access key as listed: never with its secret. */
interface AccessKeyView {
  id: string;
  allow: string[] | null;
  description: string;
  createdAt: string;
}

type AccessKeyCreated = AccessKeyView & { accessKeyId: string; secretAccessKey: string };

export type DeadLetterView = Omit<DeadLetter, 'payload'> & { payload: unknown };

type FunctionSpec = Pick<FunctionRecord, 'name' | 'runtime' | 'handler'> & FunctionPatch;

/** A trigger as the API shows it: its settings flattened; `key` only in the answer that made it. */
export interface TriggerView {
  id: string;
  functionName: string;
  type: 'http' | 'timer';
  enabled: boolean;
  key?: string;
  [setting: string]: unknown;
}

export type ExecutionLogLine = Pick<LogLine, 'seq' | 'time' | 'stream' | 'message'>;

export interface ExecutionLogs {
  executionId: string;
  lines: ExecutionLogLine[];
}

interface ExecutionFilter {
  functionName?: string | undefined;
  status?: string | undefined;
  limit?: number | undefined;
}

/** An invocation either returned a result or the function failed; anything else is an ApiError. */
type InvokeOutcome =
  | { ok: true; executionId: string | undefined; version?: string; body: string; result: unknown }
  | { ok: false; executionId: string | undefined; version?: string; error: ExecutionError };

/** The server refused a request; `code` is its stable machine code (e.g. FUNCTION_NOT_FOUND). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Every field of the server's error object, e.g. `executionId`. */
    readonly details: Record<string, unknown> = {},
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A follow stream went quiet for longer than fetch's body timeout; reconnecting is safe. */
class StreamIdleError extends Error {}

interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  body?: Uint8Array | string;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** Lines asked for again after a follow stream reconnects, to cover the gap; duplicates are dropped. */
const RECONNECT_TAIL = 100;
const EXECUTION_POLL_MS = 500;

export class ApiClient {
  constructor(readonly connection: Connection) {}

  async health(): Promise<{ status: string; version: string }> {
    return this.json(await this.call('GET', '/v1/health'));
  }

  async listFunctions(): Promise<{ functions: FunctionView[] }> {
    const body = await this.json<{ functions?: unknown }>(await this.call('GET', '/v1/functions'));
    return { ...body, functions: this.array(body.functions, 'functions') };
  }

  async getFunction(name: string): Promise<FunctionView> {
    return this.json(await this.call('GET', functionPath(name)));
  }

  /** The function, or undefined when no function has this name. */
  async findFunction(name: string): Promise<FunctionView | undefined> {
    try {
      return await this.getFunction(name);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'FUNCTION_NOT_FOUND') return undefined;
      throw err;
    }
  }

  async createFunction(spec: FunctionSpec, zip: Buffer): Promise<FunctionView> {
    const body = { ...spec, code: { zipBase64: zip.toString('base64') } };
    return this.json(await this.call('POST', '/v1/functions', { json: body }));
  }

  async updateFunction(name: string, patch: FunctionPatch): Promise<FunctionView> {
    return this.json(await this.call('PATCH', functionPath(name), { json: patch }));
  }

  async putCode(name: string, zip: Buffer): Promise<FunctionView> {
    const res = await this.call('PUT', `${functionPath(name)}/code`, {
      body: zip,
      contentType: 'application/zip',
    });
    return this.json(res);
  }

  async deleteFunction(name: string): Promise<void> {
    await this.drain(await this.call('DELETE', functionPath(name)));
  }

  /** Invokes with `event` (JSON text, sent as is so numbers keep their precision). */
  async invoke(name: string, event: string, qualifier?: string): Promise<InvokeOutcome> {
    const res = await this.request('POST', `${functionPath(name)}/invoke`, {
      body: event,
      contentType: 'application/json',
      headers: { 'x-nimbus-trigger': 'cli' },
      query: { qualifier },
    });
    const headerId = res.headers.get('x-nimbus-execution-id') ?? undefined;
    const version = res.headers.get('x-nimbus-executed-version') ?? undefined;
    if (res.ok) {
      const body = await this.text(res);
      return {
        ok: true,
        executionId: headerId,
        ...(version === undefined ? {} : { version }),
        body,
        result: body === '' ? undefined : this.parse(body, res),
      };
    }
    const err = await this.errorFrom(res);
    // Only a failure that produced an execution is the function's; anything else (404, 401...) is the API's.
    const executionId = typeof err.details.executionId === 'string' ? err.details.executionId : headerId;
    if (executionId === undefined && typeof err.details.type !== 'string') throw err;
    const type = typeof err.details.type === 'string' ? err.details.type : err.code;
    const stack = typeof err.details.stack === 'string' ? err.details.stack : undefined;
    // The API's message may already lead with the type ("ValueError: boom"); show it once.
    const message = err.message.startsWith(`${type}: `) ? err.message.slice(type.length + 2) : err.message;
    return {
      ok: false,
      executionId,
      ...(version === undefined ? {} : { version }),
      error: { type, message, stack },
    };
  }

  async createTrigger(functionName: string, spec: Record<string, unknown>): Promise<TriggerView> {
    return this.json(await this.call('POST', `${functionPath(functionName)}/triggers`, { json: spec }));
  }

  /** The triggers of one function, or of all when no name is given. */
  async listTriggers(functionName?: string): Promise<{ triggers: TriggerView[] }> {
    const path = functionName === undefined ? '/v1/triggers' : `${functionPath(functionName)}/triggers`;
    const body = await this.json<{ triggers?: unknown }>(await this.call('GET', path));
    return { triggers: this.array(body.triggers, 'triggers') };
  }

  async getTrigger(id: string): Promise<TriggerView> {
    return this.json(await this.call('GET', triggerPath(id)));
  }

  async updateTrigger(id: string, patch: Record<string, unknown>): Promise<TriggerView> {
    return this.json(await this.call('PATCH', triggerPath(id), { json: patch }));
  }

  async deleteTrigger(id: string): Promise<void> {
    await this.drain(await this.call('DELETE', triggerPath(id)));
  }

  async nextFirings(id: string, count: number): Promise<{ triggerId: string; next: string[] }> {
    return this.json(await this.call('GET', `${triggerPath(id)}/next`, { query: { count } }));
  }

  async rotateTriggerKey(id: string): Promise<TriggerView> {
    return this.json(await this.call('POST', `${triggerPath(id)}/rotate-key`));
  }

  /** Queues an asynchronous call; resolves with its execution id once the server holds it durably. */
  async invokeAsync(name: string, event: string, qualifier?: string): Promise<{ executionId: string }> {
    const res = await this.call('POST', `${functionPath(name)}/invoke`, {
      body: event,
      contentType: 'application/json',
      headers: { 'x-nimbus-trigger': 'cli', 'x-nimbus-invocation-type': 'async' },
      query: { qualifier },
    });
    return this.json(res);
  }

  /** Publishes `$LATEST`; `created` is false when it had not changed since the newest version. */
  async publishVersion(
    name: string,
    spec: { description?: string; codeSha256?: string },
  ): Promise<{ version: VersionView; created: boolean }> {
    const res = await this.call('POST', `${functionPath(name)}/versions`, { json: spec });
    return { version: await this.json<VersionView>(res), created: res.status === 201 };
  }

  async listVersions(name: string): Promise<{ versions: VersionView[] }> {
    const body = await this.json<{ versions?: unknown }>(
      await this.call('GET', `${functionPath(name)}/versions`),
    );
    return { versions: this.array(body.versions, 'versions') };
  }

  async getVersion(name: string, version: string): Promise<VersionView> {
    return this.json(await this.call('GET', `${functionPath(name)}/versions/${encodeURIComponent(version)}`));
  }

  async deleteVersion(name: string, version: string): Promise<void> {
    await this.drain(
      await this.call('DELETE', `${functionPath(name)}/versions/${encodeURIComponent(version)}`),
    );
  }

  async createAlias(name: string, spec: Record<string, unknown>): Promise<AliasView> {
    return this.json(await this.call('POST', `${functionPath(name)}/aliases`, { json: spec }));
  }

  async listAliases(name: string): Promise<{ aliases: AliasView[] }> {
    const body = await this.json<{ aliases?: unknown }>(
      await this.call('GET', `${functionPath(name)}/aliases`),
    );
    return { aliases: this.array(body.aliases, 'aliases') };
  }

  async getAlias(name: string, alias: string): Promise<AliasView> {
    return this.json(await this.call('GET', aliasPath(name, alias)));
  }

  async updateAlias(name: string, alias: string, patch: Record<string, unknown>): Promise<AliasView> {
    return this.json(await this.call('PATCH', aliasPath(name, alias), { json: patch }));
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.drain(await this.call('DELETE', aliasPath(name, alias)));
  }

  /** Publishes the zip as the layer's next version (sent as is, metadata in the query). */
  async publishLayer(name: string, zip: Buffer, meta: LayerMetadata): Promise<LayerVersionView> {
    const res = await this.call('POST', `/v1/layers/${encodeURIComponent(name)}/versions`, {
      body: zip,
      contentType: 'application/zip',
      query: {
        description: meta.description,
        licenseInfo: meta.licenseInfo,
        compatibleRuntimes: meta.compatibleRuntimes?.join(','),
      },
    });
    return this.json(res);
  }

  async listLayers(): Promise<{
    layers: { layerName: string; layerArn: string; latest: LayerVersionView }[];
  }> {
    return this.json(await this.call('GET', '/v1/layers'));
  }

  async listLayerVersions(name: string): Promise<{ versions: LayerVersionView[] }> {
    return this.json(await this.call('GET', `/v1/layers/${encodeURIComponent(name)}/versions`));
  }

  async getLayerVersion(name: string, version: string): Promise<LayerVersionView> {
    return this.json(
      await this.call(
        'GET',
        `/v1/layers/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`,
      ),
    );
  }

  async deleteLayerVersion(name: string, version: string): Promise<void> {
    await this.drain(
      await this.call(
        'DELETE',
        `/v1/layers/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`,
      ),
    );
  }

  async listDeadLetters(filter: ExecutionFilter = {}): Promise<{ deadLetters: DeadLetterView[] }> {
    const query = { function: filter.functionName, limit: filter.limit };
    const body = await this.json<{ deadLetters?: unknown }>(
      await this.call('GET', '/v1/dead-letters', { query }),
    );
    return { ...body, deadLetters: this.array(body.deadLetters, 'deadLetters') };
  }

  async getDeadLetter(id: string): Promise<DeadLetterView> {
    return this.json(await this.call('GET', deadLetterPath(id)));
  }

  async replayDeadLetter(id: string): Promise<{ executionId: string }> {
    return this.json(
      await this.call('POST', `${deadLetterPath(id)}/replay`, { headers: { 'x-nimbus-trigger': 'cli' } }),
    );
  }

  async deleteDeadLetter(id: string): Promise<void> {
    await this.drain(await this.call('DELETE', deadLetterPath(id)));
  }

  /** Makes an access key for the Lambda API; the answer is the only one that shows its secret. */
  async createAccessKey(spec: { allow?: string[]; description?: string }): Promise<AccessKeyCreated> {
    return this.json(await this.call('POST', '/v1/access-keys', { json: spec }));
  }

  async listAccessKeys(): Promise<{ accessKeys: AccessKeyView[] }> {
    const body = await this.json<{ accessKeys?: unknown }>(await this.call('GET', '/v1/access-keys'));
    return { accessKeys: this.array(body.accessKeys, 'accessKeys') };
  }

  async deleteAccessKey(id: string): Promise<void> {
    await this.drain(await this.call('DELETE', `/v1/access-keys/${encodeURIComponent(id)}`));
  }

  async signTriggerUrl(
    id: string,
    spec: { method: string; path: string; expiresInSec: number },
  ): Promise<{ url: string; expiresAt: string }> {
    return this.json(await this.call('POST', `${triggerPath(id)}/sign`, { json: spec }));
  }

  async listExecutions(filter: ExecutionFilter = {}): Promise<{ executions: Execution[] }> {
    const query = { function: filter.functionName, status: filter.status, limit: filter.limit };
    const body = await this.json<{ executions?: unknown }>(
      await this.call('GET', '/v1/executions', { query }),
    );
    return { ...body, executions: this.array(body.executions, 'executions') };
  }

  async getExecution(id: string, signal?: AbortSignal): Promise<Execution> {
    return this.json(await this.call('GET', executionPath(id), { signal }));
  }

  async getExecutionLogs(id: string, signal?: AbortSignal): Promise<ExecutionLogs> {
    const body = await this.json<ExecutionLogs>(
      await this.call('GET', `${executionPath(id)}/logs`, { signal }),
    );
    return { ...body, lines: this.array(body.lines, 'lines') };
  }

  /** The execution's log, or undefined when no execution has this id. */
  async findExecutionLogs(id: string): Promise<ExecutionLogs | undefined> {
    try {
      return await this.getExecutionLogs(id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * New log lines of a running execution (after `afterSeq`) until it ends. The API has no stream
   * for one execution, so this polls; it checks the status before reading the log so the last
   * read, made after the execution ended, holds every line.
   */
  async *followExecutionLogs(
    id: string,
    afterSeq: number,
    signal: AbortSignal,
  ): AsyncGenerator<ExecutionLogLine> {
    let last = afterSeq;
    for (;;) {
      const { status } = await this.getExecution(id, signal);
      for (const line of (await this.getExecutionLogs(id, signal)).lines) {
        if (line.seq > last) {
          last = line.seq;
          yield line;
        }
      }
      if (status !== 'running') return;
      await sleep(EXECUTION_POLL_MS, undefined, { signal });
    }
  }

  /**
   * A function's recent log lines; with `follow`, then every new line until `signal` aborts or the
   * server ends the stream. fetch gives up on a body that is silent for 5 minutes, so a quiet
   * follow stream is reopened with some overlap and the lines already shown are dropped.
   */
  async *functionLogs(
    name: string,
    options: { tail?: number | undefined; follow: boolean; signal?: AbortSignal | undefined },
  ): AsyncGenerator<LogLine> {
    const seen = new SeenLines();
    let reopened = false;
    for (;;) {
      const tail = reopened ? RECONNECT_TAIL : options.tail;
      try {
        for await (const line of this.functionLogStream(name, tail, options.follow, options.signal)) {
          if (reopened && !seen.isNew(line)) continue;
          seen.add(line);
          yield line;
        }
        return;
      } catch (err) {
        if (!(err instanceof StreamIdleError)) throw err;
        reopened = true;
      }
    }
  }

  private async *functionLogStream(
    name: string,
    tail: number | undefined,
    follow: boolean,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<LogLine> {
    const res = await this.call('GET', `${functionPath(name)}/logs`, {
      query: { tail, follow: follow ? 'true' : undefined },
      headers: { accept: 'application/x-ndjson' },
      signal,
    });
    if (!res.body) return;
    try {
      for await (const value of readNdjson(res.body)) {
        if (value === null || typeof value !== 'object') throw new MalformedLineError(JSON.stringify(value));
        yield value as LogLine;
      }
    } catch (err) {
      if (err instanceof MalformedLineError) {
        throw new CliError(`Nimbus at ${this.connection.url} sent a malformed log stream: ${err.message}`);
      }
      throw this.transportError(err);
    }
  }

  /** Sends a request; network failures become CliErrors naming the URL, HTTP errors are returned. */
  private async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.connection.key) headers.authorization = `Bearer ${this.connection.key}`;
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.contentType) {
      headers['content-type'] = options.contentType;
    }
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) params.set(key, String(value));
    }
    const query = params.size > 0 ? `?${params.toString()}` : '';
    try {
      return await fetch(`${this.connection.url}${path}${query}`, {
        method,
        headers,
        body,
        signal: options.signal ?? null,
      });
    } catch (err) {
      throw this.transportError(err);
    }
  }

  /** Like request, but a non-2xx answer is thrown as ApiError. */
  private async call(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const res = await this.request(method, path, options);
    if (!res.ok) throw await this.errorFrom(res);
    return res;
  }

  private async errorFrom(res: Response): Promise<ApiError> {
    const text = await res.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const error = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
    const code = typeof error?.code === 'string' ? error.code : `HTTP_${res.status}`;
    const snippet = text.trim().slice(0, 200);
    const message =
      typeof error?.message === 'string'
        ? error.message
        : `Nimbus at ${this.connection.url} answered ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ''}`;
    return new ApiError(
      res.status,
      code,
      // Which server refused matters most when the CLI found the URL by itself.
      res.status === 401 ? `Nimbus at ${this.connection.url} refused the request: ${message}` : message,
      error ?? {},
      res.status === 401 ? this.authHint() : undefined,
    );
  }

  private authHint(): string {
    if (this.connection.keySource === undefined && this.connection.savedKeyUrl !== undefined) {
      return `the key saved by \`nimbus login\` is for ${this.connection.savedKeyUrl}, so it was not sent to ${this.connection.url}; pass --key or log in to this URL`;
    }
    if (this.connection.keySource === undefined) {
      return 'no API key was found: pass --key, set NIMBUS_KEY, or run `nimbus login --url URL --key KEY` (on the server host, the CLI also reads .nimbus/admin.key)';
    }
    return `the key came from ${this.connection.keySource}; check it matches the server's admin key`;
  }

  private async text(res: Response): Promise<string> {
    try {
      return await res.text();
    } catch (err) {
      throw this.transportError(err);
    }
  }

  private async json<T>(res: Response): Promise<T> {
    return this.parse(await this.text(res), res) as T;
  }

  private parse(text: string, res: Response): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw new CliError(
        `${this.connection.url} answered ${res.status} with a body that is not JSON; is it a Nimbus server?`,
      );
    }
  }

  private array<T>(value: unknown, field: string): T[] {
    if (!Array.isArray(value)) {
      throw new CliError(`${this.connection.url} answered without a "${field}" list; is it a Nimbus server?`);
    }
    return value as T[];
  }

  private async drain(res: Response): Promise<void> {
    await this.text(res);
  }

  /** Maps fetch's failures to messages that say what to check; aborts pass through untouched. */
  private transportError(err: unknown): unknown {
    if (isAbort(err) || err instanceof CliError || err instanceof StreamIdleError) return err;
    const url = this.connection.url;
    const cause = (err as { cause?: unknown }).cause;
    const code = errorCode(cause) ?? errorCode(err);
    switch (code) {
      case 'ECONNREFUSED':
        return new CliError(
          `cannot reach Nimbus at ${url}: is the server running? start it with \`npm start\``,
        );
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return new CliError(`cannot reach Nimbus at ${url}: host '${new URL(url).hostname}' not found`);
      case 'UND_ERR_CONNECT_TIMEOUT':
      case 'ETIMEDOUT':
        return new CliError(`cannot reach Nimbus at ${url}: connection timed out`);
      case 'UND_ERR_HEADERS_TIMEOUT':
        return new CliError(
          `Nimbus at ${url} sent no answer within 5 minutes, the CLI's HTTP limit`,
          1,
          'a long invocation may still be running: check `nimbus executions <function>`',
        );
      case 'UND_ERR_BODY_TIMEOUT':
        return new StreamIdleError();
      case 'UND_ERR_SOCKET':
      case 'ECONNRESET':
      case 'EPIPE':
        return new CliError(`lost the connection to Nimbus at ${url}: the server closed it`);
      default: {
        const detail = cause instanceof Error ? cause.message : (err as Error).message;
        return new CliError(`cannot reach Nimbus at ${url}: ${detail}`);
      }
    }
  }
}

/**
 * Which lines of a reopened follow stream were already shown: lines of a known execution up to its
 * highest seq, and lines of unknown executions older than the newest line shown.
 */
class SeenLines {
  private readonly maxSeq = new Map<string, number>();
  private newest = Number.NEGATIVE_INFINITY;
  private static readonly LIMIT = 10_000;

  isNew(line: LogLine): boolean {
    const max = this.maxSeq.get(line.executionId);
    if (max !== undefined) return line.seq > max;
    return Date.parse(line.time) >= this.newest;
  }

  add(line: LogLine): void {
    const previous = this.maxSeq.get(line.executionId) ?? -1;
    this.maxSeq.delete(line.executionId);
    this.maxSeq.set(line.executionId, Math.max(line.seq, previous));
    const time = Date.parse(line.time);
    if (time > this.newest) this.newest = time;
    // Maps iterate in insertion order, so the first key is the execution heard from least recently.
    if (this.maxSeq.size > SeenLines.LIMIT) {
      const oldest = this.maxSeq.keys().next().value;
      if (oldest !== undefined) this.maxSeq.delete(oldest);
    }
  }
}

function functionPath(name: string): string {
  return `/v1/functions/${encodeURIComponent(name)}`;
}

function deadLetterPath(id: string): string {
  return `/v1/dead-letters/${encodeURIComponent(id)}`;
}

function executionPath(id: string): string {
  return `/v1/executions/${encodeURIComponent(id)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isAbort(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'AbortError';
}

function triggerPath(id: string): string {
  return `/v1/triggers/${encodeURIComponent(id)}`;
}

function aliasPath(name: string, alias: string): string {
  return `${functionPath(name)}/aliases/${encodeURIComponent(alias)}`;
}
