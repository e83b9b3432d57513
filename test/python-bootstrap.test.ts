/**
 * The Python runtime over its wire protocol, without the server in front: what a call's frame may
 * carry beyond the event (the invoked ARN, the trace header, the client context) and settings the
 * platform passes in the environment (Lambda's log format and level) reach the function as Lambda's
 * runtime hands them over. The real interpreter and bootstrap run the fixture's code.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { runtimeCommand } from '../src/sandbox/host-runtimes.js';
import { encodeFrame, FrameDecoder } from '../src/runtimes/protocol.js';
import { FIXTURES, REPO_ROOT } from './helpers/harness.js';

interface Frame {
  header: Record<string, any>;
  payload: Buffer;
}

/** One Python runtime process speaking frames over fd 3, as a sandbox's would. */
class PythonRuntime {
  private readonly child: ChildProcess;
  private readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];

  constructor(codeDir: string) {
    const runtimeDir = join(REPO_ROOT, 'dist/src/runtimes');
    const { command, env } = runtimeCommand('python3', 128);
    const sub = (s: string) => s.replaceAll('${CODE}', codeDir).replaceAll('${RUNTIME}', runtimeDir);
    const [program, ...args] = command.map(sub);
    this.child = spawn(program!, args, {
      env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, sub(v)])),
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    });
    const decoder = new FrameDecoder((header, payload) => {
      this.frames.push({ header: header as Record<string, any>, payload: Buffer.from(payload) });
      for (const wake of this.waiters.splice(0)) wake();
    });
    (this.child.stdio[3] as Readable).on('data', (chunk: Buffer) => decoder.push(chunk));
  }

  send(header: object, payload?: Buffer): void {
    (this.child.stdio[3] as Writable).write(encodeFrame(header, payload));
  }

  /** The next frame that `match` accepts, and every frame before it. */
  async until(match: (f: Frame) => boolean): Promise<{ frame: Frame; before: Frame[] }> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const at = this.frames.findIndex(match);
      if (at !== -1) {
        const before = this.frames.splice(0, at + 1);
        return { frame: before.pop()!, before };
      }
      if (Date.now() > deadline) throw new Error(`no matching frame; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  async start(handler: string, env: Record<string, string> = {}): Promise<void> {
    const answer = await this.init(handler, env);
    assert.equal(answer.header.t, 'inited', JSON.stringify(answer.header));
  }

  async init(handler: string, env: Record<string, string> = {}): Promise<Frame> {
    await this.until((f) => f.header.t === 'ready');
    this.send({
      t: 'init',
      functionName: 'wired',
      functionVersion: '$LATEST',
      functionArn: 'arn:aws:lambda:eu-central-1:123456789012:function:wired',
      handler,
      memoryMb: 128,
      timeoutSec: 3,
      concurrency: 1,
      env,
    });
    const { frame } = await this.until((f) => f.header.t === 'inited' || f.header.t === 'init_error');
    return frame;
  }

  async invoke(
    id: string,
    extra: object = {},
    event: unknown = {},
  ): Promise<{ result: Frame; logs: string[] }> {
    this.send({ t: 'invoke', id, deadline: Date.now() + 3000, ...extra }, Buffer.from(JSON.stringify(event)));
    const { frame, before } = await this.until((f) => f.header.t === 'result' && f.header.id === id);
    return {
      result: frame,
      logs: before.filter((f) => f.header.t === 'log').map((f) => f.header.d as string),
    };
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

describe('the Python runtime over its wire protocol', () => {
  const runtimes: PythonRuntime[] = [];
  const runtime = (): PythonRuntime => {
    const started = new PythonRuntime(join(FIXTURES, 'python-handlers'));
    runtimes.push(started);
    return started;
  };
  after(() => runtimes.forEach((r) => r.stop()));

  it("hands a call's invoked ARN, trace header and client context to the function", async () => {
    const python = runtime();
    await python.start('main.context_fields', { AWS_REGION: 'eu-central-1' });
    const trace = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
    const clientContext = {
      client: { installation_id: 'install-1', app_title: 'Notes' },
      custom: { tier: 'gold' },
      env: { locale: 'en-GB' },
    };
    const { result } = await python.invoke('call-1', {
      arn: 'arn:aws:lambda:eu-central-1:123456789012:function:wired:live',
      trace,
      cc: JSON.stringify(clientContext),
    });
    assert.equal(result.header.ok, true, JSON.stringify(result.header));
    const context = JSON.parse(result.payload.toString('utf8'));
    assert.equal(
      context.invoked_function_arn,
      'arn:aws:lambda:eu-central-1:123456789012:function:wired:live',
    );
    assert.equal(context.trace_id, trace);
    assert.deepEqual(context.client_context, {
      custom: { tier: 'gold' },
      env: { locale: 'en-GB' },
      installation_id: 'install-1',
    });
    assert.equal(context.fc_function.qualifier, 'live');
    assert.equal(context.region, 'eu-central-1');
    assert.equal(context.account_id, '123456789012');

    // A plain call: the function's own ARN, no client context, a fresh trace id.
    const plain = JSON.parse((await python.invoke('call-2')).result.payload.toString('utf8'));
    assert.equal(plain.invoked_function_arn, 'arn:aws:lambda:eu-central-1:123456789012:function:wired');
    assert.equal(plain.client_context, null);
    assert.match(plain.trace_id, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);

    const bad = await python.invoke('call-3', { cc: '{not json' });
    assert.equal(bad.result.header.ok, false);
    assert.equal(bad.result.header.error.type, 'Runtime.LambdaContextUnmarshalError');
    assert.match(bad.result.header.error.message, /^Unable to parse Client Context JSON: /);
  });

  it('writes JSON log records when the platform sets AWS_LAMBDA_LOG_FORMAT=JSON, at AWS_LAMBDA_LOG_LEVEL', async () => {
    const python = runtime();
    await python.start('main.log_levels', { AWS_LAMBDA_LOG_FORMAT: 'JSON', AWS_LAMBDA_LOG_LEVEL: 'DEBUG' });
    const { result, logs } = await python.invoke('call-json');
    assert.equal(result.header.ok, true);
    const records = logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    assert.deepEqual(
      records.map((r) => [r.level, r.message, r.logger, r.requestId]),
      [
        ['DEBUG', 'debug line', 'main', 'call-json'],
        ['INFO', 'info line', 'main', 'call-json'],
        ['WARNING', 'warning line\nsecond line of the same record', 'main', 'call-json'],
      ],
    );
    assert.match(records[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(logs.includes('printed line\n'), 'print output stays text');
  });

  it('logs an unhandled error as one JSON record in JSON mode', async () => {
    const python = runtime();
    await python.start('main.fail', { AWS_LAMBDA_LOG_FORMAT: 'JSON' });
    const { result, logs } = await python.invoke('call-fail', {}, { why: 'json' });
    assert.equal(result.header.ok, false);
    const record = JSON.parse(logs.find((l) => l.startsWith('{'))!);
    assert.equal(record.log_level, 'ERROR');
    assert.equal(record.errorType, 'ValueError');
    assert.equal(record.errorMessage, 'exploded: json');
    assert.equal(record.requestId, 'call-fail');
    assert.equal(record.stackTrace.length, 2);
  });

  it('answers a handler without a dot with Runtime.MalformedHandlerName (the API refuses it sooner)', async () => {
    const answer = await runtime().init('main');
    assert.equal(answer.header.t, 'init_error');
    assert.deepEqual(answer.header.error, {
      type: 'Runtime.MalformedHandlerName',
      message: "Bad handler 'main': not enough values to unpack (expected 2, got 1)",
    });
  });
});
