/**
 * Lambda response streaming for Node functions (issue 11 item 7), through a real server, real
 * sandboxes and real clients: handlers wrapped in `awslambda.streamifyResponse` called with the
 * AWS SDK v3's InvokeWithResponseStreamCommand (chunks as they are written, a handler that does
 * not stream, an error mid-stream, a qualifier, Log tail, grants) and through `lambda`-style HTTP
 * triggers as function URLs in RESPONSE_STREAM mode serve them (`HttpResponseStream.from`'s
 * status, headers and cookies, chunks as they come, a slow client pacing the function, a client
 * that goes away, and a hostile function flooding 200 MB while the server's memory stays bounded).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  InvokeCommand,
  InvokeWithResponseStreamCommand,
  LambdaClient,
  ResourceNotFoundException,
  type InvokeWithResponseStreamCommandOutput,
} from '@aws-sdk/client-lambda';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { FIXTURES, REPO_ROOT, startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { createAccessKey, lambdaClient, type AccessKey } from './helpers/lambda-client.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every event of a stream, with the time each arrived. */
async function eventsOf(response: InvokeWithResponseStreamCommandOutput): Promise<{
  chunks: { text: string; at: number }[];
  complete: { ErrorCode?: string; ErrorDetails?: string; LogResult?: string } | undefined;
}> {
  const chunks: { text: string; at: number }[] = [];
  let complete;
  for await (const event of response.EventStream!) {
    if (event.PayloadChunk?.Payload)
      chunks.push({ text: Buffer.from(event.PayloadChunk.Payload).toString('utf8'), at: Date.now() });
    if (event.InvokeComplete) complete = event.InvokeComplete;
  }
  return { chunks, complete };
}

