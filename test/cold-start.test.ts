/**
 * Cold starts send a function's first calls right behind its init (one round trip fewer). These
 * tests pin down what must not change with that: a failed init fails the calls that came with it
 * (and the next call starts afresh), init time is not taken from a call's timeout, and several
 * calls that arrive together at a new instance are each served once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/harness.js';

const RUNTIMES = [
  { runtime: 'nodejs', fixture: 'node-init', handler: 'index.handler' },
  { runtime: 'python3', fixture: 'python-init', handler: 'main.handler' },
] as const;

for (const { runtime, fixture, handler } of RUNTIMES) {
  describe(`first calls sent with their init (${runtime})`, () => {
    let nimbus: TestServer;
    before(async () => {
      nimbus = await startTestServer({});
      await nimbus.deploy(`${runtime}-broken`, fixture, runtime, handler, { env: { INIT_MODE: 'throw' } });
      await nimbus.deploy(`${runtime}-exits`, fixture, runtime, handler, { env: { INIT_MODE: 'exit' } });
      await nimbus.deploy(`${runtime}-ok`, fixture, runtime, handler);
      await nimbus.deploy(`${runtime}-slow`, fixture, runtime, handler, {
        env: { INIT_MODE: 'slow' },
        timeoutSec: 1,
      });
      await nimbus.deploy(`${runtime}-wide`, fixture, runtime, handler, { concurrency: 4 });
    });
    after(() => nimbus.close());

    it('fails the first call with the init error, and the next call tries a new instance', async () => {
      for (let attempt = 0; attempt < 2; attempt++) {
        const res = await nimbus.invoke(`${runtime}-broken`, {});
        assert.equal(res.status, 502, res.text);
        assert.equal(res.body.error.code, 'FUNCTION_CRASHED');
        assert.match(res.body.error.message, /cannot load: missing configuration/);
        const rec = await nimbus.executionOf(res);
        assert.equal(rec.status, 'failed');
        assert.equal(rec.outcome, 'developer_error');
        assert.equal(rec.coldStart, true);
      }
      const stats = (await nimbus.request('GET', '/v1/stats')).body;
      assert.equal(stats.functions?.[`${runtime}-broken`]?.instances ?? 0, 0, 'no broken instance is kept');
    });

    it('fails the first call with a crash when the process exits during init', async () => {
      const res = await nimbus.invoke(`${runtime}-exits`, {});
      assert.equal(res.status, 502, res.text);
      assert.equal(res.body.error.code, 'FUNCTION_CRASHED');
      assert.match(res.body.error.message, /exited with code 3/);
      assert.equal((await nimbus.executionOf(res)).status, 'failed');
      const healthy = await nimbus.invoke(`${runtime}-ok`, {});
      assert.equal(healthy.status, 200, 'other functions are served throughout');
    });

    it('does not count init time against the first call’s timeout', async () => {
      // Init takes 1.5 s and the timeout is 1 s: the call still has (nearly) all of its second.
      const res = await nimbus.invoke(`${runtime}-slow`, {});
      assert.equal(res.status, 200, res.text);
      assert.ok(
        res.body.remainingMs > 500,
        `remaining time counts from the call (${res.body.remainingMs} ms)`,
      );
      assert.equal((await nimbus.executionOf(res)).coldStart, true);
      const warm = await nimbus.invoke(`${runtime}-slow`, { waitMs: 1500 });
      assert.equal(warm.status, 504, 'the timeout itself still applies');
    });

    it('serves calls that arrive together at a new instance once each', async () => {
      const calls = await Promise.all(
        Array.from({ length: 4 }, () => nimbus.invoke(`${runtime}-wide`, { waitMs: 300 })),
      );
      for (const res of calls) assert.equal(res.status, 200, res.text);
      // However many instances served them, each instance counted its calls 1, 2, … once each.
      const byInstance = new Map<string, number[]>();
      for (const res of calls) {
        byInstance.set(res.body.instance, [...(byInstance.get(res.body.instance) ?? []), res.body.call]);
      }
      for (const [instance, seen] of byInstance) {
        const expected = Array.from({ length: seen.length }, (_, i) => i + 1);
        assert.deepEqual(
          seen.sort((a, b) => a - b),
          expected,
          `instance ${instance} ran each call once`,
        );
      }
      const records = await Promise.all(calls.map((res) => nimbus.executionOf(res)));
      assert.ok(records.every((rec) => rec.status === 'succeeded'));
      assert.ok(
        records.some((rec) => rec.coldStart === true),
        'the first calls were cold starts',
      );
    });
  });
}
