/**
 * The PostgreSQL Store (`--database-url postgres://…`): a pg connection pool under kysely's
 * PostgresDialect. Every query is KyselyStore's; this module only opens the pool and supplies the
 * dialect's traits. Record batches are written in one transaction each, directly (the recorder
 * already batches; SQLite's writer thread is SQLite-only). It must never log or echo the URL's password.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { type DialectTraits, KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';

/** SQLSTATE unique_violation (primary keys included). */
const UNIQUE_VIOLATION = '23505';

export const postgresTraits: DialectTraits = {
  isUniqueViolation(err: unknown): boolean {
    return (err as { code?: unknown } | null)?.code === UNIQUE_VIOLATION;
  },
  lockClaims: true,
  // Byte order, as SQLite compares text, whatever the database's locale.
  columnTypes: { text: sql`text COLLATE "C"` },
};

/** The URL with its password replaced by `***`, for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable database URL)';
  }
}

export class PostgresStore extends KyselyStore {
  private constructor(db: Kysely<Database>) {
    super(db, postgresTraits);
  }

  /**
   * Connects to the database at `url` (postgres://user:password@host:port/database); fails with a
   * message naming the server (never the password) when it cannot be reached.
   */
  static async open(url: string): Promise<PostgresStore> {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new Error(
        `--database-url must be a postgres:// URL (got ${redactDatabaseUrl(url)}); leave it unset to use SQLite in the data dir`,
      );
    }
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // An idle client that loses its connection emits 'error' on the pool; without a listener that
    // would crash the process. The next query gets a fresh connection.
    pool.on('error', () => {});
    try {
      const client = await pool.connect();
      client.release();
    } catch (err) {
      await pool.end();
      throw new Error(
        `cannot connect to PostgreSQL at ${redactDatabaseUrl(url)}: ${(err as Error).message}; check --database-url (NIMBUS_DATABASE_URL) and that the server is running`,
        { cause: err },
      );
    }
    return new PostgresStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }));
  }
}
