/**
 * Read-your-writes of execution records: a client that was given an execution id (sync or async)
 * reads its record, logs and listing at once, under load, with a flush interval far longer than
 * the test, so nothing is visible because a timer happened to write it. And one writer per async
 * record: a call that will be retried is never seen `failed` before its last attempt.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { zipOfFiles } from './helpers/raw-zip.js';

const zipOf = zipOfFiles;

const HANDLER = `export const handler = async (event) => {
  console.log('call ' + event.i);
  if (event.fail) throw new Error('failing on purpose ' + event.i);
  return { i: event.i };
};
`;

const SYNC_CALLS = 60;
const ASYNC_CALLS = 30;

describe('read-your-writes of execution records', () => {
  let nimbus: TestServer;
  before(async () => {
    // Ten seconds between timed flushes: every read below must get its writes by itself.
    nimbus = await startTestServer({ flushIntervalMs: 10_000, asyncRetryBaseMs: 300 });
    const zip = await zipOf({ 'index.mjs': HANDLER });
    await nimbus.deployZip('ryw', zip, 'nodejs', 'index.handler', {
      concurrency: 4,
      async: { maxRetries: 1 },
    });
  });
  after(async () => nimbus?.close());

  it('finds every synchronous call at once, with its final status, output and log', async () => {
    const calls = Array.from({ length: SYNC_CALLS }, async (_, i) => {
      const invoked = await nimbus.invoke('ryw', { i });
      assert.equal(invoked.status, 200, invoked.text);
      const id = invoked.headers.get('x-nimbus-execution-id');
      assert.ok(id, 'the invoke answer names its execution');
      const record = await nimbus.request('GET', `/v1/executions/${id}`);
      assert.equal(record.status, 200, `execution ${id} of call ${i} not found at once: ${record.text}`);
      assert.equal(record.body.status, 'succeeded');
      assert.equal(record.body.output, JSON.stringify({ i }));
      const logs = await nimbus.request('GET', `/v1/executions/${id}/logs`);
      assert.equal(logs.status, 200, logs.text);
      const messages = (logs.body.lines as { message: string }[]).map((l) => l.message);
      assert.ok(
        messages.some((m) => m.includes(`call ${i}`)),
        `the log of call ${i} has its line: ${messages.join(' | ')}`,
      );
      return id;
    });
    const ids = await Promise.all(calls);
    const listed = await nimbus.request('GET', '/v1/executions?function=ryw&limit=1000');
    assert.equal(listed.status, 200, listed.text);
    const listedIds = new Set((listed.body.executions as { id: string }[]).map((e) => e.id));
    for (const id of ids) assert.ok(listedIds.has(id), `execution ${id} is listed at once`);
    const functionLog = await nimbus.request('GET', '/v1/functions/ryw/logs?tail=1000');
    assert.equal(functionLog.status, 200, functionLog.text);
    const printed = new Set(
      functionLog.text
        .split('\n')
        .filter((line) => line.trim() !== '')
        // Node's console lines are Lambda-shaped: time, request id, level, then the text.
        .map((line) => (JSON.parse(line) as { message: string }).message.split('\t').at(-1)),
    );
    for (let i = 0; i < SYNC_CALLS; i += 1)
      assert.ok(printed.has(`call ${i}`), `the function log has call ${i}`);
  });

  it('finds every asynchronous call at once, then with its outcome', async () => {
    const calls = Array.from({ length: ASYNC_CALLS }, async (_, i) => {
      const queued = await nimbus.request('POST', '/v1/functions/ryw/invoke', {
        json: { i },
        headers: { 'x-nimbus-invocation-type': 'async' },
      });
      assert.equal(queued.status, 202, queued.text);
      const id = queued.headers.get('x-nimbus-execution-id')!;
      const record = await nimbus.request('GET', `/v1/executions/${id}`);
      assert.equal(record.status, 200, `async execution ${id} not found at once: ${record.text}`);
      assert.ok(['queued', 'running', 'succeeded'].includes(record.body.status), record.text);
      return id;
    });
    const ids = await Promise.all(calls);
    await waitFor(async () => {
      const records = await Promise.all(ids.map((id) => nimbus.request('GET', `/v1/executions/${id}`)));
      return records.every((r) => r.body.status === 'succeeded');
    }, 'every asynchronous call to succeed');
  });

  it('never shows a call that will be retried as failed (one writer per record)', async () => {
    const queued = await nimbus.request('POST', '/v1/functions/ryw/invoke', {
      json: { i: 'f', fail: true },
      headers: { 'x-nimbus-invocation-type': 'async' },
    });
    assert.equal(queued.status, 202, queued.text);
    const id = queued.headers.get('x-nimbus-execution-id')!;
    const seen: string[] = [];
    await waitFor(
      async () => {
        const record = await nimbus.request('GET', `/v1/executions/${id}`);
        assert.equal(record.status, 200, record.text);
        const { status, attempts } = record.body as { status: string; attempts: number };
        if (seen.at(-1) !== `${status}/${attempts}`) seen.push(`${status}/${attempts}`);
        return status === 'failed';
      },
      'the failing call to fail for good',
      20_000,
    );
    assert.ok(seen.includes('retrying/1'), `the first attempt leaves it retrying: ${seen.join(', ')}`);
    assert.ok(
      seen.every((s) => !s.startsWith('failed/') || s === 'failed/2'),
      `only the last attempt fails it: ${seen.join(', ')}`,
    );
    const logs = await nimbus.request('GET', `/v1/executions/${id}/logs`);
    const calls = (logs.body.lines as { message: string }[]).filter((l) => l.message.includes('call f'));
    assert.equal(calls.length, 2, 'both attempts are in one log');
  });
});
