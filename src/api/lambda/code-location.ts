/**
 * GetFunction's `Code.Location`: like Lambda's pre-signed S3 URL, a URL that downloads the
 * function's zip without further credentials for 10 minutes, signed with an HMAC of a secret
 * derived from the admin key. It names the code by its SHA-256, so after an update it serves
 * nothing. Pure apart from the clock; the secret is never logged.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { LambdaApiError } from './lambda-errors.js';

const VALID_SEC = 600;

function signature(secret: string, name: string, sha256: string, expires: number): string {
  return createHmac('sha256', `nimbus-code-location\n${secret}`)
    .update(`${name}\n${sha256}\n${expires}`)
    .digest('hex');
}

/** The query string of a download link for this code, valid for 10 minutes. */
export function codeLocationQuery(secret: string, name: string, sha256: string, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + VALID_SEC;
  return `sha256=${sha256}&expires=${expires}&signature=${signature(secret, name, sha256, expires)}`;
}

/** Checks a download link; returns the SHA-256 it names, or throws AccessDeniedException. */
export function verifyCodeLocation(
  secret: string,
  name: string,
  query: Record<string, string | undefined>,
  now = Date.now(),
): string {
  const { sha256, expires, signature: given } = query;
  const denied = (why: string) =>
    new LambdaApiError('AccessDeniedException', 403, `code download refused: ${why}`);
  if (!sha256 || !expires || !given || !/^\d+$/.test(expires)) throw denied('the link is incomplete');
  if (Number(expires) * 1000 < now) throw denied('the link has expired; call GetFunction for a new one');
  const expected = Buffer.from(signature(secret, name, sha256, Number(expires)));
  const actual = Buffer.from(given);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw denied('the signature is wrong');
  }
  return sha256;
}
