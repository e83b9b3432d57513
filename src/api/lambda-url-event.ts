/**
 * The `lambda` style of HTTP triggers: an HTTP request as the Lambda function URL event (payload
 * version 2.0), and a function's result as an HTTP response, by the same rules as function URLs
 * (an object with `statusCode` describes the response; any other value is a 200 JSON body), and
 * the prelude of a streamed response (`awslambda.HttpResponseStream.from`). Pure: no I/O.
 */

/** An HTTP request to a trigger, as the front door read it. */
export interface TriggerRequest {
  /** The version or alias the trigger calls; undefined: `$LATEST`. */
  qualifier?: string | undefined;
  method: string;
  /** What the function sees: after `/fn/<name>` for path routing, still percent-encoded. */
  path: string;
  /** Without `?`; signing parameters removed. */
  query: string;
  /** Names lower-case, in the order received. */
  headers: [string, string][];
  body: Buffer;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  sourceIp: string;
  protocol: string;
  functionName: string;
  requestId: string;
}

export interface TriggerResponse {
  status: number;
  /** Flat: name, value, name, value... (Set-Cookie may repeat). */
  headers: string[];
  body: Buffer;
}

const TEXT_TYPE =
  /^(text\/[^;]+|application\/([\w.+-]*\+)?(json|xml|javascript|ecmascript|graphql|x-ndjson))\s*(;|$)/i;

/** Bodies of text types travel as text; everything else base64 (binary-safe). */
function isTextType(contentType: string | undefined): boolean {
  return contentType !== undefined && TEXT_TYPE.test(contentType);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `12/Mar/2020:19:03:58 +0000`, the time format of the event's requestContext. */
function clfTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** The function URL event (payload 2.0) for a request. */
export function lambdaUrlEvent(req: TriggerRequest, now: Date): Record<string, unknown> {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of req.headers) {
    if (name === 'cookie') {
      cookies ??= [];
      for (const c of value.split(';')) if (c.trim() !== '') cookies.push(c.trim());
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  let queryStringParameters: Record<string, string> | undefined;
  if (req.query !== '') {
    queryStringParameters = {};
    for (const part of req.query.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = decodeComponent(eq === -1 ? part : part.slice(0, eq));
      const value = decodeComponent(eq === -1 ? '' : part.slice(eq + 1));
      const seen = queryStringParameters[name];
      queryStringParameters[name] = seen === undefined ? value : `${seen},${value}`;
    }
  }
  const event: Record<string, unknown> = {
    version: '2.0',
    routeKey: '$default',
    rawPath: req.path,
    rawQueryString: req.query,
    ...(cookies ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: req.functionName,
      domainName: req.host,
      domainPrefix: req.host.split('.')[0],
      http: {
        method: req.method,
        path: req.path,
        protocol: req.protocol,
        sourceIp: req.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: req.requestId,
      routeKey: '$default',
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
  if (req.body.length > 0) {
    const text = isTextType(headers['content-type']) ? utf8OrUndefined(req.body) : undefined;
    event.body = text ?? req.body.toString('base64');
    event.isBase64Encoded = text === undefined;
  }
  return event;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function utf8OrUndefined(bytes: Buffer): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Thrown for a result that claims to describe a response but cannot be one. */
class InvalidLambdaResponse extends Error {
  override name = 'InvalidResponse';
}

const JSON_TYPE = ['content-type', 'application/json'];

/** The most prelude bytes read while looking for its delimiter (a real prelude is far smaller). */
const MAX_PRELUDE_BYTES = 64 * 1024;
const DELIMITER_BYTES = 8;

/**
 * Reads the prelude that `awslambda.HttpResponseStream.from` puts ahead of a streamed body (JSON
 * `{statusCode, headers, cookies}`, then 8 NUL bytes), as function URLs in RESPONSE_STREAM mode do.
 * Feed it the body's first bytes until it returns the head and the body bytes after the prelude.
 */
export class StreamPreludeReader {
  private parts: Buffer[] = [];
  private size = 0;

  /** Undefined while the delimiter has not come; throws InvalidLambdaResponse for a bad prelude. */
  push(data: Buffer): { status: number; headers: string[]; rest: Buffer } | undefined {
    this.parts.push(data);
    this.size += data.length;
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [all];
    // JSON text never contains a NUL byte, so the first one starts the delimiter.
    const nul = all.indexOf(0);
    if (nul === -1 || all.length < nul + DELIMITER_BYTES) {
      if (all.length > MAX_PRELUDE_BYTES) {
        throw new InvalidLambdaResponse(
          `no HttpResponseStream prelude end (8 NUL bytes) within the first ${MAX_PRELUDE_BYTES} bytes`,
        );
      }
      return undefined;
    }
    if (all.subarray(nul, nul + DELIMITER_BYTES).some((byte) => byte !== 0)) {
      throw new InvalidLambdaResponse('the HttpResponseStream prelude must end with 8 NUL bytes');
    }
    let prelude: unknown;
    try {
      prelude = JSON.parse(all.toString('utf8', 0, nul));
    } catch (err) {
      throw new InvalidLambdaResponse(
        `the HttpResponseStream prelude is not JSON: ${(err as Error).message}`,
      );
    }
    if (prelude === null || typeof prelude !== 'object' || Array.isArray(prelude)) {
      throw new InvalidLambdaResponse(
        'the HttpResponseStream prelude must be an object like {statusCode, headers, cookies}',
      );
    }
    const head = responseHead({ statusCode: 200, ...prelude }, false);
    return { ...head, rest: all.subarray(nul + DELIMITER_BYTES) };
  }
}

/** Maps a function's result (JSON bytes) to the HTTP response, as function URLs do. */
export function lambdaUrlResponse(payload: Buffer): TriggerResponse {
  const value: unknown = JSON.parse(payload.toString('utf8'));
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !('statusCode' in value)) {
    // A bare string is the body itself; anything else is sent as the JSON it is.
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : payload;
    return { status: 200, headers: [...JSON_TYPE], body };
  }
  const r = value as Record<string, unknown>;
  const { status, headers } = responseHead(r, true);
  let body = Buffer.alloc(0);
  if (r.body !== undefined && r.body !== null) {
    const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    body = r.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  }
  return { status, headers, body };
}

/**
 * Status and headers (cookies as Set-Cookie) of a function URL response or streaming prelude;
 * `defaultJson` adds a JSON content type when none is given.
 */
function responseHead(
  r: Record<string, unknown>,
  defaultJson: boolean,
): { status: number; headers: string[] } {
  const status = Number(r.statusCode);
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new InvalidLambdaResponse(
      `statusCode must be an integer from 100 to 599, not ${JSON.stringify(r.statusCode)}`,
    );
  }
  const headers: string[] = [];
  let hasType = false;
  if (r.headers !== undefined && r.headers !== null) {
    if (typeof r.headers !== 'object' || Array.isArray(r.headers)) {
      throw new InvalidLambdaResponse('headers must be an object of header names to values');
    }
    for (const [name, v] of Object.entries(r.headers as Record<string, unknown>)) {
      if (v === undefined || v === null) continue;
      if (name.toLowerCase() === 'content-type') hasType = true;
      headers.push(name, Array.isArray(v) ? v.map(String).join(',') : String(v));
    }
  }
  if (!hasType && defaultJson) headers.push(...JSON_TYPE);
  if (r.cookies !== undefined && r.cookies !== null) {
    if (!Array.isArray(r.cookies))
      throw new InvalidLambdaResponse('cookies must be a list of Set-Cookie values');
    for (const c of r.cookies) headers.push('set-cookie', String(c));
  }
  return { status, headers };
}
