/**
 * The Store contract: behaviour every Store adapter must show, run here against SQLite and reusable
 * for later adapters. Tests must never depend on one another's data: each gets a fresh store.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { NimbusError } from '../src/core/errors.js';
import type { Execution, LogLine } from '../src/core/execution.js';
import type { TriggerConfig, TriggerRecord } from '../src/core/trigger.js';
import { DEFAULT_ASYNC_CONFIG, type FunctionRecord } from '../src/core/function.js';
import type { LayerVersionRecord } from '../src/core/layer.js';
import type { AsyncQueue, DeadLetter, LayerStore, QueuedCall, Store } from '../src/core/ports.js';
import type { AliasRecord, VersionRecord } from '../src/core/version.js';
import { SqliteStore } from '../src/store/sqlite-store.js';

function fnRecord(name: string, overrides: Partial<FunctionRecord> = {}): FunctionRecord {
  return {
    name,
    runtime: 'python3',
    handler: 'main.handler',
    memoryMb: 128,
    timeoutSec: 5,
    concurrency: 4,
    minInstances: 1,
    maxInstances: 7,
    env: { GREETING: 'hello', EMPTY: '' },
    description: `the ${name} function`,
    network: 'internet',
    codeSha256: 'a'.repeat(64),
    codeSize: 1234,
    version: '$LATEST',
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    async: { ...DEFAULT_ASYNC_CONFIG },
    layers: [{ layerName: 'deps', version: 3, codeSha256: 'b'.repeat(64), codeSize: 10, unpackedBytes: 20 }],
    ...overrides,
  };
}

function triggerRecord(id: string, functionName: string, config: TriggerConfig): TriggerRecord {
  return {
    id,
    functionName,
    enabled: true,
    config,
    secret: config.type === 'http' ? 'nhk_secret' : null,
    lastTick: config.type === 'timer' ? '2029-12-31T23:59:00.000Z' : null,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
  };
}

function execution(
  id: string,
  functionName: string,
  startedAt: string,
  overrides: Partial<Execution> = {},
): Execution {
  return {
    id,
    functionName,
    version: '$LATEST',
    trigger: 'api',
    status: 'succeeded',
    outcome: 'succeeded',
    startedAt,
    durationMs: 12,
    coldStart: false,
    input: '{"x":1}',
    inputTruncated: false,
    output: '"ok"',
    outputTruncated: false,
    error: null,
    instanceId: 'inst-1',
    invocationType: 'sync',
    attempts: 1,
    callDurationMs: 10.25,
    initDurationMs: null,
    maxMemoryUsedMb: 41,
    memorySizeMb: 128,
    ...overrides,
  };
}

function logLine(
  executionId: string,
  functionName: string,
  seq: number,
  time: string,
  message = `line ${seq}`,
): LogLine {
  return { executionId, functionName, seq, time, stream: 'stdout', message };
}

/** ISO time `minutes` after a fixed origin, in `toISOString()` form as the store requires. */
function at(minutes: number): string {
  return new Date(Date.UTC(2024, 0, 1) + minutes * 60_000).toISOString();
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof NimbusError, `expected a NimbusError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/**
 * Runs the contract. `makeStore` returns a fresh, empty, not yet migrated store. `reopen`, when
 * given, closes nothing itself: it receives a closed store and opens a new one on the same data.
 */
export function runStoreContract(
  name: string,
  makeStore: () => Promise<Store>,
  reopen?: (closed: Store) => Promise<Store>,
): void {
  describe(`Store contract: ${name}`, () => {
    async function withStore(body: (store: Store) => Promise<void>): Promise<void> {
      const store = await makeStore();
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
        const store = await makeStore();
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

function versionRecord(functionName: string, overrides: Partial<VersionRecord> = {}): VersionRecord {
  const {
    name: _name,
    codeSha256,
    codeSize,
    version: _v,
    createdAt,
    updatedAt: _u,
    ...config
  } = fnRecord(functionName);
  return {
    functionName,
    version: '',
    codeSha256,
    codeSize,
    config,
    description: 'a version',
    createdAt,
    ...overrides,
  };
}

function aliasRecord(
  functionName: string,
  name: string,
  functionVersion: string,
  routing: AliasRecord['routing'],
): AliasRecord {
  return {
    functionName,
    name,
    functionVersion,
    routing,
    description: `the ${name} alias`,
    createdAt: at(0),
    updatedAt: at(0),
  };
}

// --- SQLite ---

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-store-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sqliteFiles = new Map<Store, string>();
let counter = 0;

runStoreContract(
  'SQLite',
  async () => {
    const file = path.join(tmp, `store-${counter++}.db`);
    const store = SqliteStore.open(file);
    sqliteFiles.set(store, file);
    return store;
  },
  async (closed) => {
    const file = sqliteFiles.get(closed);
    assert.ok(file, 'reopen of a store this harness did not open');
    return SqliteStore.open(file);
  },
);

// --- The AsyncQueue port ---

function queued(id: string, runAfter: string, overrides: Partial<QueuedCall> = {}): QueuedCall {
  return {
    id,
    functionName: 'f',
    payload: `{"id":"${id}"}`,
    trigger: 'api',
    enqueuedAt: runAfter,
    attempts: 0,
    runAfter,
    lastError: null,
    ...overrides,
  };
}

function letterOf(call: QueuedCall, failedAt: string, overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    id: call.id,
    functionName: call.functionName,
    payload: call.payload,
    trigger: call.trigger,
    condition: 'RetriesExhausted',
    error: { type: 'Error', message: 'boom' },
    attempts: 3,
    enqueuedAt: call.enqueuedAt,
    failedAt,
    replayedAt: null,
    replayExecutionId: null,
    ...overrides,
  };
}

/** The AsyncQueue contract; `makeQueue` gives a fresh, migrated queue and a way to close it. */
export function runAsyncQueueContract(
  name: string,
  makeQueue: () => Promise<{ queue: AsyncQueue; close: () => Promise<void> }>,
): void {
  describe(`AsyncQueue contract: ${name}`, () => {
    async function withQueue(body: (queue: AsyncQueue) => Promise<void>): Promise<void> {
      const { queue, close } = await makeQueue();
      try {
        await body(queue);
      } finally {
        await close();
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

runAsyncQueueContract('SQLite', async () => {
  const store = SqliteStore.open(path.join(tmp, `queue-${counter++}.db`));
  await store.migrate();
  return { queue: store.asyncQueue(), close: () => store.close() };
});

function layerVersion(layerName: string, overrides: Partial<LayerVersionRecord> = {}): LayerVersionRecord {
  return {
    layerName,
    version: 0,
    description: `the ${layerName} layer`,
    compatibleRuntimes: ['python3.12', 'nodejs20.x'],
    licenseInfo: 'MIT',
    codeSha256: 'c'.repeat(64),
    codeSize: 100,
    unpackedBytes: 300,
    createdAt: '2024-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** The LayerStore contract. `makeLayers` returns a fresh, migrated store and a way to close it. */
export function runLayerStoreContract(
  name: string,
  makeLayers: () => Promise<{ layers: LayerStore; close: () => Promise<void> }>,
): void {
  describe(`LayerStore contract: ${name}`, () => {
    async function withLayers(body: (layers: LayerStore) => Promise<void>): Promise<void> {
      const { layers, close } = await makeLayers();
      try {
        await body(layers);
      } finally {
        await close();
      }
    }

    test('versions are numbered 1, 2, 3 per layer, never reused after a delete, and round-trip whole', () =>
      withLayers(async (layers) => {
        const v1 = await layers.publish(layerVersion('deps', { description: 'one' }));
        assert.deepEqual(v1, layerVersion('deps', { description: 'one', version: 1 }));
        assert.deepEqual(await layers.get('deps', 1), v1);
        assert.equal((await layers.publish(layerVersion('deps'))).version, 2);
        assert.equal((await layers.publish(layerVersion('other'))).version, 1);
        assert.equal(await layers.delete('deps', 2), true);
        assert.equal(await layers.delete('deps', 2), false);
        assert.equal(await layers.get('deps', 2), undefined);
        // The newest version was deleted: its number is still never given again.
        assert.equal((await layers.publish(layerVersion('deps'))).version, 3);
        assert.deepEqual(
          (await layers.listVersions('deps')).map((v) => v.version),
          [3, 1],
        );
        assert.deepEqual(await layers.listVersions('nope'), []);
        assert.equal(await layers.get('deps', Number.NaN), undefined);
      }));

    test('listLatest gives each layer once, with its newest version, by name', () =>
      withLayers(async (layers) => {
        await layers.publish(layerVersion('zeta'));
        await layers.publish(layerVersion('alpha', { description: 'old' }));
        await layers.publish(layerVersion('alpha', { description: 'new' }));
        await layers.publish(layerVersion('gone'));
        await layers.delete('gone', 1);
        const latest = await layers.listLatest();
        assert.deepEqual(
          latest.map((v) => [v.layerName, v.version, v.description]),
          [
            ['alpha', 2, 'new'],
            ['zeta', 1, 'the zeta layer'],
          ],
        );
        // Deleting the newest version shows the one before it.
        await layers.delete('alpha', 2);
        assert.deepEqual(
          (await layers.listLatest()).map((v) => [v.layerName, v.version]),
          [
            ['alpha', 1],
            ['zeta', 1],
          ],
        );
      }));

    test('concurrent publishes of one layer get distinct numbers', () =>
      withLayers(async (layers) => {
        const published = await Promise.all(
          Array.from({ length: 8 }, () => layers.publish(layerVersion('busy'))),
        );
        assert.deepEqual(
          published.map((v) => v.version).sort((a, b) => a - b),
          [1, 2, 3, 4, 5, 6, 7, 8],
        );
      }));
  });
}

runLayerStoreContract('SQLite', async () => {
  const store = SqliteStore.open(path.join(tmp, `layers-${counter++}.db`));
  await store.migrate();
  return { layers: store.layers(), close: () => store.close() };
});

describe('SqliteStore specifics', () => {
  const mode = (file: string) => fs.statSync(file).mode & 0o777;

  test('the database file and its WAL files are readable by the owner only', async () => {
    const previous = process.umask(0o022);
    try {
      const file = path.join(tmp, 'nested', 'dir', 'mode.db');
      const store = SqliteStore.open(file);
      try {
        await store.migrate();
        await store.createFunction(fnRecord('secret', { env: { API_KEY: 'hunter2' } }));
        assert.equal(mode(file), 0o600);
        for (const side of [`${file}-wal`, `${file}-shm`]) {
          if (fs.existsSync(side)) assert.equal(mode(side), 0o600, side);
        }
      } finally {
        await store.close();
      }
    } finally {
      process.umask(previous);
    }
  });

  test('opening an existing, too-open file tightens its mode', async () => {
    const file = path.join(tmp, 'loose.db');
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o644);
    const store = SqliteStore.open(file);
    await store.close();
    assert.equal(mode(file), 0o600);
  });

  test(':memory: opens a private in-memory database', async () => {
    const store = SqliteStore.open(':memory:');
    try {
      await store.migrate();
      await store.createFunction(fnRecord('mem'));
      assert.equal((await store.listFunctions()).length, 1);
      assert.equal(fs.existsSync(':memory:'), false);
      // Without a file there is no writer thread: batches go through the shared kysely queries.
      const e = execution('m1', 'mem', at(0));
      await store.writeBatch([e], [logLine('m1', 'mem', 0, at(0))]);
      assert.equal((await store.getExecution('m1'))?.status, 'succeeded');
      assert.equal((await store.getLogs('m1')).length, 1);
    } finally {
      await store.close();
    }
  });
});
