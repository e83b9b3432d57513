/**
 * The Node.js runtime on its own, driven over its real frame channel (fd 3) the way the host
 * drives it: what only a frame can carry today (a call's invoked ARN with its qualifier, its trace
 * id, its client context) and a malformed handler, which every deploy path refuses before a
 * runtime could see it (a function with layers skips that check, so the runtime must still say
 * `Runtime.MalformedHandlerName` as Lambda's does).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeFrame, FrameDecoder, type FunctionInit } from '../src/runtimes/protocol.js';
import { FIXTURES } from './helpers/harness.js';

const BOOTSTRAP = fileURLToPath(new URL('../src/runtimes/node/bootstrap.js', import.meta.url));

interface Frame {
  header: Record<string, any>;
  payload: Buffer;
}

/** One runtime process, its channel, and the frames it has sent. */
class Runtime {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  private readonly channel: Writable;

  constructor(private readonly child: ChildProcess) {
    const fd3 = child.stdio[3] as Readable & Writable;
    this.channel = fd3;
    const decoder = new FrameDecoder((header, payload) => {
      this.frames.push({ header: header as Record<string, any>, payload });
      for (const wake of this.waiters.splice(0)) wake();
    });
    fd3.on('data', (chunk: Buffer) => decoder.push(chunk));
  }

  send(header: object, payload?: Buffer): void {
    this.channel.write(encodeFrame(header, payload));
  }

  /** The first frame (sent so far or later) that `match` accepts. */
  async next(match: (frame: Frame) => boolean, ms = 10_000): Promise<Frame> {
    const until = Date.now() + ms;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (Date.now() > until)
        throw new Error(`no such frame; got ${JSON.stringify(this.frames.map((f) => f.header))}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

const started: Runtime[] = [];
/** The fixture outside this repository, whose package.json says `"type": "module"`, as a package would be. */
const CODE_DIR = mkdtempSync(join(tmpdir(), 'nimbus-frames-'));
cpSync(join(FIXTURES, 'node-lambda-runtime'), CODE_DIR, { recursive: true });

async function startRuntime(handler: string, env: Record<string, string> = {}): Promise<Runtime> {
  const child = spawn(process.execPath, [BOOTSTRAP], {
    env: { PATH: process.env.PATH, NIMBUS_CODE_DIR: CODE_DIR },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const runtime = new Runtime(child);
  started.push(runtime);
  await runtime.next((f) => f.header.t === 'ready');
  const init: FunctionInit = {
    functionName: 'frames',
    functionVersion: '$LATEST',
    functionArn: 'arn:aws:lambda:eu-central-1:123456789012:function:frames',
    handler,
    memoryMb: 128,
    timeoutSec: 5,
    concurrency: 1,
    env,
  };
  runtime.send({ t: 'init', ...init });
  return runtime;
}

describe('the Node.js runtime over its frame channel', () => {
  after(() => {
    for (const runtime of started) runtime.stop();
    rmSync(CODE_DIR, { recursive: true, force: true });
  });

  it("gives the context the call's ARN, trace id and client context when the frame carries them", async () => {
    const runtime = await startRuntime('index.context');
    await runtime.next((f) => f.header.t === 'inited');
    const arn = 'arn:aws:lambda:eu-central-1:123456789012:function:frames:live';
    const trace = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1';
    const cc = JSON.stringify({ client: { app_title: 'nimbus' }, custom: { k: 'v' }, env: {} });
    runtime.send(
      { t: 'invoke', id: 'call-1', deadline: Date.now() + 5000, arn, trace, cc },
      Buffer.from('{}'),
    );
    const given = JSON.parse((await runtime.next((f) => f.header.id === 'call-1')).payload.toString());
    assert.equal(given.invokedFunctionArn, arn);
    assert.equal(given.traceId, trace);
    assert.deepEqual(given.clientContext, JSON.parse(cc));
    assert.equal(given.fc.service.qualifier, 'live');
    assert.equal(given.fc.region, 'eu-central-1');
    assert.equal(given.fc.accountId, '123456789012');

    // A plain call: the function's own ARN, a fresh trace id, no client context.
    runtime.send({ t: 'invoke', id: 'call-2', deadline: Date.now() + 5000 }, Buffer.from('{}'));
    const plain = JSON.parse((await runtime.next((f) => f.header.id === 'call-2')).payload.toString());
    assert.equal(plain.invokedFunctionArn, 'arn:aws:lambda:eu-central-1:123456789012:function:frames');
    assert.match(plain.traceId, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
    assert.equal(plain.clientContext, null);
    assert.equal(plain.fc.service.qualifier, 'LATEST');
  });

  it('finds a handler module on the NODE_PATH the function was given, after start-up', async () => {
    const vendor = join(CODE_DIR, 'vendor');
    mkdirSync(join(vendor, 'vendored-handler'), { recursive: true });
    writeFileSync(
      join(vendor, 'vendored-handler', 'index.js'),
      "exports.handler = async () => ({ from: 'NODE_PATH' });\n",
    );
    const runtime = await startRuntime('vendored-handler.handler', { NODE_PATH: vendor });
    await runtime.next((f) => f.header.t === 'inited' || f.header.t === 'init_error');
    runtime.send({ t: 'invoke', id: 'call-1', deadline: Date.now() + 5000 }, Buffer.from('{}'));
    const result = await runtime.next((f) => f.header.id === 'call-1');
    assert.equal(result.header.ok, true, JSON.stringify(result.header));
    assert.deepEqual(JSON.parse(result.payload.toString()), { from: 'NODE_PATH' });
  });

  for (const [handler, message] of [
    ['index', /^Bad handler$/],
    ['../index.context', /^'\.\.\/index\.context' is not a valid handler name\. Use absolute paths/],
  ] as const) {
    it(`fails the init of '${handler}' with Runtime.MalformedHandlerName`, async () => {
      const runtime = await startRuntime(handler);
      const failed = await runtime.next((f) => f.header.t === 'init_error');
      assert.equal(failed.header.error.type, 'Runtime.MalformedHandlerName');
      assert.match(failed.header.error.message, message);
      const log = await runtime.next((f) => f.header.t === 'log' && /Uncaught Exception/.test(f.header.d));
      assert.match(
        log.header.d,
        /\tundefined\tERROR\tUncaught Exception \t\{"errorType":"Runtime\.MalformedHandlerName"/,
      );
    });
  }
});
