/**
 * The server with its state in PostgreSQL (`databaseUrl`), end to end: a real server on a throwaway
 * database deploys a function, invokes it synchronously and asynchronously, restarts, and reads the
 * function and both execution records back; nothing is written to a SQLite file.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';

describe('PostgreSQL store: a server with --database-url', () => {
  let database: TestDatabase;
  let nimbus: TestServer;

  before(async () => {
    database = await createTestDatabase();
    nimbus = await startTestServer({ databaseUrl: database.url });
  });
  after(async () => {
    await nimbus?.close();
    await database?.drop();
  });

  it('deploys, invokes sync and async, and reads everything back after a restart', async () => {
    await nimbus.deploy('echo', 'node-async', 'nodejs', 'index.handler');

    const sync = await nimbus.invoke('echo', { call: 'sync' });
    assert.equal(sync.status, 200, sync.text);
    assert.deepEqual(sync.body, { ok: true, event: { call: 'sync' } });
    const syncId = sync.headers.get('x-nimbus-execution-id');
    assert.ok(syncId);

    const queued = await nimbus.request('POST', '/v1/functions/echo/invoke', {
      json: { call: 'async' },
      headers: { 'x-nimbus-invocation-type': 'async' },
    });
    assert.equal(queued.status, 202, queued.text);
    const asyncId: string = queued.body.executionId;
    await waitFor(
      async () => (await nimbus.request('GET', `/v1/executions/${asyncId}`)).body.status === 'succeeded',
      'the async call to succeed',
    );

    nimbus = await nimbus.restart();

    const fn = await nimbus.request('GET', '/v1/functions/echo');
    assert.equal(fn.status, 200, fn.text);
    assert.equal(fn.body.runtime, 'nodejs');
    for (const [id, call, type] of [
      [syncId, 'sync', 'sync'],
      [asyncId, 'async', 'async'],
    ] as const) {
      const record = (await nimbus.request('GET', `/v1/executions/${id}`)).body;
      assert.equal(record.status, 'succeeded', JSON.stringify(record));
      assert.equal(record.invocationType, type);
      assert.deepEqual(JSON.parse(record.output), { ok: true, event: { call } });
    }
    const listed = await nimbus.request('GET', '/v1/executions?function=echo');
    assert.equal(listed.status, 200, listed.text);
    const ids = (listed.body.executions as { id: string }[]).map((e) => e.id);
    assert.deepEqual(ids.sort(), [syncId, asyncId].sort());

    // The records are PostgreSQL's, not a SQLite file's in the data dir.
    assert.equal(existsSync(join(nimbus.dataDir, 'nimbus.db')), false);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const rows = await client.query('SELECT id FROM executions ORDER BY id');
      assert.deepEqual(
        rows.rows.map((r: { id: string }) => r.id),
        [syncId, asyncId].sort(),
      );
    } finally {
      await client.end();
    }
  });

  it('refuses to start on a database it cannot reach, naming the server but not the password', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-pg-'));
    after(() => rmSync(dataDir, { recursive: true, force: true }));
    await assert.rejects(
      startTestServer({ dataDir, databaseUrl: 'postgres://nimbus:hunter2secret@127.0.0.1:1/nimbus' }),
      (err: Error) => {
        assert.match(
          err.message,
          /cannot connect to PostgreSQL at postgres:\/\/nimbus:\*\*\*@127\.0\.0\.1:1\/nimbus/,
        );
        assert.doesNotMatch(err.message, /hunter2secret/);
        return true;
      },
    );
  });
});
