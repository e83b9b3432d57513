/**
 * Hostile requests against HTTP triggers (issue 12): an anonymous trigger must not hand the
 * caller's Authorization header (credentials meant for the platform or someone else) to the
 * function.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/harness.js';

describe('hostile requests to HTTP triggers', () => {
  let nimbus: TestServer;

  before(async () => {
    nimbus = await startTestServer();
    await nimbus.deploy('anon-echo', 'node-url-echo', 'nodejs', 'index.handler');
    const made = await nimbus.request('POST', '/v1/functions/anon-echo/triggers', {
      json: { type: 'http', auth: 'anonymous' },
    });
    assert.equal(made.status, 201, made.text);
  });

  after(async () => {
    await nimbus?.close();
  });

  it('strips the Authorization header before an anonymous trigger calls the function', async () => {
    const res = await fetch(`${nimbus.url}/fn/anon-echo/`, {
      headers: { authorization: 'Bearer secret-meant-for-someone-else' },
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.doesNotMatch(text, /secret-meant-for-someone-else/);
    const event = JSON.parse(text) as { headers?: Record<string, string> };
    assert.equal(event.headers?.authorization, undefined);
  });
});
