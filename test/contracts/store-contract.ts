/**
 * The Store contract: behaviour every Store adapter must show (functions, versions, aliases,
 * triggers, executions, logs, retention). Tests never depend on one another's data: each gets a
 * fresh store. Adapters are registered in test/store-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NimbusError } from '../../src/core/errors.js';
import type { Execution, LogLine } from '../../src/core/execution.js';
import type { Store } from '../../src/core/ports.js';
import {
  aliasRecord,
  at,
  execution,
  fnRecord,
  logLine,
  rejectsWithCode,
  triggerRecord,
  versionRecord,
} from './records.js';
import type { StoreAdapter } from './store-adapter.js';

/** Runs the Store contract against one adapter; each test gets a fresh, migrated store. */
export function storeContract(adapter: StoreAdapter): void {
  const { reopen } = adapter;
  describe(`Store contract: ${adapter.name}`, () => {
    async function withStore(body: (store: Store) => Promise<void>): Promise<void> {
      const store = await adapter.create();
      await store.migrate();
      try {
        await body(store);
      } finally {
        await store.close();
      }
    }

    test('triggers: create, read, list by function and type, update, delete, delete all of a function', () =>
      withStore(async (store) => {
        const http = triggerRecord('trg-a', 'fa', {
          type: 'http',
          auth: 'key',
          style: 'lambda',
          methods: ['GET'],
          host: null,
          cors: null,
          qualifier: null,
        });
        const timer = triggerRecord('trg-b', 'fa', {
          type: 'timer',
          schedule: 'rate(5 minutes)',
          timezone: 'UTC',
          payload: { n: 1, nested: ['x'] },
          missedTicks: 'skip',
          qualifier: 'production',
        });
        const other = triggerRecord('trg-c', 'fb', {
          type: 'timer',
          schedule: '@every 1m',
          timezone: 'UTC',
          payload: null,
          missedTicks: 'fire_once',
          qualifier: null,
        });
        for (const t of [http, timer, other]) await store.createTrigger(t);
        assert.deepEqual(await store.getTrigger('trg-b'), timer);
        assert.deepEqual(
          (await store.listTriggers({ functionName: 'fa' })).map((t) => t.id),
          ['trg-a', 'trg-b'],
        );
        assert.deepEqual(
          (await store.listTriggers({ type: 'timer' })).map((t) => t.id),
          ['trg-b', 'trg-c'],
        );
        assert.equal((await store.listTriggers()).length, 3);
        assert.equal(await store.updateTrigger({ ...http, enabled: false, secret: 'new' }), true);
        assert.equal((await store.getTrigger('trg-a'))?.enabled, false);
        assert.equal((await store.getTrigger('trg-a'))?.secret, 'new');
        assert.equal(await store.updateTrigger({ ...http, id: 'trg-missing' }), false);
        assert.equal(await store.deleteTrigger('trg-c'), true);
        assert.equal(await store.deleteTrigger('trg-c'), false);
        assert.equal(await store.deleteTriggersOf('fa'), 2);
        assert.deepEqual(await store.listTriggers(), []);
      }));

    test('a timer tick is claimed once, and never after a later one', () =>
      withStore(async (store) => {
        await store.createTrigger(
          triggerRecord('trg-t', 'fa', {
            type: 'timer',
            schedule: '@every 1m',
            timezone: 'UTC',
            payload: {},
            missedTicks: 'fire_once',
            qualifier: null,
          }),
        );
        const tick = '2030-01-01T00:01:00.000Z';
        const claims = await Promise.all([
          store.claimTimerTick('trg-t', tick),
          store.claimTimerTick('trg-t', tick),
        ]);
        assert.deepEqual(claims.sort(), [false, true]);
        assert.equal(await store.claimTimerTick('trg-t', '2030-01-01T00:00:00.000Z'), false);
        assert.equal(await store.claimTimerTick('trg-t', '2030-01-01T00:02:00.000Z'), true);
        assert.equal((await store.getTrigger('trg-t'))?.lastTick, '2030-01-01T00:02:00.000Z');
        assert.equal(await store.claimTimerTick('trg-none', tick), false);
      }));

    test('migrate is idempotent', () =>
      withStore(async (store) => {
        await store.migrate();
        await store.createFunction(fnRecord('after-remigrate'));
        await store.migrate();
        assert.equal((await store.listFunctions()).length, 1);
      }));

    test('createFunction stores the record exactly; a duplicate name is FUNCTION_EXISTS', () =>
      withStore(async (store) => {
        const fn = fnRecord('hello', { runtime: 'nodejs', handler: 'index.handler', memoryMb: 512 });
        await store.createFunction(fn);
        assert.deepEqual(await store.getFunction('hello'), fn);
        assert.equal(await store.getFunction('missing'), undefined);

        await rejectsWithCode(store.createFunction(fnRecord('hello', { memoryMb: 256 })), 'FUNCTION_EXISTS');
        await assert.rejects(store.createFunction(fnRecord('hello')), /already exists/);
        assert.deepEqual(
          await store.getFunction('hello'),
          fn,
          'the failed create must not change the record',
        );
      }));

    test('concurrent creates of one name: exactly one wins', () =>
      withStore(async (store) => {
        const results = await Promise.allSettled(
          Array.from({ length: 5 }, (_, i) => store.createFunction(fnRecord('race', { memoryMb: 128 + i }))),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) {
          if (r.status === 'rejected') assert.equal((r.reason as NimbusError).code, 'FUNCTION_EXISTS');
        }
      }));

    test('updateFunction replaces the record; a missing function is FUNCTION_NOT_FOUND', () =>
      withStore(async (store) => {
        await store.createFunction(fnRecord('hello'));
        const updated = fnRecord('hello', {
          memoryMb: 1024,
          timeoutSec: 60,
          env: { NEW: 'value' },
          description: '',
          codeSha256: 'b'.repeat(64),
          codeSize: 99,
          updatedAt: '2024-02-01T00:00:00.000Z',
        });
        await store.updateFunction(updated);
        assert.deepEqual(await store.getFunction('hello'), updated);

        await rejectsWithCode(store.updateFunction(fnRecord('ghost')), 'FUNCTION_NOT_FOUND');
        assert.equal(await store.getFunction('ghost'), undefined, 'update must not create');
      }));

    test('listFunctions is sorted by name', () =>
      withStore(async (store) => {
        assert.deepEqual(await store.listFunctions(), []);
        for (const n of ['charlie', 'alpha', 'bravo']) await store.createFunction(fnRecord(n));
        assert.deepEqual(
          (await store.listFunctions()).map((f) => f.name),
          ['alpha', 'bravo', 'charlie'],
        );
      }));

    test('deleteFunction returns whether it existed; executions and logs stay readable', () =>
      withStore(async (store) => {
        await store.createFunction(fnRecord('doomed'));
        await store.createFunction(fnRecord('kept'));
        const e = execution('e1', 'doomed', at(0));
        await store.writeBatch([e], [logLine('e1', 'doomed', 0, at(0))]);

        assert.equal(await store.deleteFunction('doomed'), true);
        assert.equal(await store.deleteFunction('doomed'), false);
        assert.equal(await store.deleteFunction('never-was'), false);
        assert.equal(await store.getFunction('doomed'), undefined);
        assert.deepEqual(
          (await store.listFunctions()).map((f) => f.name),
          ['kept'],
        );

        assert.deepEqual(await store.getExecution('e1'), e);
        assert.deepEqual(await store.listExecutions({ functionName: 'doomed', limit: 10 }), [e]);
        assert.equal((await store.getLogs('e1')).length, 1);
        assert.equal((await store.getFunctionLogs('doomed', 10)).length, 1);

        // The name is free again, and the old executions are still there.
        await store.createFunction(fnRecord('doomed'));
        assert.deepEqual(await store.getExecution('e1'), e);
      }));

    test('writeBatch round-trips every execution field', () =>
      withStore(async (store) => {
        const failed = execution('e-fail', 'f', at(1), {
          trigger: 'http',
          status: 'failed',
          outcome: 'function_error',
          durationMs: 0,
          coldStart: true,
          input: null,
          inputTruncated: true,
          output: null,
          outputTruncated: true,
          error: { type: 'ValueError', message: "bad 'x'", stack: 'Traceback...\n  line 1' },
          instanceId: null,
          callDurationMs: 0.01,
          initDurationMs: 150.22,
          maxMemoryUsedMb: null,
          memorySizeMb: 3008,
        });
        const running = execution('e-run', 'f', at(2), {
          status: 'running',
          outcome: null,
          durationMs: null,
          output: null,
        });
        await store.writeBatch([failed, running], []);
        assert.deepEqual(await store.getExecution('e-fail'), failed);
        assert.deepEqual(await store.getExecution('e-run'), running);
        assert.equal(await store.getExecution('nope'), undefined);
      }));

    test('writeBatch upserts: a running record is replaced by its finished one', () =>
      withStore(async (store) => {
        const running = execution('e1', 'f', at(0), {
          status: 'running',
          outcome: null,
          durationMs: null,
          output: null,
        });
        await store.writeBatch([running], [logLine('e1', 'f', 0, at(0))]);
        assert.deepEqual(await store.getExecution('e1'), running);

        const done = execution('e1', 'f', at(0), { durationMs: 250, output: '{"ok":true}' });
        await store.writeBatch([done], [logLine('e1', 'f', 1, at(0))]);
        assert.deepEqual(await store.getExecution('e1'), done);
        assert.equal((await store.listExecutions({ limit: 10 })).length, 1);

        // Both states in one batch: the last one wins.
        const r2 = execution('e2', 'f', at(1), { status: 'running', outcome: null });
        const d2 = execution('e2', 'f', at(1), { status: 'timeout', outcome: 'developer_error' });
        await store.writeBatch([r2, d2], []);
        assert.deepEqual(await store.getExecution('e2'), d2);

        // An empty batch is a no-op.
        await store.writeBatch([], []);
      }));

    test('writeBatch is atomic: a failing batch stores nothing', () =>
      withStore(async (store) => {
        // The executions statement succeeds; the logs statement after it fails on a NOT NULL column.
        const bad = { ...logLine('e-ok', 'f', 1, at(0)), message: null } as unknown as LogLine;
        await assert.rejects(
          store.writeBatch([execution('e-ok', 'f', at(0))], [logLine('e-ok', 'f', 0, at(0)), bad]),
        );
        assert.equal(await store.getExecution('e-ok'), undefined);
        assert.deepEqual(await store.getLogs('e-ok'), []);
      }));

    test('getLogs returns lines in seq order, after afterSeq when given', () =>
      withStore(async (store) => {
        await store.writeBatch(
          [execution('e1', 'f', at(0))],
          [logLine('e1', 'f', 2, at(0)), logLine('e1', 'f', 0, at(0)), logLine('e1', 'f', 1, at(0))],
        );
        await store.writeBatch(
          [],
          [{ ...logLine('e1', 'f', 3, at(1)), stream: 'stderr', message: 'oops ✗' }],
        );
        // Lines of another execution must not leak in.
        await store.writeBatch([execution('e2', 'f', at(0))], [logLine('e2', 'f', 0, at(0))]);

        const all = await store.getLogs('e1');
        assert.deepEqual(
          all.map((l) => l.seq),
          [0, 1, 2, 3],
        );
        assert.deepEqual(all[3], {
          executionId: 'e1',
          functionName: 'f',
          seq: 3,
          time: at(1),
          stream: 'stderr',
          message: 'oops ✗',
        });
        assert.deepEqual(
          (await store.getLogs('e1', 0)).map((l) => l.seq),
          [1, 2, 3],
        );
        assert.deepEqual(
          (await store.getLogs('e1', 1)).map((l) => l.seq),
          [2, 3],
        );
        assert.deepEqual(await store.getLogs('e1', 3), []);
        assert.deepEqual(await store.getLogs('unknown'), []);
      }));

    test('writeBatch tolerates log lines it has already stored (a retried batch)', () =>
      withStore(async (store) => {
        const batch: [Execution[], LogLine[]] = [
          [execution('e1', 'f', at(0))],
          [logLine('e1', 'f', 0, at(0))],
        ];
        await store.writeBatch(...batch);
        await store.writeBatch(...batch);
        assert.equal((await store.getLogs('e1')).length, 1);
      }));

    test('writeBatch handles batches larger than one insert statement', () =>
      withStore(async (store) => {
        const execs = Array.from({ length: 1201 }, (_, i) => execution(`e${i}`, 'bulk', at(i)));
        const logs = Array.from({ length: 2501 }, (_, i) => logLine('e0', 'bulk', i, at(0)));
        await store.writeBatch(execs, logs);
        assert.equal((await store.listExecutions({ functionName: 'bulk', limit: 5000 })).length, 1201);
        const stored = await store.getLogs('e0');
        assert.equal(stored.length, 2501);
        assert.ok(stored.every((l, i) => l.seq === i));
      }));

    test('concurrent writeBatch calls all land', () =>
      withStore(async (store) => {
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.writeBatch([execution(`c${i}`, 'f', at(i))], [logLine(`c${i}`, 'f', 0, at(i))]),
          ),
        );
        assert.equal((await store.listExecutions({ limit: 100 })).length, 20);
        assert.equal((await store.getFunctionLogs('f', 100)).length, 20);
      }));

    test('getFunctionLogs returns the newest lines, oldest first', () =>
      withStore(async (store) => {
        await store.writeBatch(
          [execution('e1', 'f', at(0)), execution('e2', 'f', at(10)), execution('x1', 'other', at(20))],
          [
            logLine('e1', 'f', 0, at(0), 'a'),
            logLine('e1', 'f', 1, at(1), 'b'),
            logLine('e2', 'f', 0, at(10), 'c'),
            logLine('e2', 'f', 1, at(11), 'd'),
            logLine('e2', 'f', 2, at(11), 'e'),
            logLine('x1', 'other', 0, at(30), 'not mine'),
          ],
        );
        assert.deepEqual(
          (await store.getFunctionLogs('f', 3)).map((l) => l.message),
          ['c', 'd', 'e'],
        );
        assert.deepEqual(
          (await store.getFunctionLogs('f', 100)).map((l) => l.message),
          ['a', 'b', 'c', 'd', 'e'],
        );
        assert.deepEqual(await store.getFunctionLogs('f', 0), []);
        assert.deepEqual(await store.getFunctionLogs('nobody', 10), []);
      }));

    test('listExecutions: newest first, with function, status, before and limit filters', () =>
      withStore(async (store) => {
        await store.writeBatch(
          [
            execution('a1', 'a', at(1)),
            execution('a2', 'a', at(2), { status: 'failed', outcome: 'function_error' }),
            execution('b3', 'b', at(3)),
            execution('a4', 'a', at(4), { status: 'running', outcome: null }),
            execution('b5', 'b', at(5), { status: 'failed', outcome: 'developer_error' }),
          ],
          [],
        );
        const ids = async (q: Parameters<Store['listExecutions']>[0]) =>
          (await store.listExecutions(q)).map((e) => e.id);

        assert.deepEqual(await ids({ limit: 10 }), ['b5', 'a4', 'b3', 'a2', 'a1']);
        assert.deepEqual(await ids({ limit: 2 }), ['b5', 'a4']);
        assert.deepEqual(await ids({ limit: 0 }), []);
        assert.deepEqual(await ids({ limit: -1 }), [], 'a negative limit must not mean "everything"');
        assert.deepEqual(await ids({ functionName: 'a', limit: 10 }), ['a4', 'a2', 'a1']);
        assert.deepEqual(await ids({ status: 'failed', limit: 10 }), ['b5', 'a2']);
        assert.deepEqual(await ids({ functionName: 'a', status: 'failed', limit: 10 }), ['a2']);
        assert.deepEqual(await ids({ before: at(4), limit: 10 }), ['b3', 'a2', 'a1']);
        assert.deepEqual(await ids({ functionName: 'b', before: at(5), limit: 10 }), ['b3']);
        assert.deepEqual(
          await ids({ functionName: undefined, status: undefined, before: undefined, limit: 1 }),
          ['b5'],
        );
        assert.deepEqual(await ids({ functionName: 'nobody', limit: 10 }), []);
      }));

    test('failOrphanedExecutions fails only running executions', () =>
      withStore(async (store) => {
        const done = execution('done', 'f', at(0));
        await store.writeBatch(
          [
            execution('r1', 'f', at(1), { status: 'running', outcome: null, durationMs: null }),
            execution('r2', 'g', at(2), { status: 'running', outcome: null, durationMs: null }),
            done,
          ],
          [],
        );
        assert.equal(await store.failOrphanedExecutions('the server stopped during this execution'), 2);

        const r1 = await store.getExecution('r1');
        assert.equal(r1?.status, 'failed');
        assert.equal(r1?.outcome, 'platform_error');
        assert.deepEqual(r1?.error, {
          type: 'PlatformError',
          message: 'the server stopped during this execution',
        });
        assert.equal((await store.getExecution('r2'))?.status, 'failed');
        assert.deepEqual(await store.getExecution('done'), done);
        assert.deepEqual(await store.listExecutions({ status: 'running', limit: 10 }), []);

        assert.equal(await store.failOrphanedExecutions('again'), 0);
      }));

    test('pruneExecutions removes executions older than maxAgeMs, with their logs', () =>
      withStore(async (store) => {
        const now = new Date(at(100));
        await store.writeBatch(
          [execution('old1', 'f', at(10)), execution('old2', 'g', at(39)), execution('new1', 'f', at(41))],
          [logLine('old1', 'f', 0, at(10)), logLine('old2', 'g', 0, at(39)), logLine('new1', 'f', 0, at(41))],
        );
        const removed = await store.pruneExecutions({ maxAgeMs: 60 * 60_000, maxPerFunction: 1000 }, now);
        assert.equal(removed, 2);
        assert.equal(await store.getExecution('old1'), undefined);
        assert.equal(await store.getExecution('old2'), undefined);
        assert.deepEqual(await store.getLogs('old1'), []);
        assert.deepEqual(await store.getLogs('old2'), []);
        assert.ok(await store.getExecution('new1'));
        assert.equal((await store.getLogs('new1')).length, 1);
        assert.deepEqual(
          (await store.getFunctionLogs('f', 10)).map((l) => l.executionId),
          ['new1'],
        );

        assert.equal(await store.pruneExecutions({ maxAgeMs: 60 * 60_000, maxPerFunction: 1000 }, now), 0);
      }));

    test('pruneExecutions keeps only the newest maxPerFunction of each function, with their logs', () =>
      withStore(async (store) => {
        const now = new Date(at(100));
        const execs = [
          ...Array.from({ length: 5 }, (_, i) => execution(`f${i}`, 'f', at(50 + i))),
          ...Array.from({ length: 2 }, (_, i) => execution(`g${i}`, 'g', at(60 + i))),
        ];
        await store.writeBatch(
          execs,
          execs.map((e) => logLine(e.id, e.functionName, 0, e.startedAt)),
        );
        const removed = await store.pruneExecutions({ maxAgeMs: 24 * 60 * 60_000, maxPerFunction: 3 }, now);
        assert.equal(removed, 2);
        assert.deepEqual(
          (await store.listExecutions({ functionName: 'f', limit: 10 })).map((e) => e.id),
          ['f4', 'f3', 'f2'],
        );
        assert.deepEqual(
          (await store.listExecutions({ functionName: 'g', limit: 10 })).map((e) => e.id),
          ['g1', 'g0'],
        );
        assert.deepEqual(await store.getLogs('f0'), []);
        assert.deepEqual(await store.getLogs('f1'), []);
        assert.equal((await store.getLogs('f2')).length, 1);
      }));

    test('pruneExecutions applies both rules together and counts each execution once', () =>
      withStore(async (store) => {
        const now = new Date(at(100));
        // f: two too old, then three recent of which one is beyond the newest two.
        await store.writeBatch(
          [
            execution('old0', 'f', at(0)),
            execution('old1', 'f', at(1)),
            execution('r0', 'f', at(90)),
            execution('r1', 'f', at(91)),
            execution('r2', 'f', at(92)),
          ],
          [],
        );
        const removed = await store.pruneExecutions({ maxAgeMs: 30 * 60_000, maxPerFunction: 2 }, now);
        assert.equal(removed, 3);
        assert.deepEqual(
          (await store.listExecutions({ limit: 10 })).map((e) => e.id),
          ['r2', 'r1'],
        );
        // No limits at all is a no-op.
        assert.equal(await store.pruneExecutions({ maxAgeMs: Infinity, maxPerFunction: Infinity }, now), 0);
      }));

    if (reopen) {
      test('data survives close and reopen', async () => {
        const store = await adapter.create();
        await store.migrate();
        const fn = fnRecord('durable');
        const e = execution('e1', 'durable', at(0));
        const line = logLine('e1', 'durable', 0, at(0));
        await store.createFunction(fn);
        await store.writeBatch([e], [line]);
        await store.close();

        const again = await reopen(store);
        try {
          await again.migrate();
          assert.deepEqual(await again.getFunction('durable'), fn);
          assert.deepEqual(await again.getExecution('e1'), e);
          assert.deepEqual(await again.getLogs('e1'), [line]);
          await rejectsWithCode(again.createFunction(fn), 'FUNCTION_EXISTS');
        } finally {
          await again.close();
        }
      });
    }

    test('versions: numbered 1, 2, 3 per function, never reused after a delete, listed oldest first', () =>
      withStore(async (store) => {
        await store.createFunction(fnRecord('fv'));
        await store.createFunction(fnRecord('other'));
        const v1 = await store.publishVersion(versionRecord('fv', { description: 'one' }));
        assert.equal(v1.version, '1');
        assert.deepEqual(await store.getVersion('fv', '1'), v1);
        assert.equal((await store.publishVersion(versionRecord('fv'))).version, '2');
        assert.equal((await store.publishVersion(versionRecord('other'))).version, '1');
        assert.equal(await store.deleteVersion('fv', '2'), true);
        assert.equal(await store.deleteVersion('fv', '2'), false);
        assert.equal((await store.publishVersion(versionRecord('fv'))).version, '3');
        assert.deepEqual(
          (await store.listVersions('fv')).map((v) => v.version),
          ['1', '3'],
        );
        assert.equal(await store.getVersion('fv', '2'), undefined);
        assert.equal(await store.getVersion('fv', 'x'), undefined);
        await rejectsWithCode(store.publishVersion(versionRecord('ghost')), 'FUNCTION_NOT_FOUND');
        // The frozen configuration round-trips whole.
        assert.deepEqual((await store.getVersion('fv', '1'))?.config, versionRecord('fv').config);
      }));

    test('aliases: create, read, list by name, update, delete; versions they name must exist', () =>
      withStore(async (store) => {
        await store.createFunction(fnRecord('fa'));
        await store.publishVersion(versionRecord('fa'));
        await store.publishVersion(versionRecord('fa'));
        const prod = aliasRecord('fa', 'prod', '1', { version: '2', weight: 0.25 });
        await store.createAlias(prod);
        await store.createAlias(aliasRecord('fa', 'edge', '$LATEST', null));
        assert.deepEqual(await store.getAlias('fa', 'prod'), prod);
        await rejectsWithCode(store.createAlias(prod), 'ALIAS_EXISTS');
        await rejectsWithCode(store.createAlias(aliasRecord('fa', 'bad', '7', null)), 'VERSION_NOT_FOUND');
        await rejectsWithCode(
          store.createAlias(aliasRecord('fa', 'bad', '1', { version: '9', weight: 0.5 })),
          'VERSION_NOT_FOUND',
        );
        assert.equal(await store.getAlias('fa', 'bad'), undefined, 'a refused alias leaves nothing');
        assert.deepEqual(
          (await store.listAliases('fa')).map((a) => a.name),
          ['edge', 'prod'],
        );
        const moved = { ...prod, functionVersion: '2', routing: null, updatedAt: at(5) };
        assert.equal(await store.updateAlias(moved), true);
        assert.deepEqual(await store.getAlias('fa', 'prod'), moved);
        await rejectsWithCode(store.updateAlias({ ...moved, functionVersion: '8' }), 'VERSION_NOT_FOUND');
        assert.deepEqual(await store.getAlias('fa', 'prod'), moved, 'a refused update changes nothing');
        assert.equal(await store.updateAlias(aliasRecord('fa', 'none', '1', null)), false);
        assert.equal(await store.deleteAlias('fa', 'edge'), true);
        assert.equal(await store.deleteAlias('fa', 'edge'), false);
      }));

    test('deleteVersion refuses a version an alias points or routes to, naming the alias, and keeps it', () =>
      withStore(async (store) => {
        await store.createFunction(fnRecord('fu'));
        await store.publishVersion(versionRecord('fu'));
        await store.publishVersion(versionRecord('fu'));
        await store.publishVersion(versionRecord('fu'));
        await store.createAlias(aliasRecord('fu', 'main', '1', { version: '2', weight: 0.1 }));
        for (const v of ['1', '2']) {
          await assert.rejects(store.deleteVersion('fu', v), (err: unknown) => {
            assert.ok(err instanceof NimbusError);
            assert.equal(err.code, 'VERSION_IN_USE');
            assert.match(err.message, /alias 'main'/);
            return true;
          });
          assert.ok(await store.getVersion('fu', v), `version ${v} is still there`);
        }
        assert.equal(await store.deleteVersion('fu', '3'), true);
      }));

    test('deleteFunction removes versions, aliases and the version counter; executions stay', () =>
      withStore(async (store) => {
        await store.createFunction(fnRecord('gone'));
        await store.publishVersion(versionRecord('gone'));
        await store.publishVersion(versionRecord('gone'));
        await store.createAlias(aliasRecord('gone', 'live', '2', null));
        const e = execution('ev', 'gone', at(0), { version: '2', qualifier: 'live' });
        await store.writeBatch([e], []);
        assert.equal(await store.deleteFunction('gone'), true);
        assert.deepEqual(await store.listVersions('gone'), []);
        assert.deepEqual(await store.listAliases('gone'), []);
        assert.deepEqual(await store.getExecution('ev'), e);
        await store.createFunction(fnRecord('gone'));
        assert.equal((await store.publishVersion(versionRecord('gone'))).version, '1');
      }));

    test('executions round-trip the qualifier; records without one have none', () =>
      withStore(async (store) => {
        const asked = execution('eq1', 'f', at(0), { version: '3', qualifier: 'production' });
        const plain = execution('eq2', 'f', at(1));
        await store.writeBatch([asked, plain], []);
        assert.deepEqual(await store.getExecution('eq1'), asked);
        assert.deepEqual(await store.getExecution('eq2'), plain);
        assert.equal('qualifier' in ((await store.getExecution('eq2')) ?? {}), false);
      }));
  });
}
