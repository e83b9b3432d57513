/** Node.js handler styles (CommonJS, ESM, callback, TypeScript) against the real server and sandboxes. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SANDBOXES, startTestServer, type TestServer } from './helpers/harness.js';

for (const sandbox of SANDBOXES) {
  describe(`nodejs functions (${sandbox} sandbox)`, () => {
    let nimbus: TestServer;
    before(async () => {
      nimbus = await startTestServer({ sandbox });
      await nimbus.deploy('node-cjs', 'node-cjs', 'nodejs', 'index.handler', { memoryMb: 256 });
      await nimbus.deploy('node-esm', 'node-esm', 'nodejs', 'index.handler');
      await nimbus.deploy('node-esm-await', 'node-esm-await', 'nodejs', 'index.handler');
      await nimbus.deploy('node-callback', 'node-callback', 'nodejs', 'index.handler');
      await nimbus.deploy('node-ts', 'node-ts', 'nodejs', 'index.handler');
    });
    after(() => nimbus.close());

    it('runs a CommonJS async handler with a Lambda context', async () => {
      const res = await nimbus.invoke('node-cjs', { name: 'Ada' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.greeting, 'Hello, Ada!');
      assert.equal(res.body.requestId, res.headers.get('x-nimbus-execution-id'));
      assert.equal(res.body.functionName, 'node-cjs');
      assert.equal(res.body.memoryLimitInMB, '256');
      assert.equal(res.body.remainingPositive, true);
      assert.notEqual(res.body.uid, 0, 'functions never run as root');
    });

    it('runs an ES module handler', async () => {
      const res = await nimbus.invoke('node-esm', { a: 2, b: 3 });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.style, 'esm');
      assert.equal(res.body.sum, 5);
    });

    it('runs an ES module with top-level await, evaluated once, with no platform globals', async () => {
      const res = await nimbus.invoke('node-esm-await', {});
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { greeting: 'awaited', evaluations: 1, gcExposed: false });
    });

    it("runs Lambda's callback style, for results and errors", async () => {
      const ok = await nimbus.invoke('node-callback', { value: 7 });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.body, { style: 'callback', value: 7 });
      const failed = await nimbus.invoke('node-callback', { fail: true });
      assert.equal(failed.status, 502);
      assert.equal(failed.body.error.code, 'FUNCTION_ERROR');
      assert.equal(failed.body.error.type, 'TypeError');
      assert.match(failed.body.error.message, /asked to fail/);
    });

    it('compiles a TypeScript handler at deploy time despite a type error', async () => {
      const res = await nimbus.invoke('node-ts', { name: 'ada' });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { message: 'ADA!', typed: true });
    });
  });
}
