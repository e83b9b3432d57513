/**
 * The AsyncQueue contract: behaviour every queue adapter must show (depth limit, claims with
 * leases, renewals, reschedules, dead letters and their replay). Adapters are registered in
 * test/store-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AsyncQueue } from '../../src/core/ports.js';
import { at, letterOf, queued, rejectsWithCode } from './records.js';
import type { StoreAdapter } from './store-adapter.js';

/** Runs the AsyncQueue contract against one adapter; each test gets the queue of a fresh, migrated store. */
export function asyncQueueContract(adapter: StoreAdapter): void {
  describe(`AsyncQueue contract: ${adapter.name}`, () => {
    async function withQueue(body: (queue: AsyncQueue) => Promise<void>): Promise<void> {
      const store = await adapter.create();
      await store.migrate();
      try {
        await body(store.asyncQueue());
      } finally {
        await store.close();
      }
    }
    const now = new Date(at(10));

    test('a call keeps its qualifier through get, claim and the dead-letter list', () =>
      withQueue(async (queue) => {
        const call = queued('qa', at(1), { qualifier: 'production' });
        await queue.enqueue(call, 10);
        await queue.enqueue(queued('qb', at(2)), 10);
        assert.deepEqual(await queue.get('qa'), call);
        assert.equal('qualifier' in ((await queue.get('qb')) ?? {}), false);
        const [claimed] = await queue.claim('me', 1, now, 60_000);
        assert.equal(claimed?.qualifier, 'production');
        const letter = letterOf(call, at(3), { qualifier: 'production' });
        await queue.deadLetter(letter);
        assert.deepEqual(await queue.getDeadLetter('qa'), letter);
      }));

    test("a call keeps its caller's trace id through get and claim", () =>
      withQueue(async (queue) => {
        const trace = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
        const call = queued('qt', at(1), { trace });
        await queue.enqueue(call, 10);
        await queue.enqueue(queued('qu', at(2)), 10);
        assert.deepEqual(await queue.get('qt'), call);
        assert.equal('trace' in ((await queue.get('qu')) ?? {}), false);
        const [claimed] = await queue.claim('me', 1, now, 60_000);
        assert.equal(claimed?.trace, trace);
      }));

    test('enqueue refuses past the bound with TOO_MANY_REQUESTS and stores nothing', () =>
      withQueue(async (queue) => {
        await queue.enqueue(queued('a', at(0)), 2);
        await queue.enqueue(queued('b', at(0)), 2);
        await rejectsWithCode(queue.enqueue(queued('c', at(0)), 2), 'TOO_MANY_REQUESTS');
        assert.equal(await queue.count(), 2);
        assert.equal(await queue.get('c'), undefined);
        assert.deepEqual(await queue.get('a'), queued('a', at(0)));
      }));

    test('claim takes due calls oldest first, leases them to one owner, and skips calls not yet due', () =>
      withQueue(async (queue) => {
        await queue.enqueue(queued('late', at(20)), 10);
        await queue.enqueue(queued('second', at(2)), 10);
        await queue.enqueue(queued('first', at(1)), 10);
        const claimed = await queue.claim('one', 10, now, 3_600_000);
        assert.deepEqual(
          claimed.map((c) => c.id),
          ['first', 'second'],
        );
        assert.deepEqual(await queue.claim('two', 10, now, 60_000), [], 'leased calls are not claimed twice');
        const parallel = await Promise.all([
          queue.claim('x', 10, new Date(at(30)), 1000),
          queue.claim('y', 10, new Date(at(30)), 1000),
        ]);
        assert.deepEqual(
          parallel.flat().map((c) => c.id),
          ['late'],
          'concurrent claimers never share a call',
        );
        assert.deepEqual(
          (await queue.claim('three', 1, now, 60_000)).map((c) => c.id),
          [],
          'limit and leases hold',
        );
      }));

    test('an expired lease makes a call claimable again; renewing it and releasing all leases work', () =>
      withQueue(async (queue) => {
        await queue.enqueue(queued('a', at(0)), 10);
        await queue.enqueue(queued('b', at(0)), 10);
        await queue.claim('dead', 10, now, 60_000);
        await queue.renewLeases('dead', ['a'], new Date(now.getTime() + 10 * 60_000));
        // Two minutes later: b's lease has run out, a's was renewed.
        const later = new Date(now.getTime() + 2 * 60_000);
        assert.deepEqual(
          (await queue.claim('alive', 10, later, 60_000)).map((c) => c.id),
          ['b'],
        );
        assert.equal(await queue.releaseAllLeases(), 2);
        assert.deepEqual((await queue.claim('restarted', 10, now, 60_000)).map((c) => c.id).sort(), [
          'a',
          'b',
        ]);
      }));

    test('reschedule returns a call with its attempts and error; complete removes it', () =>
      withQueue(async (queue) => {
        await queue.enqueue(queued('a', at(0)), 10);
        await queue.claim('o', 10, now, 60_000);
        const error = { type: 'Error', message: 'boom', stack: 'at x' };
        await queue.reschedule('a', 1, new Date(at(15)), error);
        assert.deepEqual(await queue.claim('o', 10, now, 60_000), [], 'not due before runAfter');
        const [again] = await queue.claim('o', 10, new Date(at(15)), 60_000);
        assert.deepEqual(again, queued('a', at(0), { attempts: 2, runAfter: at(15), lastError: error }));
        await queue.complete('a');
        assert.equal(await queue.count(), 0);
      }));

    test('deadLetter moves a call to the list; list pages newest first; replay is recorded; delete removes', () =>
      withQueue(async (queue) => {
        const calls = ['a', 'b', 'c'].map((id, i) =>
          queued(id, at(i), { functionName: i === 2 ? 'g' : 'f' }),
        );
        for (const c of calls) await queue.enqueue(c, 10);
        for (const [i, c] of calls.entries()) await queue.deadLetter(letterOf(c, at(5 + i)));
        assert.equal(await queue.count(), 0);
        await queue.deadLetter(letterOf(calls[0]!, at(9), { condition: 'EventAgeExceeded' }));
        assert.equal(
          (await queue.getDeadLetter('a'))?.condition,
          'RetriesExhausted',
          'the first letter stays',
        );

        assert.deepEqual(
          (await queue.listDeadLetters({ limit: 10 })).map((d) => d.id),
          ['c', 'b', 'a'],
        );
        assert.deepEqual(
          (await queue.listDeadLetters({ functionName: 'f', limit: 10 })).map((d) => d.id),
          ['b', 'a'],
        );
        assert.deepEqual(
          (await queue.listDeadLetters({ limit: 1, before: at(6) })).map((d) => d.id),
          ['a'],
        );
        assert.deepEqual(await queue.getDeadLetter('b'), letterOf(calls[1]!, at(6)));

        assert.equal(await queue.markReplayed('b', 'new-exec', new Date(at(30))), true);
        const replayed = await queue.getDeadLetter('b');
        assert.equal(replayed?.replayExecutionId, 'new-exec');
        assert.equal(replayed?.replayedAt, at(30));
        assert.equal(await queue.markReplayed('nope', 'x', new Date()), false);

        assert.equal(await queue.deleteDeadLetter('b'), true);
        assert.equal(await queue.deleteDeadLetter('b'), false);
        assert.equal(await queue.getDeadLetter('b'), undefined);
      }));
  });
}