describe('response streaming', () => {
  let nimbus: TestServer;
  let key: AccessKey;
  let client: LambdaClient;
  const call = (path: string, init: RequestInit = {}) => fetch(nimbus.url + path, init);
  const execution = async (id: string | null) => (await nimbus.request('GET', `/v1/executions/${id}`)).body;

  /** The middy fixture with @middy/core in its node_modules, as a user's zip has it. */
  async function deployMiddy(name: string): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-middy-'));
    try {
      cpSync(join(FIXTURES, 'node-stream-middy'), dir, { recursive: true });
      cpSync(join(REPO_ROOT, 'node_modules/@middy/core'), join(dir, 'node_modules/@middy/core'), {
        recursive: true,
        dereference: true,
      });
      const zip = await packDirectory(dir);
      const res = await nimbus.request('POST', '/v1/functions', {
        json: {
          name,
          runtime: 'nodejs',
          handler: 'index.handler',
          code: { zipBase64: zip.toString('base64') },
        },
      });
      assert.equal(res.status, 201, res.text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  before(async () => {
    nimbus = await startTestServer();
    await Promise.all([
      nimbus.deploy('streamer', 'node-stream', 'nodejs', 'index.handler', { timeoutSec: 120 }),
      nimbus.deploy('plain', 'node-stream', 'nodejs', 'index.plain'),
      nimbus.deploy('short', 'node-stream', 'nodejs', 'index.handler', { timeoutSec: 1 }),
      nimbus.deploy('py', 'python-lambda', 'python3', 'main.handler'),
      nimbus.deploy('shared', 'node-stream', 'nodejs', 'index.handler', { concurrency: 4 }),
      nimbus.deploy('probe', 'node-stream', 'nodejs', 'probe.handler'),
    ]);
    await deployMiddy('middy');
    for (const fn of ['streamer', 'plain', 'middy']) {
      const res = await nimbus.request('POST', `/v1/functions/${fn}/triggers`, {
        json: { type: 'http', auth: 'anonymous', style: 'lambda' },
      });
      assert.equal(res.status, 201, res.text);
    }
    key = await createAccessKey(nimbus);
    client = lambdaClient(nimbus, key);
  });
  after(async () => {
    client?.destroy();
    await nimbus?.close();
  });

  it('defines the awslambda global before the module loads', async () => {
    const seen = await nimbus.invoke('probe');
    assert.deepEqual(seen.body, { atLoad: 'object', streamifyResponse: 'function', from: 'function' });
  });

  describe('InvokeWithResponseStream (AWS SDK v3)', () => {
    it('delivers each chunk as the function writes it, then InvokeComplete', async () => {
      const started = Date.now();
      const response = await client.send(
        new InvokeWithResponseStreamCommand({
          FunctionName: 'streamer',
          Payload: Buffer.from(JSON.stringify({ mode: 'chunks' })),
        }),
      );
      assert.equal(response.StatusCode, 200);
      assert.equal(response.ResponseStreamContentType, 'text/plain');
      assert.equal(response.ExecutedVersion, '$LATEST');
      const { chunks, complete } = await eventsOf(response);
      const text = chunks.map((c) => c.text).join('');
      assert.match(text, /^one\ntwo\nthree [0-9a-f-]{36}\n$/);
      assert.ok(chunks.length >= 3, `expected separate chunks, got ${chunks.length}`);
      // The first chunk came before the function's pauses were over.
      assert.ok(chunks[0]!.at - started < chunks.at(-1)!.at - started - 600, 'chunks arrived at once');
      assert.deepEqual(complete, {});
      const id = /three (\S+)/.exec(text)![1]!;
      const record = await execution(id);
      assert.equal(record.status, 'succeeded');
      assert.equal(JSON.parse(record.output).bytes, Buffer.byteLength(text));
    });

    it('writes objects as JSON and carries the HttpResponseStream prelude as bytes', async () => {
      const json = await eventsOf(
        await client.send(
          new InvokeWithResponseStreamCommand({
            FunctionName: 'streamer',
            Payload: Buffer.from('{"mode":"json"}'),
          }),
        ),
      );
      assert.equal(json.chunks.map((c) => c.text).join(''), '{"written":"as JSON"}');
      const response = await client.send(
        new InvokeWithResponseStreamCommand({
          FunctionName: 'streamer',
          Payload: Buffer.from('{"mode":"http"}'),
        }),
      );
      assert.equal(response.ResponseStreamContentType, 'application/vnd.awslambda.http-integration-response');
      const text = (await eventsOf(response)).chunks.map((c) => c.text).join('');
      const [prelude, body] = text.split('\0'.repeat(8));
      assert.equal(JSON.parse(prelude!).statusCode, 201);
      assert.equal(body, '<p>first</p><p>second</p>');
    });

    it('returns a handler that does not stream (Node or Python) as one chunk, and its error in InvokeComplete', async () => {
      const ok = await client.send(
        new InvokeWithResponseStreamCommand({ FunctionName: 'plain', Payload: Buffer.from('{"a":1}') }),
      );
      assert.equal(ok.ResponseStreamContentType, 'application/json');
      const events = await eventsOf(ok);
      assert.equal(events.chunks.length, 1);
      assert.deepEqual(JSON.parse(events.chunks[0]!.text), { hello: 'world', event: { a: 1 } });
      assert.deepEqual(events.complete, {});

      const python = await eventsOf(
        await client.send(
          new InvokeWithResponseStreamCommand({ FunctionName: 'py', Payload: Buffer.from('{"name":"Ada"}') }),
        ),
      );
      assert.equal(python.chunks.length, 1);
      assert.equal(JSON.parse(python.chunks[0]!.text).greeting, 'Hello, Ada!');

      const failed = await eventsOf(
        await client.send(
          new InvokeWithResponseStreamCommand({
            FunctionName: 'plain',
            Payload: Buffer.from('{"fail":true}'),
          }),
        ),
      );
      assert.equal(failed.chunks.length, 0);
      assert.equal(failed.complete?.ErrorCode, 'Error');
      assert.equal(JSON.parse(failed.complete!.ErrorDetails!).errorMessage, 'plain failure');
    });

    it("gives a streaming call its caller's client context, trace id and invoked ARN", async () => {
      const trace = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
      const response = await client.send(
        new InvokeWithResponseStreamCommand({
          FunctionName: 'streamer',
          Payload: Buffer.from('{"mode":"context"}'),
          ClientContext: Buffer.from(JSON.stringify({ custom: { who: 'streamer-test' } })).toString('base64'),
        }),
      );
      const { chunks } = await eventsOf(response);
      const seen = JSON.parse(chunks.map((c) => c.text).join(''));
      assert.deepEqual(seen.clientContext.custom, { who: 'streamer-test' });
      assert.match(seen.trace, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
      assert.equal(seen.arn, 'arn:aws:lambda:us-east-1:000000000000:function:streamer');
      // Behind an HTTP trigger the request's trace header reaches the streaming call.
      const traced = await call('/fn/streamer/?mode=context', { headers: { 'x-amzn-trace-id': trace } });
      assert.equal(traced.status, 200);
      assert.equal(JSON.parse(await traced.text()).trace, trace);
    });

    it('ends with the error when the function throws mid-stream, after the bytes it wrote', async () => {
      const response = await client.send(
        new InvokeWithResponseStreamCommand({
          FunctionName: 'streamer',
          Payload: Buffer.from('{"mode":"boom"}'),
          LogType: 'Tail',
        }),
      );
      const { chunks, complete } = await eventsOf(response);
      assert.equal(chunks.map((c) => c.text).join(''), 'partial ');
      assert.equal(complete?.ErrorCode, 'Error');
      const details = JSON.parse(complete!.ErrorDetails!);
      assert.equal(details.errorType, 'Error');
      assert.equal(details.errorMessage, 'stream failed midway');
      // The failure is in the log as Lambda's Node runtime writes it, between START and END.
      assert.match(
        Buffer.from(complete!.LogResult!, 'base64').toString('utf8'),
        /START RequestId: .*\tERROR\tInvoke Error \t\{"errorType":"Error","errorMessage":"stream failed midway".*\nEND RequestId/s,
      );

      const early = await eventsOf(
        await client.send(
          new InvokeWithResponseStreamCommand({
            FunctionName: 'streamer',
            Payload: Buffer.from('{"mode":"early-boom"}'),
          }),
        ),
      );
      assert.equal(early.chunks.length, 0);
      assert.equal(early.complete?.ErrorCode, 'TypeError');
    });

    it('stops the function when the client goes away', async () => {
      const abort = new AbortController();
      const response = await client.send(
        new InvokeWithResponseStreamCommand({
          FunctionName: 'streamer',
          Payload: Buffer.from('{"mode":"big","mb":60}'),
        }),
        { abortSignal: abort.signal },
      );
      const events = response.EventStream![Symbol.asyncIterator]();
      assert.ok((await events.next()).value.PayloadChunk);
      abort.abort();
      await assert.rejects(async () => {
        for (;;) if ((await events.next()).done) break;
      });
      let record: any;
      await waitFor(async () => {
        const list = (await nimbus.request('GET', '/v1/executions?function=streamer')).body.executions;
        record = list.find((e: any) => e.output?.includes('client closed'));
        return record !== undefined && record.status !== 'running';
      }, 'the cut-off execution to end');
      assert.ok(JSON.parse(record.output).bytes < 60 * 1024 * 1024);
    });

    it('keeps the streams of calls running at once on one instance apart', async () => {
      const texts = await Promise.all(
        [0, 1, 2].map(async () => {
          const response = await client.send(
            new InvokeWithResponseStreamCommand({
              FunctionName: 'shared',
              Payload: Buffer.from('{"mode":"chunks"}'),
            }),
          );
          return (await eventsOf(response)).chunks.map((c) => c.text).join('');
        }),
      );
      const ids = texts.map((text) => {
        assert.match(text, /^one\ntwo\nthree \S+\n$/);
        return /three (\S+)/.exec(text)![1]!;
      });
      assert.equal(new Set(ids).size, 3);
      const records = await Promise.all(ids.map((id) => execution(id)));
      assert.equal(new Set(records.map((r) => r.instanceId)).size, 1, 'the calls ran on different instances');
    });

    it('times out a handler that never ends its stream, after the bytes it wrote', async () => {
      const { chunks, complete } = await eventsOf(
        await client.send(
          new InvokeWithResponseStreamCommand({
            FunctionName: 'short',
            Payload: Buffer.from('{"mode":"no-end"}'),
          }),
        ),
      );
      assert.equal(chunks.map((c) => c.text).join(''), 'started');
      assert.equal(complete?.ErrorCode, 'Sandbox.Timedout', "Lambda's error type for a timeout");
      assert.match(JSON.parse(complete!.ErrorDetails!).errorMessage, /Task timed out after 1.00 seconds/);
    });

    it('runs the version a qualifier names', async () => {
      const published = await nimbus.request('POST', '/v1/functions/streamer/versions', { json: {} });
      assert.equal(published.status, 201, published.text);
      const version = String(published.body.version);
      const response = await client.send(
        new InvokeWithResponseStreamCommand({
          FunctionName: 'streamer',
          Qualifier: version,
          Payload: Buffer.from('{"mode":"chunks"}'),
        }),
      );
      assert.equal(response.ExecutedVersion, version);
      const text = (await eventsOf(response)).chunks.map((c) => c.text).join('');
      const record = await execution(/three (\S+)/.exec(text)![1]!);
      assert.equal(record.version, version);
      await assert.rejects(
        client.send(new InvokeWithResponseStreamCommand({ FunctionName: 'streamer', Qualifier: '99' })),
        ResourceNotFoundException,
      );
    });

    it('refuses what Lambda refuses before the stream starts, with Lambda errors', async () => {
      await assert.rejects(
        client.send(new InvokeWithResponseStreamCommand({ FunctionName: 'nope' })),
        ResourceNotFoundException,
      );
      await assert.rejects(
        client.send(
          new InvokeWithResponseStreamCommand({ FunctionName: 'streamer', Payload: Buffer.from('{oops') }),
        ),
        (err: Error) => err.name === 'InvalidRequestContentException',
      );
      const dry = await client.send(
        new InvokeWithResponseStreamCommand({ FunctionName: 'streamer', InvocationType: 'DryRun' }),
      );
      assert.equal(dry.StatusCode, 204);
      const limited = lambdaClient(nimbus, await createAccessKey(nimbus, { allow: ['invoke:plain'] }));
      await assert.rejects(
        limited.send(new InvokeWithResponseStreamCommand({ FunctionName: 'streamer' })),
        (err: Error) => err.name === 'AccessDeniedException',
      );
      limited.destroy();
    });

    it('gives plain Invoke of a streaming handler its bytes whole, as Lambda does', async () => {
      const res = await client.send(
        new InvokeCommand({ FunctionName: 'streamer', Payload: Buffer.from('{"mode":"chunks"}') }),
      );
      assert.equal(res.FunctionError, undefined);
      assert.match(Buffer.from(res.Payload!).toString('utf8'), /^one\ntwo\nthree \S+\n$/);
    });
  });

  describe('HTTP triggers (function URL RESPONSE_STREAM)', () => {
    it('sends the status, headers and cookies of HttpResponseStream.from, then the body as it comes', async () => {
      const started = Date.now();
      const res = await call('/fn/streamer/?mode=http');
      const headersAt = Date.now() - started;
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('content-type'), 'text/html');
      assert.equal(res.headers.get('x-custom'), 'yes');
      assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2']);
      const reader = res.body!.getReader();
      const first = await reader.read();
      const firstAt = Date.now() - started;
      assert.equal(Buffer.from(first.value!).toString(), '<p>first</p>');
      let rest = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += Buffer.from(value).toString();
      }
      const endAt = Date.now() - started;
      assert.equal(rest, '<p>second</p>');
      assert.ok(firstAt < endAt - 300, `the first chunk (${firstAt} ms) came with the end (${endAt} ms)`);
      assert.ok(headersAt < endAt - 300);
      const record = await execution(res.headers.get('x-nimbus-execution-id'));
      assert.equal(record.status, 'succeeded');
      assert.deepEqual(JSON.parse(record.output), {
        status: 201,
        headers: { 'content-type': 'text/html', 'x-custom': 'yes', 'set-cookie': 'a=1; Path=/, b=2' },
        bytes: JSON.parse(record.output).bytes,
      });
    });

    it('serves a stream without a prelude as a 200 of its content type, and a prelude with no body', async () => {
      const res = await call('/fn/streamer/?mode=chunks');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain');
      assert.match(await res.text(), /^one\ntwo\nthree \S+\n$/);
      const empty = await call('/fn/streamer/?mode=empty-http');
      assert.equal(empty.status, 204);
      assert.equal(await empty.text(), '');
    });

    it("serves the README's example", async () => {
      await nimbus.deploy('example', '../../examples/stream-node', 'nodejs', 'index.handler');
      const trigger = await nimbus.request('POST', '/v1/functions/example/triggers', {
        json: { type: 'http', auth: 'anonymous' },
      });
      assert.equal(trigger.status, 201, trigger.text);
      const res = await call('/fn/example/');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain');
      assert.match(await res.text(), /^chunk 1 of \S+\nchunk 2 of \S+\nchunk 3 of \S+\n$/);
    });

    it('streams a middy handler (streamifyResponse: true) with its status and headers', async () => {
      const started = Date.now();
      const res = await call('/fn/middy/');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-middy'), 'yes');
      const reader = res.body!.getReader();
      const first = Buffer.from((await reader.read()).value!).toString();
      const firstAt = Date.now() - started;
      let text = first;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
      assert.match(text, /^line 1 of \S+\nline 2 of \S+\nline 3 of \S+\n$/);
      assert.ok(firstAt < Date.now() - started - 400, 'the lines arrived at once');

      const response = await client.send(new InvokeWithResponseStreamCommand({ FunctionName: 'middy' }));
      const { chunks, complete } = await eventsOf(response);
      const [prelude, body] = chunks
        .map((c) => c.text)
        .join('')
        .split('\0'.repeat(8));
      assert.deepEqual(JSON.parse(prelude!), {
        statusCode: 200,
        headers: { 'content-type': 'text/plain', 'x-middy': 'yes' },
      });
      assert.match(body!, /^line 1 of /);
      assert.deepEqual(complete, {});
    });

    it('keeps mapping the result of a handler that does not stream', async () => {
      const res = await call('/fn/plain/');
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'plain');
    });

    it('answers 502 for a bad prelude or an error before the first byte, and cuts the body on a later error', async () => {
      const bad = await call('/fn/streamer/?mode=bad-prelude');
      assert.equal(bad.status, 502);
      assert.match(((await bad.json()) as any).error.message, /statusCode must be an integer/);
      const early = await call('/fn/streamer/?mode=early-boom');
      assert.equal(early.status, 502);
      assert.match(((await early.json()) as any).error.message, /failed before the first byte/);
      const late = await call('/fn/streamer/?mode=boom');
      assert.equal(late.status, 200);
      await assert.rejects(late.text());
    });

    it('paces the function by a slow client, and streams 20 MB intact', async () => {
      const res = await call('/fn/streamer/?mode=big&mb=20');
      assert.equal(res.status, 200);
      const id = res.headers.get('x-nimbus-execution-id');
      const reader = res.body!.getReader();
      const hash = createHash('sha256');
      let bytes = 0;
      const first = await reader.read();
      hash.update(first.value!);
      bytes += first.value!.length;
      // The client stops reading: the function cannot run ahead by more than a window and buffers.
      await sleep(1500);
      assert.equal(
        (await execution(id)).status,
        'running',
        'the function finished while the client was not reading',
      );
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        bytes += value.length;
      }
      assert.equal(bytes, 20 * 1024 * 1024);
      assert.equal(
        hash.digest('hex'),
        createHash('sha256')
          .update(Buffer.alloc(20 * 1024 * 1024, 'x'))
          .digest('hex'),
      );
      await waitFor(async () => (await execution(id)).status === 'succeeded', 'the execution to succeed');
    });

    it('stops the function when the client goes away, and keeps the instance', async () => {
      const abort = new AbortController();
      const res = await call('/fn/streamer/?mode=big&mb=60', { signal: abort.signal });
      const id = res.headers.get('x-nimbus-execution-id');
      await res.body!.getReader().read();
      abort.abort();
      let record: any;
      await waitFor(async () => {
        record = await execution(id);
        return record.status !== 'running';
      }, 'the cut-off execution to end');
      const summary = JSON.parse(record.output);
      assert.ok(summary.bytes < 60 * 1024 * 1024);
      assert.match(summary.cut, /client closed the connection/);
      const again = await call('/fn/streamer/?mode=chunks');
      assert.equal(again.status, 200);
      assert.match(await again.text(), /three/);
    });

    for (const mode of ['flood', 'flood-ignoring']) {
      it(`bounds the server memory under a 200 MB ${mode} to a slow reader and cuts the body at the limit`, async () => {
        global.gc?.();
        const rssBefore = process.memoryUsage().rss;
        let peak = rssBefore;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
        const res = await call(`/fn/streamer/?mode=${mode}`);
        const id = res.headers.get('x-nimbus-execution-id');
        const reader = res.body!.getReader();
        let bytes = 0;
        let reads = 0;
        let cutOff = false;
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            bytes += value.length;
            // A slow reader: a pause every few megabytes.
            if (++reads % 64 === 0) await sleep(5);
          }
        } catch {
          cutOff = true;
        }
        clearInterval(sampler);
        assert.ok(cutOff, 'the body was not cut off');
        assert.ok(bytes <= 100 * 1024 * 1024, `got ${bytes} bytes`);
        assert.ok(bytes > 90 * 1024 * 1024, `got only ${bytes} bytes`);
        const growth = (peak - rssBefore) / 1024 / 1024;
        assert.ok(growth < 64, `the server grew by ${growth.toFixed(0)} MB`);
        let record: any;
        await waitFor(async () => {
          record = await execution(id);
          return record.status !== 'running';
        }, 'the flooding execution to end');
        assert.match(JSON.parse(record.output).cut, /passed the limit/);
      });
    }

    it('answers 502 for a prelude that never ends, holding at most 64 KB of it', async () => {
      const res = await call('/fn/streamer/?mode=endless-prelude');
      assert.equal(res.status, 502);
      assert.match(((await res.json()) as any).error.message, /no HttpResponseStream prelude end/);
      let record: any;
      await waitFor(async () => {
        record = await execution(res.headers.get('x-nimbus-execution-id'));
        return record.status !== 'running';
      }, 'the execution to end');
      assert.ok(JSON.parse(record.output).bytes < 1024 * 1024);
    });
  });
});
