/**
 * What a caller may say about one call besides its event, read from Lambda's request headers:
 * `X-Amz-Client-Context` (base64 JSON, handed to the function as `context.clientContext`) and
 * `X-Amzn-Trace-Id` (the function's `_X_AMZN_TRACE_ID` for the call). Both are checked here, once,
 * for every front door; each answers a problem with its own error shape.
 */

/** Lambda's limit on the base64 text of a client context. */
const CLIENT_CONTEXT_MAX_BASE64 = 3583;
/** A trace header longer than this is not one X-Ray wrote. */
const TRACE_ID_MAX_LENGTH = 1024;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Printable ASCII, as X-Ray trace headers are (`Root=1-…;Parent=…;Sampled=0`). */
const TRACE_ID = /^[\x20-\x7e]+$/;

/** A header value that cannot be used; `message` says what to send instead. */
interface HeaderProblem {
  problem: string;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The client context as JSON text, decoded from the `X-Amz-Client-Context` header's base64;
 * undefined without the header; a problem when it is not base64 of a JSON object or is too long.
 */
export function clientContextOf(header: string | string[] | undefined): string | undefined | HeaderProblem {
  const value = single(header)?.trim();
  if (value === undefined || value === '') return undefined;
  if (value.length > CLIENT_CONTEXT_MAX_BASE64) {
    return {
      problem: `X-Amz-Client-Context is ${value.length} characters of base64; the limit is ${CLIENT_CONTEXT_MAX_BASE64}`,
    };
  }
  if (!BASE64.test(value)) {
    return { problem: 'X-Amz-Client-Context must be base64 (standard alphabet) of a JSON object' };
  }
  const text = Buffer.from(value, 'base64').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return {
      problem: `X-Amz-Client-Context must be base64 of a JSON object; its decoded text is not JSON: ${(err as Error).message}`,
    };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { problem: 'X-Amz-Client-Context must be base64 of a JSON object (e.g. {"custom": {...}})' };
  }
  return text;
}

/**
 * The caller's `X-Amzn-Trace-Id`, undefined without one; a problem when it is longer than
 * TRACE_ID_MAX_LENGTH or holds anything but printable ASCII.
 */
export function traceIdOf(header: string | string[] | undefined): string | undefined | HeaderProblem {
  const value = single(header)?.trim();
  if (value === undefined || value === '') return undefined;
  if (value.length > TRACE_ID_MAX_LENGTH || !TRACE_ID.test(value)) {
    return {
      problem: `X-Amzn-Trace-Id must be at most ${TRACE_ID_MAX_LENGTH} printable ASCII characters, such as Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`,
    };
  }
  return value;
}

/** Whether a parsed header value is a problem rather than a value. */
export function isProblem(value: string | undefined | HeaderProblem): value is HeaderProblem {
  return typeof value === 'object';
}
