/**
 * Hostile fixtures for asynchronous calls' destinations: an event nested 100,000 levels deep (which
 * JSON.stringify cannot encode) still reaches its destination, and a destination that cannot be
 * reached is never dropped silently: the execution's own log, read through the API, says so.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, waitFor, type TestServer } from '../helpers/harness.js';

const DEPTH = 100_000;
const DEEP = '['.repeat(DEPTH) + ']'.repeat(DEPTH);

describe('hostile: asynchronous destinations never drop a record silently', () => {
  let nimbus: TestServer;
  let hook: Server;
  let hookUrl: string;
  const received: string[] = [];

  before(async () => {
    nimbus = await startTestServer();
    hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(Buffer.concat(chunks).toString('utf8'));
        res.end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  });
  after(async () => {
    await nimbus.close();
    hook.close();
  });

  async function invokeAsync(name: string, body: string): Promise<string> {
    const res = await nimbus.request('POST', `/v1/functions/${name}/invoke`, {
      body,
      headers: { 'content-type': 'application/json', 'x-nimbus-invocation-type': 'async' },
    });
    assert.equal(res.status, 202, res.text);
    return res.body.executionId as string;
  }

  async function settled(id: string): Promise<any> {
    let record: any;
    await waitFor(async () => {
      record = (await nimbus.request('GET', `/v1/executions/${id}`)).body;
      return record.status === 'succeeded' || record.status === 'failed';
    }, `execution ${id} to end`);
    return record;
  }

  it('delivers a deeply nested event to its destination', async () => {
    const destination = { type: 'http', url: hookUrl };
    await nimbus.deploy('deep-source', 'node-async', 'nodejs', 'index.handler', {
      async: { maxRetries: 0, onSuccess: destination, onFailure: destination },
    });
    const id = await invokeAsync('deep-source', DEEP);
    await settled(id);
    await waitFor(async () => received.some((r) => r.includes(id)), 'the destination record');
    const record = received.find((r) => r.includes(id)) ?? '';
    // The record's requestPayload is the event as it was sent, every level of it.
    assert.ok(record.includes(`"requestPayload":${DEEP}`), 'the deep event is in the record as sent');
    const logs = await nimbus.request('GET', `/v1/executions/${id}/logs`);
    assert.ok(!logs.text.includes('was not reached'), logs.text);
  });

  it('records on the execution, visibly through the API, a destination that could not be reached', async () => {
    await nimbus.deploy('lost-sink', 'node-async', 'nodejs', 'index.handler');
    await nimbus.deploy('lost-source', 'node-async', 'nodejs', 'index.handler', {
      async: { maxRetries: 0, onSuccess: { type: 'function', name: 'lost-sink' } },
    });
    assert.equal((await nimbus.request('DELETE', '/v1/functions/lost-sink')).status, 204);
    const id = await invokeAsync('lost-source', JSON.stringify({ hello: 1 }));
    const record = await settled(id);
    assert.equal(record.status, 'succeeded');
    let lines: { stream: string; message: string }[] = [];
    await waitFor(async () => {
      lines = (await nimbus.request('GET', `/v1/executions/${id}/logs`)).body.lines;
      return lines.some((l) => l.message.includes('was not reached'));
    }, 'the failed delivery in the execution log');
    const line = lines.find((l) => l.message.includes('was not reached'));
    assert.equal(line?.stream, 'system');
    assert.match(
      line?.message ?? '',
      /on-success destination \(function 'lost-sink'\) was not reached: .*lost-sink/,
    );
  });
});
