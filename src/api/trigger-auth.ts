/**
 * Who may call a `key` HTTP trigger: the trigger's key as a bearer token, or a URL signed with it
 * (`nimbus-expires` and `nimbus-signature` query parameters: hex HMAC-SHA256 with the key of
 * `METHOD\npath[?query]\nexpires`, where path and query are what the function sees, the two
 * signing parameters left out). Pure: no I/O; keys are compared in constant time and never logged.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { NimbusError } from '../core/errors.js';

export const EXPIRES_PARAM = 'nimbus-expires';
export const SIGNATURE_PARAM = 'nimbus-signature';

/** Signed URLs live at most this long. */
export const MAX_SIGNED_URL_SEC = 7 * 86_400;

/** What a request offers as proof, as found in its query string. */
interface SignatureParams {
  expires: string | undefined;
  signature: string | undefined;
}

/** Splits the signing parameters off a raw query string; the rest keeps its order and encoding. */
export function splitSignature(rawQuery: string): { query: string; params: SignatureParams } {
  const params: SignatureParams = { expires: undefined, signature: undefined };
  if (!rawQuery.includes('nimbus-')) return { query: rawQuery, params };
  const kept: string[] = [];
  for (const part of rawQuery.split('&')) {
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    if (name === EXPIRES_PARAM) params.expires = value;
    else if (name === SIGNATURE_PARAM) params.signature = value;
    else kept.push(part);
  }
  return { query: kept.join('&'), params };
}

function stringToSign(method: string, pathAndQuery: string, expires: string): string {
  return `${method.toUpperCase()}\n${pathAndQuery}\n${expires}`;
}

export function signRequest(secret: string, method: string, pathAndQuery: string, expires: number): string {
  return createHmac('sha256', secret)
    .update(stringToSign(method, pathAndQuery, String(expires)))
    .digest('hex');
}

/** Hashing first makes the comparison constant-time whatever the lengths. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Checks a request to a `key` trigger; returns the error to answer with, or undefined when it may
 * pass. A signature, when present, is what is checked; otherwise the bearer key.
 */
export function triggerAuthError(
  secret: string,
  request: {
    method: string;
    pathAndQuery: string;
    authorization: string | undefined;
    signed: SignatureParams;
  },
  nowMs: number,
): NimbusError | undefined {
  const { expires, signature } = request.signed;
  if (expires !== undefined || signature !== undefined) {
    if (expires === undefined || signature === undefined || !/^\d{1,12}$/.test(expires)) {
      return new NimbusError(
        'UNAUTHORIZED',
        `a signed URL needs both ${EXPIRES_PARAM} (unix seconds) and ${SIGNATURE_PARAM}; make one with \`nimbus triggers sign\``,
      );
    }
    const expected = signRequest(secret, request.method, request.pathAndQuery, Number(expires));
    if (!/^[0-9a-f]{64}$/i.test(signature) || !sameSecret(signature.toLowerCase(), expected)) {
      return new NimbusError(
        'UNAUTHORIZED',
        'the URL signature does not match this method, path and expiry (or the key was rotated); sign the URL again',
      );
    }
    if (Number(expires) * 1000 <= nowMs) {
      return new NimbusError(
        'SIGNED_URL_EXPIRED',
        `this signed URL expired at ${new Date(Number(expires) * 1000).toISOString()}; ask for a new one`,
      );
    }
    return undefined;
  }
  const match = /^Bearer\s+(.+)$/i.exec(request.authorization ?? '');
  if (match && sameSecret(match[1]!.trim(), secret)) return undefined;
  return new NimbusError(
    'UNAUTHORIZED',
    match
      ? 'the trigger key is wrong (the admin key is not a trigger key); it was shown when the trigger was made, or make a new one with `nimbus triggers rotate-key`'
      : 'this trigger needs its key: send `Authorization: Bearer <trigger key>`, or use a URL from `nimbus triggers sign`',
  );
}
