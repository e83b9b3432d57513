/**
 * Clients of a test server's Lambda API as users make them: an access key from the native API, and
 * the AWS SDK v3's LambdaClient pointed at the server with it (no retries, so a failure shows).
 */
import assert from 'node:assert/strict';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { TestServer } from './harness.js';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Creates an access key (`grants` as the API takes them, e.g. `{allow: ['invoke:fn']}`); fails the test on a non-201. */
export async function createAccessKey(
  server: TestServer,
  grants: Record<string, unknown> = {},
): Promise<AccessKey> {
  const res = await server.request<AccessKey>('POST', '/v1/access-keys', { json: grants });
  assert.equal(res.status, 201, res.text);
  return { accessKeyId: res.body.accessKeyId, secretAccessKey: res.body.secretAccessKey };
}

/** An SDK client of the server's Lambda API, signing with `key` for `region`. */
export function lambdaClient(server: TestServer, key: AccessKey, region = 'us-east-1'): LambdaClient {
  return new LambdaClient({ endpoint: server.url, region, credentials: key, maxAttempts: 1 });
}
