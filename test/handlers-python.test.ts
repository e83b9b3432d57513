/** Python handler styles against the real server and real sandboxes. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SANDBOXES, startTestServer, type TestServer } from './helpers/harness.js';

for (const sandbox of SANDBOXES) {
  describe(`python3 functions (${sandbox} sandbox)`, () => {
    let nimbus: TestServer;
    before(async () => {
      nimbus = await startTestServer({ sandbox });
      await nimbus.deploy('py-lambda', 'python-lambda', 'python3', 'main.handler', {
        env: { GREETING_STYLE: 'warm' },
      });
      await nimbus.deploy('py-qinling', 'python-qinling', 'python3', 'hello_world.main');
      await nimbus.deploy('py-context', 'python-qinling', 'python3', 'hello_world.with_context');
      await nimbus.deploy('py-noargs', 'python-qinling', 'python3', 'hello_world.no_args');
    });
    after(() => nimbus.close());

    it('runs a Lambda-style handler(event, context) with a full context', async () => {
      const res = await nimbus.invoke('py-lambda', { name: 'Ada' });
      assert.equal(res.status, 200, res.text);
      const executionId = res.headers.get('x-nimbus-execution-id');
      assert.ok(executionId);
      assert.equal(res.body.greeting, 'Hello, Ada!');
      assert.equal(res.body.requestId, executionId);
      assert.equal(res.body.functionName, 'py-lambda');
      // A string, as Lambda's Python runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
      assert.equal(res.body.memoryLimitInMB, '128');
      assert.equal(res.body.remainingPositive, true);
      assert.equal(res.body.env, 'warm');
      assert.notEqual(res.body.uid, 0, 'functions never run as root');
    });

    it('runs Qinling-style main(name=..., **kwargs) with event keys as keyword arguments', async () => {
      const named = await nimbus.invoke('py-qinling', { name: 'Ada', extra: 1 });
      assert.equal(named.status, 200, named.text);
      assert.equal(named.body, 'Hello, Ada');
      const defaulted = await nimbus.invoke('py-qinling', {});
      assert.equal(defaulted.body, 'Hello, World');
    });

    it('passes the context to a Qinling handler that names a context parameter', async () => {
      const res = await nimbus.invoke('py-context', { container_name: 'images', object_name: 'cat.jpg' });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { container: 'images', object: 'cat.jpg', function: 'py-context' });
    });

    it('calls a handler without parameters', async () => {
      const res = await nimbus.invoke('py-noargs', { ignored: true });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body, 42);
    });

    it('reuses the warm instance for the next call', async () => {
      await nimbus.invoke('py-lambda', { name: 'one' });
      const second = await nimbus.invoke('py-lambda', { name: 'two' });
      const record = await nimbus.request(
        'GET',
        `/v1/executions/${second.headers.get('x-nimbus-execution-id')}`,
      );
      assert.equal(record.body.coldStart, false);
      assert.equal(record.body.status, 'succeeded');
    });
  });
}
