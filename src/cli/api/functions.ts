/**
 * The CLI's calls on functions (/v1/functions): list, get, create, update settings and code,
 * delete, and invoke synchronously or asynchronously. A function failure is an InvokeOutcome the
 * caller shows; any other refusal is an ApiError.
 */
import type { ExecutionError } from '../../core/execution.js';
import type { AsyncConfig, FunctionRecord } from '../../core/function.js';
import { ApiError, type Transport } from './transport.js';

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

type FunctionSpec = Pick<FunctionRecord, 'name' | 'runtime' | 'handler'> & FunctionPatch;

/** An invocation either returned a result or the function failed; anything else is an ApiError. */
type InvokeOutcome =
  | { ok: true; executionId: string | undefined; version?: string; body: string; result: unknown }
  | { ok: false; executionId: string | undefined; version?: string; error: ExecutionError };

/** The API path of one function. */
export function functionPath(name: string): string {
  return `/v1/functions/${encodeURIComponent(name)}`;
}

export class FunctionsApi {
  constructor(private readonly http: Transport) {}

  async list(): Promise<{ functions: FunctionView[] }> {
    const body = await this.http.json<{ functions?: unknown }>(await this.http.call('GET', '/v1/functions'));
    return { ...body, functions: this.http.array(body.functions, 'functions') };
  }

  async get(name: string): Promise<FunctionView> {
    return this.http.json(await this.http.call('GET', functionPath(name)));
  }

  /** The function, or undefined when no function has this name. */
  async find(name: string): Promise<FunctionView | undefined> {
    try {
      return await this.get(name);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'FUNCTION_NOT_FOUND') return undefined;
      throw err;
    }
  }

  async create(spec: FunctionSpec, zip: Buffer): Promise<FunctionView> {
    const body = { ...spec, code: { zipBase64: zip.toString('base64') } };
    return this.http.json(await this.http.call('POST', '/v1/functions', { json: body }));
  }

  async update(name: string, patch: FunctionPatch): Promise<FunctionView> {
    return this.http.json(await this.http.call('PATCH', functionPath(name), { json: patch }));
  }

  async putCode(name: string, zip: Buffer): Promise<FunctionView> {
    const res = await this.http.call('PUT', `${functionPath(name)}/code`, {
      body: zip,
      contentType: 'application/zip',
    });
    return this.http.json(res);
  }

  async delete(name: string): Promise<void> {
    await this.http.drain(await this.http.call('DELETE', functionPath(name)));
  }

  /** Invokes with `event` (JSON text, sent as is so numbers keep their precision). */
  async invoke(name: string, event: string, qualifier?: string): Promise<InvokeOutcome> {
    const res = await this.http.request('POST', `${functionPath(name)}/invoke`, {
      body: event,
      contentType: 'application/json',
      headers: { 'x-nimbus-trigger': 'cli' },
      query: { qualifier },
    });
    const headerId = res.headers.get('x-nimbus-execution-id') ?? undefined;
    const version = res.headers.get('x-nimbus-executed-version') ?? undefined;
    if (res.ok) {
      const body = await this.http.text(res);
      return {
        ok: true,
        executionId: headerId,
        ...(version === undefined ? {} : { version }),
        body,
        result: body === '' ? undefined : this.http.parse(body, res),
      };
    }
    const err = await this.http.errorFrom(res);
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

  /** Queues an asynchronous call; resolves with its execution id once the server holds it durably. */
  async invokeAsync(name: string, event: string, qualifier?: string): Promise<{ executionId: string }> {
    const res = await this.http.call('POST', `${functionPath(name)}/invoke`, {
      body: event,
      contentType: 'application/json',
      headers: { 'x-nimbus-trigger': 'cli', 'x-nimbus-invocation-type': 'async' },
      query: { qualifier },
    });
    return this.http.json(res);
  }
}
