/** Log capture per execution, live streaming with follow, and the visible cut of oversized logs. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Execution } from '../src/core/execution.js';
import { reportLine } from '../src/engine/executions/report-lines.js';
import { startTestServer, type TestServer } from './helpers/harness.js';

describe('execution logs', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ logBytesPerExecution: 4096 });
    await nimbus.deploy('py-logs', 'python-lambda', 'python3', 'main.handler');
    await nimbus.deploy('node-logs', 'node-cjs', 'nodejs', 'index.handler');
    await nimbus.deploy('spammer', 'python-hostile', 'python3', 'main.handler');
  });
  after(() => nimbus.close());

  async function logsOf(res: { headers: Headers }) {
    const id = res.headers.get('x-nimbus-execution-id');
    const logs = await nimbus.request('GET', `/v1/executions/${id}/logs`);
    assert.equal(logs.status, 200);
    return logs.body.lines as { seq: number; time: string; stream: string; message: string }[];
  }

  it('captures print and logging output of a Python execution with timestamps', async () => {
    const lines = await logsOf(await nimbus.invoke('py-logs', { name: 'Ada' }));
    const messages = lines.map((l) => l.message);
    assert.ok(messages.includes('hello from python, name=Ada'), JSON.stringify(messages));
    assert.ok(
      messages.some((m) => /\[INFO\].*logged via logging/.test(m)),
      JSON.stringify(messages),
    );
    for (const line of lines) assert.ok(!Number.isNaN(Date.parse(line.time)));
    assert.deepEqual(
      lines.map((l) => l.seq),
      lines.map((_, i) => i),
    );
  });

  it('keeps logs of consecutive executions apart', async () => {
    const first = await logsOf(await nimbus.invoke('node-logs', { name: 'first' }));
    const second = await logsOf(await nimbus.invoke('node-logs', { name: 'second' }));
    // console output carries Lambda's `<time>\t<requestId>\t<LEVEL>\t` prefix
    assert.ok(first.some((l) => l.message.endsWith('\tINFO\thello from node cjs first')));
    assert.ok(!first.some((l) => l.message.includes('second')));
    assert.ok(second.some((l) => l.message.endsWith('\tINFO\thello from node cjs second')));
    assert.ok(second.some((l) => l.message.includes('context logger works')));
  });

  it('captures stderr separately', async () => {
    await nimbus.deploy('esm-logs', 'node-esm', 'nodejs', 'index.handler');
    const lines = await logsOf(await nimbus.invoke('esm-logs', {}));
    assert.ok(lines.some((l) => l.stream === 'stderr' && l.message.endsWith('\tERROR\tesm stderr line')));
  });

  it('cuts an oversized log with a visible marker, keeping every line before it', async () => {
    const res = await nimbus.invoke('spammer', { action: 'spam', lines: 500, width: 40 });
    assert.equal(res.status, 200);
    const lines = await logsOf(res);
    // The platform's START, END and REPORT lines are kept whatever the function printed.
    assert.match(lines[0]!.message, /^START RequestId: /);
    assert.match(lines.at(-2)!.message, /^END RequestId: /);
    assert.match(lines.at(-1)!.message, /^REPORT RequestId: /);
    const marker = lines.at(-3)!;
    assert.equal(marker.stream, 'system');
    assert.match(marker.message, /log truncated/);
    const kept = lines.slice(1, -3).map((l) => l.message);
    kept.forEach((m, i) => assert.ok(m.startsWith(`line ${i} `), `line ${i} kept in order`));
    assert.ok(kept.length > 50 && kept.length < 500);
  });

  it("frames every call's output with Lambda's START, END and REPORT lines (Init Duration on a cold start only)", async () => {
    await nimbus.deploy('framed', 'node-cjs', 'nodejs', 'index.handler', { memoryMb: 192 });
    const cold = await nimbus.invoke('framed', { name: 'cold' });
    const warm = await nimbus.invoke('framed', { name: 'warm' });
    for (const [res, isCold] of [
      [cold, true],
      [warm, false],
    ] as const) {
      const id = res.headers.get('x-nimbus-execution-id')!;
      const lines = await logsOf(res);
      assert.deepEqual(lines[0], {
        ...lines[0],
        stream: 'system',
        message: `START RequestId: ${id} Version: $LATEST`,
      });
      assert.ok(lines.some((l) => l.stream === 'stdout' && l.message.includes('hello from node cjs')));
      assert.deepEqual(lines.at(-2), { ...lines.at(-2)!, stream: 'system', message: `END RequestId: ${id}` });
      const report = lines.at(-1)!;
      assert.equal(report.stream, 'system');
      const fields = report.message.split('\t');
      assert.equal(fields[0], `REPORT RequestId: ${id}`);
      assert.match(fields[1]!, /^Duration: \d+\.\d\d ms$/);
      const duration = Number(/[\d.]+/.exec(fields[1]!)![0]);
      assert.equal(fields[2], `Billed Duration: ${Math.max(1, Math.ceil(duration))} ms`);
      assert.equal(fields[3], 'Memory Size: 192 MB');
      // The instance's cgroup reports its peak; the plain-process driver without cgroups leaves it out.
      const memory = fields.find((f) => f.startsWith('Max Memory Used: '));
      if (memory) {
        const mb = Number(/\d+/.exec(memory)![0]);
        assert.ok(mb >= 1 && mb <= 192, memory);
      }
      const init = fields.find((f) => f.startsWith('Init Duration: '));
      if (isCold) assert.match(init ?? '', /^Init Duration: \d+\.\d\d ms$/, report.message);
      else assert.equal(init, undefined, report.message);
    }
  });

  it("renders them from the record: nothing stored for a call that prints nothing, yet the function's log shows it", async () => {
    await nimbus.deploy('silent', 'node-esm-await', 'nodejs', 'index.handler');
    const res = await nimbus.invoke('silent', {});
    assert.equal(res.status, 200, res.text);
    const id = res.headers.get('x-nimbus-execution-id')!;
    const record = await nimbus.executionOf(res);
    assert.equal(typeof record.callDurationMs, 'number');
    assert.equal(record.memorySizeMb, 128);
    assert.equal(typeof record.initDurationMs, 'number', 'a cold start');
    const lines = await logsOf(res);
    assert.deepEqual(
      lines.map((l) => [l.seq, l.stream, l.message.split('\t')[0]]),
      [
        [0, 'system', `START RequestId: ${id} Version: $LATEST`],
        [1, 'system', `END RequestId: ${id}`],
        [2, 'system', `REPORT RequestId: ${id}`],
      ],
    );
    const warm = await nimbus.invoke('silent', {});
    const listed = await nimbus.request('GET', '/v1/functions/silent/logs?tail=100');
    assert.equal(listed.status, 200);
    const all = listed.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { executionId: string; message: string });
    const warmId = warm.headers.get('x-nimbus-execution-id')!;
    assert.deepEqual(
      all.map((l) => [l.executionId, l.message.split('\t')[0]]),
      [
        [id, `START RequestId: ${id} Version: $LATEST`],
        [id, `END RequestId: ${id}`],
        [id, `REPORT RequestId: ${id}`],
        [warmId, `START RequestId: ${warmId} Version: $LATEST`],
        [warmId, `END RequestId: ${warmId}`],
        [warmId, `REPORT RequestId: ${warmId}`],
      ],
    );
    assert.doesNotMatch(all.at(-1)!.message, /Init Duration/, 'a warm call');
    // The tail counts rendered lines.
    const two = await nimbus.request('GET', '/v1/functions/silent/logs?tail=2');
    assert.deepEqual(
      two.text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { message: string }).message.split('\t')[0]),
      [`END RequestId: ${warmId}`, `REPORT RequestId: ${warmId}`],
    );
  });

  it('says Status: error with the error type on the REPORT of a call that crashed', async () => {
    const res = await nimbus.invoke('spammer', { action: 'exit' });
    assert.equal(res.status, 502, res.text);
    const lines = await logsOf(res);
    assert.match(
      lines.at(-1)!.message,
      /^REPORT RequestId: .*\tStatus: error\tError Type: Runtime\.ExitError$/,
    );
  });

  it('says Status: error, Runtime.OutOfMemory and the whole memory size used for a call out of memory', async () => {
    await nimbus.deploy('framed-oom', 'python-hostile', 'python3', 'main.handler', { memoryMb: 64 });
    const res = await nimbus.invoke('framed-oom', { action: 'oom' });
    assert.equal(res.status, 502, res.text);
    const report = (await logsOf(res)).at(-1)!.message;
    assert.match(report, /\tMemory Size: 64 MB\tMax Memory Used: 64 MB\t/);
    assert.match(report, /\tStatus: error\tError Type: Runtime\.OutOfMemory$/);
  });

  it('says Status: timeout on the REPORT of a call that timed out', async () => {
    await nimbus.deploy('framed-slow', 'python-hostile', 'python3', 'main.handler', { timeoutSec: 1 });
    const res = await nimbus.invoke('framed-slow', { action: 'sleep', seconds: 5 });
    assert.equal(res.status, 504);
    const lines = await logsOf(res);
    assert.match(lines.at(-1)!.message, /^REPORT RequestId: .*\tStatus: timeout$/);
    assert.ok(lines.some((l) => /timed out/.test(l.message)));
  });

  it("streams a function's logs live with follow=true", async () => {
    const controller = new AbortController();
    const res = await fetch(`${nimbus.url}/v1/functions/py-logs/logs?follow=true&tail=0`, {
      headers: { authorization: `Bearer ${nimbus.key}` },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /ndjson/);
    const reader = res.body!.getReader();
    const seen: string[] = [];
    const reading = (async () => {
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffered += Buffer.from(value).toString('utf8');
        const parts = buffered.split('\n');
        buffered = parts.pop()!;
        for (const p of parts) if (p.trim()) seen.push(JSON.parse(p).message);
        if (seen.some((m) => m.startsWith('REPORT RequestId: '))) return;
      }
    })();
    await nimbus.invoke('py-logs', { name: 'streamed' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      reading,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no live line')), 10_000))),
    ]).finally(() => clearTimeout(timer));
    controller.abort();
    assert.ok(seen.includes('hello from python, name=streamed'));
    // Live followers get each call framed as the stored log renders it.
    assert.match(seen[0]!, /^START RequestId: \S+ Version: \$LATEST$/);
    assert.match(seen.at(-2)!, /^END RequestId: /);
    assert.match(seen.at(-1)!, /^REPORT RequestId: .*\tDuration: /);
  });

  it('lists recent function logs without follow', async () => {
    const res = await nimbus.request('GET', '/v1/functions/py-logs/logs?tail=5');
    assert.equal(res.status, 200);
    const lines = res.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(lines.length > 0 && lines.length <= 5);
    assert.ok(lines.every((l) => l.functionName === 'py-logs'));
  });
});

describe('REPORT line', () => {
  /** An execution record with only what the REPORT line reads. */
  const record = (callDurationMs: number) =>
    ({
      id: 'r-1',
      callDurationMs,
      durationMs: callDurationMs,
      memorySizeMb: 128,
      maxMemoryUsedMb: 9,
      initDurationMs: null,
      status: 'succeeded',
      outcome: 'succeeded',
      error: null,
    }) as unknown as Execution;

  it('bills the duration it shows, rounded up to the millisecond (at least 1 ms)', () => {
    for (const [ms, shown, billed] of [
      [1.001, '1.00', 1],
      [1.006, '1.01', 2],
      [0.2, '0.20', 1],
      [12.341, '12.34', 13],
      [13, '13.00', 13],
    ] as const) {
      assert.equal(
        reportLine(record(ms)),
        `REPORT RequestId: r-1\tDuration: ${shown} ms\tBilled Duration: ${billed} ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB`,
      );
    }
  });
});
