/**
 * Verifies AWS Signature Version 4 on incoming requests, in two steps. `checkCredential` needs only
 * the headers, so it runs before a single body byte is read (a fastify `onRequest` hook): the
 * Authorization header's shape, the credential scope (service, the server's region, the date of
 * X-Amz-Date), X-Amz-Date within the clock-skew window, that the access key exists, and that a
 * request with a body signs its payload (no `UNSIGNED-PAYLOAD`). `verifySignature` repeats those
 * checks once the body is there, checks X-Amz-Content-Sha256 against the body, and compares the
 * signature. The signing math (canonical request, string to sign, derived key) is the official
 * @smithy/signature-v4 signer, the one the AWS SDK signs with: we rebuild the request exactly as
 * the client signed it (raw path, query, only the headers it lists as signed, its payload hash)
 * and sign it again with the stored secret. Written here is only what the signer does not do.
 * It must never log or return the secret.
 *
 * Replay window: as in AWS, a signature is good for 15 minutes either side of the server's clock
 * and nothing records which signatures were seen, so a captured signed request can be replayed
 * unchanged (same action, same body) within that window. Serve the Lambda API over HTTPS
 * (`--tls-cert`) so requests cannot be captured on the way.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { LambdaApiError } from './lambda-errors.js';

/** What a request brings to the check, as it arrived on the wire. */
export interface SignedRequest {
  method: string;
  /** The request target as sent: percent-encoded path and query. */
  url: string;
  /** node:http's rawHeaders: name, value, name, value… */
  rawHeaders: string[];
  body: Buffer;
}

export interface SignatureCheck {
  /** The service name the credential scope must carry, e.g. `lambda`. */
  service: string;
  /** The region the credential scope must name (the server's); any region when left out. */
  region?: string | undefined;
  /** The secret of an access key id, or undefined when there is no such key. */
  secretOf(accessKeyId: string): Promise<string | undefined>;
  now?: Date;
}

/** What the headers alone prove: a well-formed, current credential of a key that exists. */
export interface CheckedCredential {
  accessKeyId: string;
  secret: string;
  region: string;
  service: string;
  /** The signed header names, lower case, in the client's order. */
  signed: string[];
  signature: string;
  signingDate: Date;
  /** Header values by lower-case name. */
  headers: Map<string, string>;
}

/** How far the request's time may be from ours, as AWS allows; also the replay window. */
export const MAX_SKEW_MS = 15 * 60_000;
const AUTH =
  /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request\s*,\s*SignedHeaders=([a-z0-9;_.-]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/i;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

const signatureError = (message: string) => new LambdaApiError('InvalidSignatureException', 403, message);

/**
 * Whether the request carries a body, from its headers: a content-length above 0, or a
 * transfer-encoding (chunked). `body`, once read, settles it.
 */
function hasBody(headers: Map<string, string>, body?: Buffer): boolean {
  if (body !== undefined && body.length > 0) return true;
  if (headers.has('transfer-encoding')) return true;
  const length = headers.get('content-length');
  return length !== undefined && length !== '0' && Number(length) !== 0;
}

/**
 * The checks that need no body: resolves to the credential, or rejects with a LambdaApiError
 * (MissingAuthenticationTokenException, IncompleteSignatureException, InvalidSignatureException,
 * UnrecognizedClientException). Pass `body` once it has been read.
 */
export async function checkCredential(
  rawHeaders: string[],
  check: SignatureCheck,
  body?: Buffer,
): Promise<CheckedCredential> {
  const headers = headerMap(rawHeaders);
  const authorization = headers.get('authorization');
  if (authorization === undefined) {
    throw new LambdaApiError(
      'MissingAuthenticationTokenException',
      403,
      'the request is not signed: sign it with AWS Signature Version 4 using a Nimbus access key (`nimbus access-keys create`)',
    );
  }
  const auth = AUTH.exec(authorization);
  if (!auth) {
    throw new LambdaApiError(
      'IncompleteSignatureException',
      400,
      'the Authorization header is not an AWS4-HMAC-SHA256 signature with Credential, SignedHeaders and Signature',
    );
  }
  const [, accessKeyId, scopeDate, region, service, signedList, signature] = auth as unknown as string[];
  if (service !== check.service) {
    throw signatureError(`the credential scope names service '${service}'; sign for '${check.service}'`);
  }
  if (check.region !== undefined && region !== check.region) {
    throw signatureError(
      `the credential scope names region '${region}', but this server is in region '${check.region}': sign for '${check.region}' (e.g. AWS_REGION=${check.region} or --region ${check.region})`,
    );
  }
  const amzDate = headers.get('x-amz-date');
  const signed = signedList!.toLowerCase().split(';');
  const time = amzDate === undefined ? undefined : AMZ_DATE.exec(amzDate);
  if (!time || !signed.includes('x-amz-date') || !signed.includes('host')) {
    throw signatureError(
      'the request must carry a signed X-Amz-Date header (yyyyMMddTHHmmssZ) and a signed Host header',
    );
  }
  const [, y, mo, d, h, mi, s] = time as unknown as string[];
  const signingDate = new Date(Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!));
  const now = check.now ?? new Date();
  if (!(Math.abs(now.getTime() - signingDate.getTime()) <= MAX_SKEW_MS)) {
    throw signatureError(
      `Signature expired: ${amzDate} is more than 15 minutes from the server's time ${now.toISOString()}; check the client's clock`,
    );
  }
  if (scopeDate !== amzDate!.slice(0, 8)) {
    throw signatureError(`the credential scope's date ${scopeDate} is not the date of X-Amz-Date ${amzDate}`);
  }
  if (headers.get('x-amz-content-sha256') === UNSIGNED_PAYLOAD && hasBody(headers, body)) {
    throw signatureError(
      'x-amz-content-sha256 is UNSIGNED-PAYLOAD, but the request has a body: the payload must be signed (send its SHA-256 in hex, or leave the header out)',
    );
  }
  const secret = await check.secretOf(accessKeyId!);
  if (secret === undefined) {
    throw new LambdaApiError(
      'UnrecognizedClientException',
      403,
      'The security token included in the request is invalid: no such access key (it may have been revoked)',
    );
  }
  return {
    accessKeyId: accessKeyId!,
    secret,
    region: region!,
    service: service!,
    signed,
    signature: signature!,
    signingDate,
    headers,
  };
}

