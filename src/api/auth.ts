/**
 * The API key check shared by the management routes (a fastify hook) and the invocation front
 * door: `Authorization: Bearer <admin key>`, compared in constant time. The comparison must never
 * depend on the key's length either: both sides are HMACed first, so equal-length digests meet.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { NimbusError } from '../core/errors.js';

// A per-process HMAC key: a caller cannot precompute digests, and the digest hides the key's length.
const COMPARISON_KEY = randomBytes(32);

/** Whether `given` equals `expected`, in time that depends on neither their contents nor their lengths. */
export function secretsEqual(given: Buffer | string, expected: Buffer | string): boolean {
  const a = createHmac('sha256', COMPARISON_KEY).update(given).digest();
  const b = createHmac('sha256', COMPARISON_KEY).update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Checks an Authorization header against the admin key; the error says what to send instead. */
export function apiKeyError(header: string | undefined, expected: Buffer): NimbusError | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (match) {
    if (secretsEqual(match[1]!.trim(), expected)) return undefined;
  }
  return new NimbusError(
    'UNAUTHORIZED',
    match
      ? 'the API key is wrong; use the admin key from <data-dir>/admin.key or NIMBUS_ADMIN_KEY'
      : 'missing API key: send `Authorization: Bearer <key>` (the admin key is in <data-dir>/admin.key)',
  );
}

// A random prefix per process and a counter: unique without costing randomness per request.
const REQUEST_ID_PREFIX = `req-${Math.random().toString(36).slice(2, 8)}`;
let requestCount = 0;

/** A short id for one API request, echoed in every error body. */
export function newRequestId(): string {
  return `${REQUEST_ID_PREFIX}-${(++requestCount).toString(36)}`;
}
