/**
 * Hostile fixtures for the server's own log: a platform failure (a code package gone from the data
 * dir) is logged at error level with its cause and the execution it broke, and clients that hang up
 * mid-request (on every front door) leave no error-level line, only debug ones.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startTestServer, waitFor } from '../helpers/harness.js';

interface LogEntry {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A log destination that keeps every line, parsed. */
function capturedLog(): { stream: Writable; lines: LogEntry[] } {
  const lines: LogEntry[] = [];
  let pending = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const part of parts) if (part) lines.push(JSON.parse(part) as LogEntry);
      done();
    },
  });
  return { stream, lines };
}

async function startLogged(dataDir: string): Promise<{ server: RunningServer; lines: LogEntry[] }> {
  const { stream, lines } = capturedLog();
  const config = loadConfig({ port: 0, logLevel: 'debug', flushIntervalMs: 10, dataDir }, {}, undefined);
  return { server: await startServer(config, { logStream: stream }), lines };
}

const ERROR = 50;

describe('hostile: platform errors are logged with their cause; hang-ups are not errors', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('logs a platform error with its cause and execution id', async () => {
    const first = await startTestServer();
    await first.deploy('orphan', 'node-async', 'nodejs', 'index.handler');
    await first.stop();
    // The operator (or a disk failure) lost the function's code.
    for (const dir of ['code', 'packages']) {
      for (const entry of readdirSync(join(first.dataDir, dir))) {
        rmSync(join(first.dataDir, dir, entry), { recursive: true, force: true });
      }
    }
    const { server, lines } = await startLogged(first.dataDir);
    cleanups.push(async () => {
      await server.close();
      rmSync(first.dataDir, { recursive: true, force: true });
    });
    const res = await fetch(`${server.url}/v1/functions/orphan/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 500, await res.clone().text());
    const executionId = res.headers.get('x-nimbus-execution-id');
    assert.ok(executionId, 'the failed call has a record');
    await waitFor(
      async () => lines.some((l) => l.level >= ERROR && l.executionId === executionId),
      'the error line',
    );
    const line = lines.find((l) => l.level >= ERROR && l.executionId === executionId);
    assert.match(JSON.stringify(line), /missing from the code store/, 'the cause is in the line');
    assert.equal(line?.function, 'orphan');
  });

  it('logs clients that hang up mid-request at debug, never as errors', async () => {
    const seeded = await startTestServer();
    await seeded.deploy('slow', 'node-async', 'nodejs', 'index.handler');
    const trigger = await seeded.request('POST', '/v1/functions/slow/triggers', {
      json: { type: 'http', auth: 'anonymous' },
    });
    assert.equal(trigger.status, 201, trigger.text);
    await seeded.stop();
    const { server, lines } = await startLogged(seeded.dataDir);
    cleanups.push(async () => {
      await server.close();
      rmSync(seeded.dataDir, { recursive: true, force: true });
    });
    const port = Number(new URL(server.url).port);
    const hangUp = (head: string, body: string, declared: number) =>
      new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(
            `${head}\r\nHost: localhost\r\nAuthorization: Bearer ${server.adminKey}\r\n` +
              `Content-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n${body}`,
          );
          // Mid-body, or while the function runs: then the client is gone.
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 300);
        });
      });
    const calls: [string, string, number][] = [
      ['POST /v1/functions HTTP/1.1', '{"name":', 100_000],
      ['POST /v1/functions/slow/invoke HTTP/1.1', '{"sleepMs"', 100_000],
      ['POST /v1/functions/slow/invoke HTTP/1.1', '{"sleepMs":800}', 15],
      ['POST /2015-03-31/functions/slow/invocations HTTP/1.1', '{"a"', 100_000],
      ['GET /v1/functions/slow/logs?follow=true HTTP/1.1', '', 0],
      ['POST /fn/slow/x HTTP/1.1', '{"sleepMs":800}', 15],
    ];

    for (const [head, body, declared] of calls) await hangUp(head, body, declared);
    // Let the slow calls end and their answers meet the closed sockets.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const errors = lines.filter((l) => l.level >= ERROR);
    assert.deepEqual(errors, [], 'no error-level line for a client that hung up');
  });
});
