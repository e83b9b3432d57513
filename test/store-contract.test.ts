/**
 * Runs the Store, AsyncQueue and LayerStore contracts (test/contracts/) against every database
 * adapter (SQLite, and PostgreSQL on the local server), and the SQLite adapter's own specifics. A new adapter is one more entry in `adapters`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Store } from '../src/core/ports.js';
import { PostgresStore } from '../src/store/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { asyncQueueContract } from './contracts/async-queue-contract.js';
import { layerStoreContract } from './contracts/layer-store-contract.js';
import { at, execution, fnRecord, logLine } from './contracts/records.js';
import type { StoreAdapter } from './contracts/store-adapter.js';
import { storeContract } from './contracts/store-contract.js';
import pg from 'pg';
import { createTestDatabase } from './helpers/postgres.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-store-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** SQLite: each store is a new database file under a temporary directory. */
function sqliteAdapter(): StoreAdapter {
  const files = new Map<Store, string>();
  let counter = 0;
  return {
    name: 'SQLite',
    create: async () => {
      const file = path.join(tmp, `store-${counter++}.db`);
      const store = SqliteStore.open(file);
      files.set(store, file);
      return store;
    },
    reopen: async (closed) => {
      const file = files.get(closed);
      assert.ok(file, 'reopen of a store this adapter did not open');
      return SqliteStore.open(file);
    },
  };
}

/**
 * PostgreSQL: one database per run (nimbus_test_<random>, dropped after), each store a new schema
 * in it, reached through the URL's `options=-c search_path=…`.
 */
function postgresAdapter(): StoreAdapter {
  const database = createTestDatabase();
  after(async () => (await database).drop());
  const urls = new Map<Store, string>();
  let counter = 0;
  return {
    name: 'PostgreSQL',
    create: async () => {
      const url = await (await database).schemaUrl(`store_${counter++}`);
      const store = await PostgresStore.open(url);
      urls.set(store, url);
      return store;
    },
    reopen: async (closed) => {
      const url = urls.get(closed);
      assert.ok(url, 'reopen of a store this adapter did not open');
      return PostgresStore.open(url);
    },
  };
}

const adapters: StoreAdapter[] = [sqliteAdapter(), postgresAdapter()];

for (const adapter of adapters) {
  storeContract(adapter);
  asyncQueueContract(adapter);
  layerStoreContract(adapter);
}

describe('PostgresStore specifics', () => {
  test('every text column compares byte by byte (COLLATE "C"), as SQLite does, whatever the locale', async () => {
    const database = await createTestDatabase();
    try {
      const store = await PostgresStore.open(database.url);
      await store.migrate();
      await store.close();
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query<{
          table_name: string;
          column_name: string;
          collation_name: string | null;
        }>(
          `SELECT table_name, column_name, collation_name FROM information_schema.columns
           WHERE table_schema = 'public' AND data_type = 'text'`,
        );
        assert.ok(rows.length > 50, `only ${rows.length} text columns`);
        assert.deepEqual(
          rows.filter((r) => r.collation_name !== 'C'),
          [],
        );
      } finally {
        await client.end();
      }
    } finally {
      await database.drop();
    }
  });

  test('a URL that is not postgres:// is refused with what to give instead', async () => {
    await assert.rejects(
      PostgresStore.open('mysql://root:pw@localhost/nimbus'),
      /must be a postgres:\/\/ URL/,
    );
  });
});

describe('SqliteStore specifics', () => {
  const mode = (file: string) => fs.statSync(file).mode & 0o777;

  test('the database file and its WAL files are readable by the owner only', async () => {
    const previous = process.umask(0o022);
    try {
      const file = path.join(tmp, 'nested', 'dir', 'mode.db');
      const store = SqliteStore.open(file);
      try {
        await store.migrate();
        await store.createFunction(fnRecord('secret', { env: { API_KEY: 'hunter2' } }));
        assert.equal(mode(file), 0o600);
        for (const side of [`${file}-wal`, `${file}-shm`]) {
          if (fs.existsSync(side)) assert.equal(mode(side), 0o600, side);
        }
      } finally {
        await store.close();
      }
    } finally {
      process.umask(previous);
    }
  });

  test('opening an existing, too-open file tightens its mode', async () => {
    const file = path.join(tmp, 'loose.db');
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o644);
    const store = SqliteStore.open(file);
    await store.close();
    assert.equal(mode(file), 0o600);
  });

  test(':memory: opens a private in-memory database', async () => {
    const store = SqliteStore.open(':memory:');
    try {
      await store.migrate();
      await store.createFunction(fnRecord('mem'));
      assert.equal((await store.listFunctions()).length, 1);
      assert.equal(fs.existsSync(':memory:'), false);
      // Without a file there is no writer thread: batches go through the shared kysely queries.
      const e = execution('m1', 'mem', at(0));
      await store.writeBatch([e], [logLine('m1', 'mem', 0, at(0))]);
      assert.equal((await store.getExecution('m1'))?.status, 'succeeded');
      assert.equal((await store.getLogs('m1')).length, 1);
    } finally {
      await store.close();
    }
  });
});
