/**
 * The AccessKeyStore port over kysely: one table of the metadata database, shared by SQLite and
 * PostgreSQL. It must never use raw SQL or dialect-only features.
 */
import type { Kysely } from 'kysely';
import type { AccessKeyRecord } from '../core/access-key.js';
import type { AccessKeyStore } from '../core/ports.js';
import type { AccessKeysTable, Database } from './schema.js';

function rowToAccessKey(row: AccessKeysTable): AccessKeyRecord {
  return {
    id: row.id,
    secret: row.secret,
    allow: row.allow_json === null ? null : (JSON.parse(row.allow_json) as string[]),
    description: row.description,
    createdAt: row.created_at,
  };
}

export class KyselyAccessKeyStore implements AccessKeyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(key: AccessKeyRecord): Promise<void> {
    await this.db
      .insertInto('access_keys')
      .values({
        id: key.id,
        secret: key.secret,
        allow_json: key.allow === null ? null : JSON.stringify(key.allow),
        description: key.description,
        created_at: key.createdAt,
      })
      .execute();
  }

  async get(id: string): Promise<AccessKeyRecord | undefined> {
    const row = await this.db.selectFrom('access_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row && rowToAccessKey(row);
  }

  async list(): Promise<AccessKeyRecord[]> {
    const rows = await this.db
      .selectFrom('access_keys')
      .selectAll()
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return rows.map(rowToAccessKey);
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('access_keys').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
