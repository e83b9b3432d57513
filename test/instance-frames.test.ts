/**
 * What the host sends an instance and learns from it, at the Instance level with a real sandbox
 * process (the plain-process driver, with cgroups when the host has them) running a small echo
 * runtime that answers every invoke with the frame header it received: a plain call's header has
 * no call context (the hot path's frame is unchanged), a call with one carries `arn`, `trace` and
 * `cc`, also when sent behind an init; the init's duration and the sandbox's peak memory are known.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LogStream } from '../src/core/execution.js';
import type { HostSandboxProcess } from '../src/sandbox/child-sandbox.js';
import { Instance } from '../src/engine/invocation/instance.js';
import { detectCgroups } from '../src/sandbox/cgroups.js';
import { HostRuntimes } from '../src/sandbox/host-runtimes.js';
import { ProcessSandbox } from '../src/sandbox/process-sandbox.js';

/** A runtime that speaks the frame protocol and answers each invoke with its own header as JSON. */
const ECHO_RUNTIME = `
const { Socket } = require('node:net');
const channel = new Socket({ fd: 3, readable: true, writable: true });
const frame = (header, payload = Buffer.alloc(0)) => {
  const head = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + head.length + payload.length);
  out.writeUInt32BE(4 + head.length + payload.length, 0);
  out.writeUInt32BE(head.length, 4);
  head.copy(out, 8);
  payload.copy(out, 8 + head.length);
  channel.write(out);
};
let buffered = Buffer.alloc(0);
channel.on('data', (chunk) => {
  buffered = Buffer.concat([buffered, chunk]);
  while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
    const length = buffered.readUInt32BE(0);
    const headLength = buffered.readUInt32BE(4);
    const header = JSON.parse(buffered.toString('utf8', 8, 8 + headLength));
    buffered = buffered.subarray(4 + length);
    if (header.t === 'init') setTimeout(() => frame({ t: 'inited' }), 30);
    if (header.t === 'invoke') frame({ t: 'result', id: header.id, ok: true }, Buffer.from(JSON.stringify(header)));
  }
});
frame({ t: 'ready' });
`;

const INIT = {
  functionName: 'echo',
  functionVersion: '$LATEST',
  functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:echo',
  handler: 'index.handler',
  memoryMb: 128,
  timeoutSec: 5,
  concurrency: 4,
  env: {},
};

describe('instance frames', () => {
  let dir: string;
  let driver: ProcessSandbox;
  const processes: HostSandboxProcess[] = [];
  const noLog = (_stream: LogStream, _text: string, _time: number) => undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'nimbus-frames-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'echo.cjs'), ECHO_RUNTIME, { mode: 0o644 });
    driver = new ProcessSandbox(
      detectCgroups(),
      { first: 65534, last: 65534 },
      'instance frame test',
      new HostRuntimes(dir, join(dir, 'slots')),
    );
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(id: string): Promise<Instance> {
    // A stand-in runtime: the driver's host command line rather than a real runtime's.
    const sandbox = await driver.spawnCommand({
      instanceId: id,
      codeDir: dir,
      optDir: dir,
      runtimeDir: dir,
      hostPaths: [],
      command: [process.execPath, join(dir, 'echo.cjs')],
      env: { PATH: '/usr/bin:/bin' },
      memoryMb: 128,
      maxProcesses: 16,
      tmpSizeMb: 8,
      background: false,
    });
    processes.push(sandbox);
    const instance = new Instance(id, 128, { ...sandbox, loadCode: () => Promise.resolve() });
    assert.equal(await instance.waitReady(10_000), undefined);
    return instance;
  }

  it('sends the call context only when a call has one, also behind an init', async () => {
    const instance = await start(`i-frames-${process.pid}-1`);
    const arn = 'arn:aws:lambda:eu-west-1:123456789012:function:echo:live';
    const context = { arn, trace: 'Root=1-00000000-000000000000000000000000', cc: '{"custom":{"a":1}}' };
    const initialised = instance.specialize('rev', INIT, 10_000, noLog);
    // Sent before `inited` came back: it travels behind the init with its budget.
    const behind = instance.invoke('call-1', Buffer.from('{}'), 5000, noLog, undefined, context);
    assert.equal(await initialised, undefined);
    assert.ok(
      instance.initDurationMs !== undefined && instance.initDurationMs >= 25,
      `${instance.initDurationMs}`,
    );
    const first = await behind;
    assert.ok(first.ok);
    const firstHeader = JSON.parse(first.payload.toString());
    assert.equal(firstHeader.budgetMs, 5000);
    assert.deepEqual({ arn: firstHeader.arn, trace: firstHeader.trace, cc: firstHeader.cc }, context);

    const plain = await instance.invoke('call-2', Buffer.from('{}'), 5000, noLog);
    assert.ok(plain.ok);
    assert.deepEqual(Object.keys(JSON.parse(plain.payload.toString())).sort(), ['deadline', 'id', 't']);

    const traced = await instance.invoke('call-3', Buffer.from('{}'), 5000, noLog, undefined, {
      trace: 'Root=x',
    });
    assert.ok(traced.ok);
    const tracedHeader = JSON.parse(traced.payload.toString());
    assert.equal(tracedHeader.trace, 'Root=x');
    assert.equal(tracedHeader.arn, undefined);
    await instance.kill();
  });

  it("reads the sandbox's peak memory from its cgroup (undefined without cgroups)", async () => {
    const instance = await start(`i-frames-${process.pid}-2`);
    const peak = instance.peakMemoryBytes();
    if (detectCgroups().version === 'none') assert.equal(peak, undefined);
    else {
      assert.ok(peak !== undefined && peak > 1024 * 1024 && peak <= 128 * 1024 * 1024, `${peak}`);
      // Asking again is cheap and gives the same or a higher peak.
      assert.ok((instance.peakMemoryBytes() ?? 0) >= peak);
    }
    await instance.kill();
    assert.equal(instance.peakMemoryBytes(), undefined, 'after the sandbox is gone');
  });
});
