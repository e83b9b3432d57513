/**
 * Functions that fail in every way a function can: errors, timeouts, exits, segfaults, memory
 * exhaustion, fork bombs. Each is recorded with the right status and reason, the instance is
 * replaced, and other functions keep being served.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SANDBOXES, startTestServer, type TestServer } from './helpers/harness.js';

for (const sandbox of SANDBOXES) {
  describe(`failing functions (${sandbox} sandbox)`, () => {
    let nimbus: TestServer;
    before(async () => {
      nimbus = await startTestServer({ sandbox });
      // A loaded machine may take seconds to fill a heap or build a big result: only the timeout
      // tests use functions with a 1 s timeout.
      await nimbus.deploy('py-bad', 'python-hostile', 'python3', 'main.handler', { timeoutSec: 30 });
      await nimbus.deploy('node-bad', 'node-hostile', 'nodejs', 'index.handler', { timeoutSec: 30 });
      await nimbus.deploy('py-slow', 'python-hostile', 'python3', 'main.handler', { timeoutSec: 1 });
      await nimbus.deploy('node-slow', 'node-hostile', 'nodejs', 'index.handler', { timeoutSec: 1 });
      await nimbus.deploy('py-good', 'python-lambda', 'python3', 'main.handler');
    });
    after(() => nimbus.close());

    async function record(res: { headers: Headers }) {
      const id = res.headers.get('x-nimbus-execution-id');
      assert.ok(id, 'every invocation answers with its execution id');
      return (await nimbus.request('GET', `/v1/executions/${id}`)).body;
    }

    it('returns a Python exception as a structured error with a stack', async () => {
      const res = await nimbus.invoke('py-bad', { action: 'raise', value: 42 });
      assert.equal(res.status, 502);
      assert.equal(res.body.error.code, 'FUNCTION_ERROR');
      assert.equal(res.body.error.type, 'ValueError');
      assert.match(res.body.error.message, /bad value: 42/);
      assert.match(res.body.error.stack, /Traceback[\s\S]*main\.py/);
      const rec = await record(res);
      assert.equal(rec.status, 'failed');
      assert.equal(rec.outcome, 'function_error');
      assert.equal(rec.error.type, 'ValueError');
    });

    it('returns a Node exception as a structured error and keeps the instance', async () => {
      const res = await nimbus.invoke('node-bad', { action: 'throw', value: 7 });
      assert.equal(res.status, 502);
      assert.equal(res.body.error.type, 'RangeError');
      assert.match(res.body.error.stack, /index\.js/);
      const next = await nimbus.invoke('node-bad', { hello: 1 });
      assert.equal(next.status, 200);
      assert.equal((await record(next)).coldStart, false, 'a function error does not cost the warm instance');
    });

    it('kills a function at its timeout and records `timeout`', async () => {
      const started = Date.now();
      const res = await nimbus.invoke('py-slow', { action: 'sleep', seconds: 30 });
      const elapsed = Date.now() - started;
      assert.equal(res.status, 504);
      assert.equal(res.body.error.code, 'FUNCTION_TIMEOUT');
      assert.ok(elapsed < 5000, `the caller hears right after the 1 s timeout (took ${elapsed} ms)`);
      const rec = await record(res);
      assert.equal(rec.status, 'timeout');
      assert.equal(rec.outcome, 'developer_error');
      const after = await nimbus.invoke('py-slow', { ok: true });
      assert.equal(after.status, 200);
      assert.equal((await record(after)).coldStart, true, 'the timed-out instance was replaced');
    });

    it('times out a Node function too', async () => {
      const res = await nimbus.invoke('node-slow', { action: 'sleep', seconds: 30 });
      assert.equal(res.status, 504);
      assert.equal((await record(res)).status, 'timeout');
    });

    it('records a process exit as a crash with its exit code and output', async () => {
      const res = await nimbus.invoke('py-bad', { action: 'exit' });
      assert.equal(res.status, 502);
      assert.equal(res.body.error.code, 'FUNCTION_CRASHED');
      assert.match(res.body.error.message, /exited with code 3/);
      const rec = await record(res);
      assert.equal(rec.status, 'failed');
      assert.equal(rec.outcome, 'developer_error');
      const node = await nimbus.invoke('node-bad', { action: 'exit' });
      assert.equal(node.status, 502);
      assert.match(node.body.error.message, /exited with code 4/);
    });

    it('records a segfault', async () => {
      const res = await nimbus.invoke('py-bad', { action: 'segfault' });
      assert.equal(res.status, 502);
      assert.equal(res.body.error.type, 'Segfault');
      assert.match(res.body.error.message, /SIGSEGV/);
    });

    it('names running out of memory as such (Python, kernel-enforced limit)', async () => {
      const res = await nimbus.invoke('py-bad', { action: 'oom' });
      assert.equal(res.status, 502, res.text);
      assert.equal(res.body.error.code, 'FUNCTION_OUT_OF_MEMORY');
      assert.match(res.body.error.message, /out of memory/);
      const rec = await record(res);
      assert.equal(rec.error.type, 'OutOfMemory');
    });

    it('names running out of memory as such (Node)', async () => {
      const res = await nimbus.invoke('node-bad', { action: 'oom' });
      assert.equal(res.status, 502, res.text);
      assert.equal(res.body.error.type, 'OutOfMemory');
    });

    it('fails every in-flight call on an uncaught exception outside the handler, then recovers', async () => {
      const res = await nimbus.invoke('node-bad', { action: 'unhandled' });
      assert.equal(res.status, 502);
      assert.match(res.body.error.message, /thrown outside the promise chain/);
      const next = await nimbus.invoke('node-bad', { fine: true });
      assert.equal(next.status, 200);
    });

    it('caps the number of processes a function may start', async () => {
      const res = await nimbus.invoke('py-bad', { action: 'fork' });
      assert.equal(res.status, 200, res.text);
      assert.ok(res.body.forked < 500, `fork bomb was stopped (forked ${res.body.forked})`);
      assert.match(res.body.error, /Resource temporarily unavailable|BlockingIOError|Errno 11/);
    });

    it('reports a result that is not JSON', async () => {
      const res = await nimbus.invoke('node-bad', { action: 'circular' });
      assert.equal(res.status, 502);
      assert.equal(res.body.error.type, 'MarshalError');
    });

    it('rejects a result over 6 MB with 502 PAYLOAD_TOO_LARGE', async () => {
      const res = await nimbus.invoke('node-bad', { action: 'big', bytes: 7 * 1024 * 1024 });
      assert.equal(res.status, 502, 'the function, not the request, is at fault');
      assert.match(res.body.error.message, /limit/);
    });

    it('keeps serving other functions throughout', async () => {
      const res = await nimbus.invoke('py-good', { name: 'still here' });
      assert.equal(res.status, 200);
      assert.equal(res.body.greeting, 'Hello, still here!');
    });
  });
}
