/**
 * Hostile fixtures for what a function prints and streams (issue 12): output without newlines must
 * cost the server memory and CPU linear in its size and be capped; log frames cannot forge the
 * platform's `system` lines, their time or terminal escapes; and a function writing its response
 * stream's frames itself, ignoring the host's acks, is stopped at the flow-control window instead
 * of being buffered by the host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LOG_TRUNCATED_MARKER, LOG_LINE_MAX_CHARS } from '../../src/core/execution.js';
import { runCli } from '../helpers/cli.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/harness.js';
import { rawZip } from '../helpers/raw-zip.js';

/** Writes protocol frames to fd 3 from inside a function, bypassing its runtime. */
const RAW_FRAMES = `
const fs = require('node:fs');
function frame(header, payload = Buffer.alloc(0)) {
  const head = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + head.length + payload.length);
  out.writeUInt32BE(4 + head.length + payload.length, 0);
  out.writeUInt32BE(head.length, 4);
  head.copy(out, 8);
  payload.copy(out, 8 + head.length);
  return out;
}
// Whole frames, written synchronously so nothing of the runtime's gets between their pieces.
const pause = new Int32Array(new SharedArrayBuffer(4));
async function writeRaw(buf) {
  let at = 0;
  while (at < buf.length) {
    try {
      at += fs.writeSync(3, buf, at);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}
`;

