/**
 * The embedded default Store: a single SQLite file opened with better-sqlite3. Opening the file, its
 * pragmas and permissions live here; the one hot-path write (the recorder's batches of execution
 * records and log lines) goes to a worker thread (sqlite-writer); every other query is in
 * KyselyStore. It must never leave the database readable by other users, since it holds function
 * environment variables (often secrets).
 */
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Execution, LogLine } from '../core/execution.js';
import { type DialectTraits, KyselyStore } from './kysely-store.js';
import { type Database, PORTABLE_COLUMN_TYPES } from './schema.js';
import { SqliteBatchWriter } from './sqlite-writer.js';

const FILE_MODE = 0o600;

const sqliteTraits: DialectTraits = {
  isUniqueViolation(err: unknown): boolean {
    const code = (err as { code?: unknown } | null)?.code;
    return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
  },
  lockClaims: false,
  columnTypes: PORTABLE_COLUMN_TYPES,
};

/** Tightens the mode of files that already exist; missing ones are not an error. */
function restrict(file: string): void {
  try {
    fs.chmodSync(file, FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export class SqliteStore extends KyselyStore {
  private constructor(
    db: Kysely<Database>,
    /** Writes record batches off the event loop; undefined for an in-memory database. */
    private readonly writer: SqliteBatchWriter | undefined,
  ) {
    super(db, sqliteTraits);
  }

  override async writeBatch(executions: Execution[], logs: LogLine[]): Promise<void> {
    if (executions.length === 0 && logs.length === 0) return;
    if (!this.writer) return super.writeBatch(executions, logs);
    await this.writer.write(executions, logs);
  }

  override async close(): Promise<void> {
    await this.writer?.close();
    await super.close();
  }

  /** Opens (creating if needed) the database file. `:memory:` gives a private in-memory database. */
  static open(file: string): SqliteStore {
    const inMemory = file === ':memory:';
    if (!inMemory) {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      // Create the file ourselves so it is never, even briefly, world-readable under the umask.
      fs.closeSync(fs.openSync(file, 'a', FILE_MODE));
      // An existing file keeps its old mode on open; tighten it (and any leftover WAL files) too.
      for (const f of [file, `${file}-wal`, `${file}-shm`]) restrict(f);
    }

    const sqlite = new SqliteDatabase(file);
    try {
      // WAL lets readers run while a batch is written. synchronous=NORMAL in WAL mode survives
      // process crashes; only an OS crash or power loss can drop the last commits.
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('synchronous = NORMAL');
      // Another process (e.g. the CLI) may hold the write lock briefly; wait instead of failing.
      sqlite.pragma('busy_timeout = 5000');
      sqlite.pragma('foreign_keys = ON');
    } catch (err) {
      sqlite.close();
      throw err;
    }
    // SQLite creates -wal and -shm with the database file's mode, so they are 0600 as well.
    return new SqliteStore(
      new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }),
      inMemory ? undefined : new SqliteBatchWriter(file),
    );
  }
}
