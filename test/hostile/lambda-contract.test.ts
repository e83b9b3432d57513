/**
 * Hostile fixtures for what issue 11 opened: layers (archives a function's /opt is made of),
 * handler strings (module paths the runtime loads), the per-call context (headers that reach a
 * function's context and environment) and the START / END / REPORT lines (the platform's words in
 * a function's log). Each shows a hostile function or request cannot use them to reach outside
 * its package, into another call, or into the platform's own lines.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { packDirectory } from '../../src/packaging/pack-directory.js';
import { FIXTURES, startTestServer, type TestServer } from '../helpers/harness.js';
import { rawZip } from '../helpers/raw-zip.js';
import { join } from 'node:path';

describe('hostile: layers, handlers, call context and report lines', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer();
    await nimbus.deploy('forger', 'node-forger', 'nodejs', 'index.handler');
  });
  after(() => nimbus.close());

  it('refuses layer archives with links or paths leaving the layer, and publishes nothing', async () => {
    const archives = {
      'a link to a host file': rawZip([
        { name: 'python/shadow', data: '/etc/shadow', mode: 0o120777 },
        { name: 'python/ok.py', data: 'x = 1\n' },
      ]),
      'a path climbing out': rawZip([{ name: 'nodejs/../../../escape.js', data: 'x' }]),
      'an absolute path': rawZip([{ name: '/etc/cron.d/evil', data: '* * * * * root true\n' }]),
    };
    for (const [what, zip] of Object.entries(archives)) {
      const res = await nimbus.request('POST', '/v1/layers/evil/versions', {
        json: { zipBase64: zip.toString('base64') },
      });
      assert.equal(res.status, 400, `${what}: ${res.text}`);
      assert.equal(res.body.error.code, 'INVALID_ARCHIVE', what);
    }
    const versions = await nimbus.request('GET', '/v1/layers/evil/versions');
    assert.deepEqual(versions.body.versions, [], 'nothing was published');
  });

  it('refuses handlers that name a module outside the package', async () => {
    const zip = (await packDirectory(join(FIXTURES, 'node-forger'))).toString('base64');
    const cases: ['nodejs' | 'python3', string][] = [
      ['nodejs', '../../etc/passwd.handler'],
      ['nodejs', 'lib/../../../etc/passwd.handler'],
      ['python3', '../main.handler'],
      ['python3', 'pkg/../../main.handler'],
    ];
    for (const [runtime, handler] of cases) {
      const res = await nimbus.request('POST', '/v1/functions', {
        json: { name: 'climber', runtime, handler, code: { zipBase64: zip } },
      });
      assert.equal(res.status, 400, `${runtime} ${handler}: ${res.text}`);
      assert.match(res.body.error.message, /handler/);
    }
    assert.equal((await nimbus.request('GET', '/v1/functions/climber')).status, 404);
  });

  it("keeps the platform's START / END / REPORT lines the platform's, whatever the function prints", async () => {
    const res = await nimbus.invoke('forger', { forge: true });
    assert.equal(res.status, 200, res.text);
    const id = res.headers.get('x-nimbus-execution-id')!;
    const logs = await nimbus.request('GET', `/v1/executions/${id}/logs`);
    const lines = logs.body.lines as { stream: string; message: string }[];
    const system = lines.filter((l) => l.stream === 'system');
    assert.equal(system.length, 3, JSON.stringify(lines));
    assert.match(system[0]!.message, new RegExp(`^START RequestId: ${id} `));
    assert.match(system[1]!.message, new RegExp(`^END RequestId: ${id}$`));
    assert.match(system[2]!.message, new RegExp(`^REPORT RequestId: ${id}\\t.*Memory Size: 128 MB`));
    const forged = lines.filter((l) => l.message.includes('00000000-0000-0000-0000-000000000000'));
    assert.equal(forged.length, 2);
    assert.ok(
      forged.every((l) => l.stream === 'stdout'),
      'what the function printed stays its own output',
    );
  });

  it("gives no call another call's client context or trace id", async () => {
    const custom = Buffer.from(JSON.stringify({ custom: { secret: 'caller-one' } })).toString('base64');
    const first = await nimbus.request('POST', '/v1/functions/forger/invoke', {
      json: {},
      headers: {
        'x-amz-client-context': custom,
        'x-amzn-trace-id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
      },
    });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body.clientContext.custom, { secret: 'caller-one' });
    const second = await nimbus.invoke('forger', {});
    assert.equal(second.status, 200, second.text);
    assert.equal(
      (await nimbus.executionOf(second)).instanceId,
      (await nimbus.executionOf(first)).instanceId,
      'the same warm instance served both',
    );
    assert.equal(second.body.clientContext, null);
    assert.notEqual(second.body.trace, first.body.trace);
    assert.match(second.body.trace, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
  });

  it('refuses oversized or malformed call-context headers before running anything', async () => {
    const before = (await nimbus.request('GET', '/v1/executions?function=forger')).body;
    const bad: Record<string, string>[] = [
      { 'x-amz-client-context': 'A'.repeat(5000) },
      { 'x-amz-client-context': Buffer.from('[1,2]').toString('base64') },
      { 'x-amz-client-context': '!!not base64!!' },
      { 'x-amzn-trace-id': `Root=${'x'.repeat(2000)}` },
      { 'x-amzn-trace-id': 'Root=1-\u00e9' },
    ];
    for (const headers of bad) {
      const res = await nimbus.request('POST', '/v1/functions/forger/invoke', { json: {}, headers });
      assert.equal(res.status, 400, `${JSON.stringify(headers).slice(0, 80)}: ${res.text}`);
      assert.match(res.body.error.message, /X-Amz-Client-Context|X-Amzn-Trace-Id/);
    }
    const afterwards = (await nimbus.request('GET', '/v1/executions?function=forger')).body;
    assert.deepEqual(afterwards, before, 'no execution was recorded for a refused call');
  });
});