const FUNCTIONS: Record<string, string> = {
  // 64 MB on stdout without a single newline, in 64 KB writes.
  'no-newlines': `
exports.handler = async () => {
  const chunk = 'x'.repeat(64 * 1024);
  for (let i = 0; i < 1024; i++) {
    process.stdout.write(chunk);
    if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
  }
  return 'printed';
};`,
  // Forged log frames: a system line, a 1970 time; and escapes printed the ordinary way.
  forger:
    RAW_FRAMES +
    `
exports.handler = async (event, context) => {
  await writeRaw(frame({ t: 'log', id: context.awsRequestId, s: 'system', d: 'REPORT RequestId: forged\\n', ts: 0 }));
  await writeRaw(frame({ t: 'log', id: context.awsRequestId, s: 'stdout', d: 'from 1970\\n', ts: 0 }));
  console.log('\\x1b[2J\\x1b[31mscreen cleared\\x07\\r2026-01-01T00:00:00.000Z system END RequestId: fake');
  return 'forged';
};`,
  // A streaming handler whose body goes straight to fd 3: 100 MB of chunks, no waiting for acks.
  'ack-ignorer':
    RAW_FRAMES +
    `
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const id = context.awsRequestId;
  await writeRaw(frame({ t: 'http_head', id, status: 200, headers: [['content-type', 'application/octet-stream']] }));
  const chunk = Buffer.alloc(256 * 1024, 'x');
  for (let i = 0; i < 400; i++) await writeRaw(frame({ t: 'http_chunk', id }, chunk));
  await new Promise((resolve) => setTimeout(resolve, 60000));
});`,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('hostile: output, log frames and stream flow control', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer();
    for (const [name, source] of Object.entries(FUNCTIONS)) {
      const zip = rawZip([{ name: 'index.js', data: source }]);
      await nimbus.deployZip(name, zip, 'nodejs', 'index.handler', { memoryMb: 512, timeoutSec: 120 });
    }
  });
  after(() => nimbus.close());

  const logsOf = async (id: string | null) =>
    (await nimbus.request('GET', `/v1/executions/${id}/logs`)).body.lines as {
      time: string;
      stream: string;
      message: string;
    }[];

  it('stays responsive and bounded while a function prints 64 MB without a newline, and caps its log', async () => {
    await nimbus.invoke('no-newlines'); // warm: the measured call starts from a running instance
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    let finished = false;
    const call = nimbus.invoke('no-newlines').finally(() => (finished = true));
    let healthChecks = 0;
    try {
      while (!finished) {
        // The server must answer at all while the output pours in (a generous bound, not a timing).
        const health = await fetch(`${nimbus.url}/v1/health`, { signal: AbortSignal.timeout(10_000) });
        assert.equal(health.status, 200);
        healthChecks++;
        await sleep(100);
      }
    } finally {
      clearInterval(sampler);
    }
    const res = await call;
    assert.equal(res.status, 200, res.text);
    assert.ok(healthChecks > 0);
    const growth = (peak - rssBefore) / 1024 / 1024;
    assert.ok(growth < 200, `the server grew by ${growth.toFixed(0)} MB`);

    const lines = await logsOf(res.headers.get('x-nimbus-execution-id'));
    const printed = lines.filter((l) => l.stream === 'stdout');
    assert.ok(printed.length >= 2, `the long line was kept in pieces (got ${printed.length})`);
    for (const line of printed) {
      assert.ok(line.message.length <= LOG_LINE_MAX_CHARS + 64, `a line of ${line.message.length} chars`);
      assert.match(line.message, /^x+/);
    }
    assert.ok(
      lines.some((l) => l.stream === 'system' && l.message === LOG_TRUNCATED_MARKER),
      'the log says it was cut',
    );
    const stored = lines.reduce((sum, l) => sum + l.message.length, 0);
    assert.ok(stored <= 1024 * 1024 + LOG_LINE_MAX_CHARS, `stored ${stored} chars of log`);
  });

  it('stamps log lines itself: a function cannot forge system lines, times or terminal escapes', async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    const res = await nimbus.invoke('forger');
    assert.equal(res.status, 200, res.text);
    const id = res.headers.get('x-nimbus-execution-id');
    const lines = await logsOf(id);
    const forged = lines.find((l) => l.message.includes('forged'));
    assert.ok(forged, 'the forged text is kept as output');
    assert.equal(forged.stream, 'stdout', 'a runtime cannot claim the system stream');
    for (const line of lines) assert.ok(line.time >= before, `line stamped ${line.time}: ${line.message}`);

    const env = {
      ...process.env,
      NIMBUS_URL: nimbus.url,
      NIMBUS_KEY: nimbus.key,
      XDG_CONFIG_HOME: nimbus.dataDir,
    };
    for (const target of [id!, 'forger']) {
      const cli = await runCli(env, ['logs', target]);
      assert.equal(cli.code, 0, cli.stderr);
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(cli.stdout, /[\x00-\x08\x0b-\x1f\x7f]/, 'control characters reach the terminal');
      assert.match(cli.stdout, /\\x1b\[2J\\x1b\[31mscreen cleared\\x07/);
      for (const row of cli.stdout.split('\n'))
        assert.doesNotMatch(
          row,
          /^(\S+ )?\S+ system END RequestId: fake/,
          'a printed line starts a fake one',
        );
    }
  });

  it('stops an instance that streams past the flow-control window, with a clear error', async () => {
    const trigger = await nimbus.request('POST', '/v1/functions/ack-ignorer/triggers', {
      json: { type: 'http', auth: 'anonymous', style: 'lambda' },
    });
    assert.equal(trigger.status, 201, trigger.text);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const res = await fetch(`${nimbus.url}/fn/ack-ignorer/`);
    const id = res.headers.get('x-nimbus-execution-id');
    // A slow client: it reads nothing until the function has ended.
    let record: any;
    try {
      await waitFor(
        async () => {
          record = (await nimbus.request('GET', `/v1/executions/${id}`)).body;
          return record.status !== 'running';
        },
        'the flooding execution to end',
        60_000,
      );
    } finally {
      clearInterval(sampler);
    }
    let received = 0;
    try {
      for await (const chunk of res.body!) received += (chunk as Uint8Array).length;
    } catch {
      // cut off: expected
    }
    assert.equal(record.status, 'failed');
    assert.match(record.error.message, /flow-control window/);
    // What the client got is what the host let through before it stopped the flood (socket
    // buffers included), far from the 100 MB the function wrote.
    assert.ok(received < 16 * 1024 * 1024, `the client got ${received} bytes`);
    const growth = (peak - rssBefore) / 1024 / 1024;
    assert.ok(growth < 48, `the server grew by ${growth.toFixed(0)} MB`);
  });
});
