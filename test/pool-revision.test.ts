/**
 * The queue of one function revision: a call waiting for an instance that is on its way is not
 * throttled however long the start takes (under load a sandbox start can outlast the queue
 * timeout); a call no starting instance will serve is, after the queue timeout.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { FunctionRecord } from '../src/core/function.js';
import type { PreparedCode } from '../src/engine/code/code-cache.js';
import { PoolRevision } from '../src/engine/invocation/pool-revision.js';

const fn = { name: 'slow-start', concurrency: 1, maxInstances: 1 } as FunctionRecord;
const code = {} as PreparedCode;

describe('waiting calls of a revision', () => {
  it('throttles only the calls no starting instance will serve', async () => {
    const revision = new PoolRevision('slow-start:1', fn, code);
    revision.starting = 1;
    let throttled = 0;
    const wait = () =>
      revision.wait(
        () => undefined,
        50,
        () => undefined,
        () => throttled++,
      );
    const served = wait();
    const beyond = wait();
    await assert.rejects(beyond, /TOO_MANY_REQUESTS|at its limit/);
    assert.equal(throttled, 1, 'the second call: one instance of concurrency 1 is starting');
    await sleep(200); // four queue timeouts: the start is slow
    assert.equal(throttled, 1, 'the first call still waits for its instance');
    revision.starting = 0; // the start gave up without failing the call
    await assert.rejects(served, /at its limit/);
    assert.equal(throttled, 2);
  });
});
