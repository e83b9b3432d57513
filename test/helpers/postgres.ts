/**
 * Throwaway PostgreSQL databases for tests: each call creates `nimbus_test_<random>` on the server
 * at NIMBUS_TEST_DATABASE_URL (default: the local server, user postgres, trust auth) and drops it
 * again. Schemas inside one database give many fresh stores cheaply (see `schemaUrl`).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const ADMIN_URL = process.env.NIMBUS_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  /** postgres:// URL of the new, empty database. */
  url: string;
  /** A URL of the same database whose connections use schema `name` (created empty if missing). */
  schemaUrl(name: string): Promise<string>;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `nimbus_test_${randomBytes(6).toString('hex')}`;
  await admin(ADMIN_URL, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async schemaUrl(schema: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
      await admin(url.toString(), (c) => c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`));
      const scoped = new URL(url);
      scoped.searchParams.set('options', `-c search_path=${schema}`);
      return scoped.toString();
    },
    async drop() {
      await admin(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
