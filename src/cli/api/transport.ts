/**
 * How the CLI talks HTTP to a Nimbus server: requests with the global fetch and the admin key,
 * answers read as JSON, a refusal from the server as an ApiError and failing to reach it as a
 * CliError that says what to check. The resource clients beside this module build on it; nothing
 * here prints.
 */
import { CliError } from '../cli-error.js';
import type { Connection } from '../connection.js';

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
export class StreamIdleError extends Error {}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  body?: Uint8Array | string;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** True for the error an aborted fetch (or sleep) throws. */
export function isAbort(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'AbortError';
}

export class Transport {
  constructor(readonly connection: Connection) {}

  /** Sends a request; network failures become CliErrors naming the URL, HTTP errors are returned. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
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
  async call(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const res = await this.request(method, path, options);
    if (!res.ok) throw await this.errorFrom(res);
    return res;
  }

  /** The server's refusal as an ApiError, with a hint on what to fix when the key was refused. */
  async errorFrom(res: Response): Promise<ApiError> {
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

  /** The answer's body as text (a connection lost while reading it is a CliError). */
  async text(res: Response): Promise<string> {
    try {
      return await res.text();
    } catch (err) {
      throw this.transportError(err);
    }
  }

  async json<T>(res: Response): Promise<T> {
    return this.parse(await this.text(res), res) as T;
  }

  /** Parses an answer's JSON body; a body that is not JSON means this is likely no Nimbus server. */
  parse(text: string, res: Response): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw new CliError(
        `${this.connection.url} answered ${res.status} with a body that is not JSON; is it a Nimbus server?`,
      );
    }
  }

  /** A listing's array field, checked to be one. */
  array<T>(value: unknown, field: string): T[] {
    if (!Array.isArray(value)) {
      throw new CliError(`${this.connection.url} answered without a "${field}" list; is it a Nimbus server?`);
    }
    return value as T[];
  }

  /** Reads and drops an answer's body (so the connection can be reused). */
  async drain(res: Response): Promise<void> {
    await this.text(res);
  }

  /** Maps fetch's failures to messages that say what to check; aborts pass through untouched. */
  transportError(err: unknown): unknown {
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