/**
 * Checks the request's signature; resolves to the access key id that signed it, or rejects with
 * a LambdaApiError (UnrecognizedClientException, InvalidSignatureException, IncompleteSignatureException).
 */
export async function verifySignature(request: SignedRequest, check: SignatureCheck): Promise<string> {
  const { accessKeyId, secret, region, service, signed, signature, signingDate, headers } =
    await checkCredential(request.rawHeaders, check, request.body);

  const signedHeaders: Record<string, string> = {};
  for (const name of signed) {
    const value = headers.get(name);
    if (value === undefined) throw signatureError(`signed header '${name}' is missing from the request`);
    signedHeaders[name] = value;
  }
  // A signed payload hash must be the body's, or the signature would not cover the body at all.
  const payloadHash = headers.get('x-amz-content-sha256');
  if (payloadHash !== undefined && payloadHash !== UNSIGNED_PAYLOAD) {
    const actual = createHash('sha256').update(request.body).digest('hex');
    if (payloadHash.toLowerCase() !== actual) {
      throw signatureError('The provided x-amz-content-sha256 header does not match the SHA-256 of the body');
    }
  }
  const queryStart = request.url.indexOf('?');
  const path = queryStart === -1 ? request.url : request.url.slice(0, queryStart);
  const query: Record<string, string | string[]> = {};
  if (queryStart !== -1) {
    for (const [key, value] of new URLSearchParams(request.url.slice(queryStart + 1))) {
      const seen = query[key];
      query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: secret },
    region,
    service,
    sha256: Hash.bind(null, 'sha256'),
    // Never add headers the client did not sign (the payload hash comes from the body instead).
    applyChecksum: false,
  });
  const resigned = await signer.sign(
    new HttpRequest({ method: request.method, path, query, headers: signedHeaders, body: request.body }),
    // Sign exactly the client's list, including headers the signer would otherwise leave out.
    { signingDate, signableHeaders: new Set(signed) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers.authorization ?? ''))?.[1] ?? '';
  const given = Buffer.from(signature.toLowerCase());
  if (expected.length !== given.length || !timingSafeEqual(Buffer.from(expected), given)) {
    throw signatureError(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return accessKeyId;
}

/** Header values by lower-case name; repeated headers are joined with commas, as SigV4 signs them. */
function headerMap(raw: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!.trim();
    const seen = map.get(name);
    map.set(name, seen === undefined ? value : `${seen},${value}`);
  }
  return map;
}
