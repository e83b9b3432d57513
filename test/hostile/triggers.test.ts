/**
 * Hostile requests against HTTP triggers (issue 12): an anonymous trigger must not hand the
 * caller's Authorization header (credentials meant for the platform or someone else) to the
 * function; a trigger may not claim a host name that reaches the server itself, and a host-routed
 * trigger never catches the platform's own routes; every spelling of a path (`//`, `/./`,
 * `/../`, `%2e`, escaped letters) reaches the function as one normalised path.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { rawGet } from '../helpers/raw-http.js';

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

describe('host names and paths of HTTP triggers', () => {
  let nimbus: TestServer;

  before(async () => {
    nimbus = await startTestServer();
    await nimbus.deploy('paths', 'node-url-echo', 'nodejs', 'index.handler');
    const made = await nimbus.request('POST', '/v1/functions/paths/triggers', {
      json: { type: 'http', auth: 'anonymous', host: 'fn.example.com' },
    });
    assert.equal(made.status, 201, made.text);
  });

  after(async () => {
    await nimbus?.close();
  });

  it('refuses host names that reach the server itself', async () => {
    for (const host of [
      'localhost',
      'app.localhost',
      '127.0.0.1',
      '10.0.0.7',
      '169.254.169.254',
      hostname().toLowerCase(),
    ]) {
      const res = await nimbus.request('POST', '/v1/functions/paths/triggers', {
        json: { type: 'http', auth: 'anonymous', host },
      });
      assert.equal(res.status, 400, `${host}: ${res.text}`);
      assert.equal(res.body.error.field, 'host', res.text);
      assert.match(res.body.error.message, /loopback|IP address|own name/);
    }
  });

  it('serves the platform’s routes, not the function, whatever the Host header says', async () => {
    const headers = { host: 'fn.example.com', authorization: `Bearer ${nimbus.key}` };
    const api = await rawGet(nimbus.url, '/v1/functions', headers);
    assert.equal(api.status, 200, api.text);
    assert.ok(Array.isArray(JSON.parse(api.text).functions), 'the REST API answered');
    assert.doesNotMatch(api.text, new RegExp(nimbus.key), 'the key never reached the function');
    const lambda = await rawGet(nimbus.url, '/2015-03-31/functions/', { host: 'fn.example.com' });
    assert.equal(lambda.status, 403, 'the Lambda API answered (unsigned)');
    // Spelled differently, still the API's: `%76` is `v`.
    const escaped = await rawGet(nimbus.url, '/%761/health', { host: 'fn.example.com' });
    assert.doesNotMatch(escaped.text, /"rawPath"/, 'the function did not receive it');
    const other = await rawGet(nimbus.url, '/anything', { host: 'fn.example.com' });
    assert.equal(other.status, 200, other.text);
    assert.equal(JSON.parse(other.text).rawPath, '/anything');
    const executions = await nimbus.request('GET', '/v1/executions?function=paths');
    assert.equal(executions.body.executions.length, 1, 'only /anything ran the function');
  });

  it('hands the function one normalised path for every spelling', async () => {
    const spellings = [
      '/fn/paths/admin',
      '/fn/paths//admin',
      '/fn/paths/./admin',
      '/fn/paths/x/../admin',
      '/fn/paths/x/%2e%2e/admin',
      '/fn/paths/%2E/admin',
      '/fn/paths/%61dmin',
      '/fn/paths/%61%64%6D%69%6E',
    ];
    for (const path of spellings) {
      const res = await rawGet(nimbus.url, path);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.equal(JSON.parse(res.text).rawPath, '/admin', path);
    }
    const hosted = await rawGet(nimbus.url, '//x/./../admin/', { host: 'fn.example.com' });
    assert.equal(JSON.parse(hosted.text).rawPath, '/admin/', 'host routes too, keeping the trailing slash');
    const slash = await rawGet(nimbus.url, '/fn/paths/a%2fb');
    assert.equal(JSON.parse(slash.text).rawPath, '/a%2Fb', 'an escaped slash is data, not a separator');
  });

  it('refuses paths that climb above the root or have malformed escapes', async () => {
    for (const [path, headers, pattern] of [
      ['/fn/paths/%zz', {}, /percent-escape/],
      ['/fn/paths/%2', {}, /percent-escape/],
      ['/../admin', { host: 'fn.example.com' }, /above the root/],
      ['/%2e%2e/admin', { host: 'fn.example.com' }, /above the root/],
    ] as const) {
      const res = await rawGet(nimbus.url, path, headers);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.match(JSON.parse(res.text).error.message, pattern);
    }
    // Climbing out of /fn/<name> lands outside the triggers: not the function's.
    const out = await rawGet(nimbus.url, '/fn/paths/../../v1/health');
    assert.doesNotMatch(out.text, /"rawPath"/);
  });
});
