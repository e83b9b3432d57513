/**
 * The metadata database schema: kysely table types and the migrations that create them.
 * Column types stay portable (text, integer) so SQLite and PostgreSQL run the same migrations; the
 * one difference (text collation) comes in as ColumnTypes. It must never use raw SQL, and must never
 * alter a migration once released (add a new one instead).
 */
import type { Expression, Kysely } from 'kysely';
import { NimbusError } from '../core/errors.js';

// Every numeric column fits in 32 bits (sizes are capped at 250 MiB, durations at 900 s), so we use
// `integer` everywhere: PostgreSQL returns `bigint` as a string, which would leak into the mapping.
// Booleans are integer 0/1 and JSON is text for the same portability reason.

export interface FunctionsTable {
  name: string;
  runtime: string;
  handler: string;
  memory_mb: number;
  timeout_sec: number;
  concurrency: number;
  min_instances: number;
  max_instances: number;
  env_json: string;
  description: string;
  code_sha256: string;
  code_size: number;
  version: string;
  created_at: string;
  updated_at: string;
  /** AsyncConfig as JSON; null means the defaults (rows from before v5). */
  async_json: string | null;
  /** FunctionLayer[] as JSON (v8); null means none (rows from before v8). */
  layers_json: string | null;
  /** FunctionNetwork (v10); null means the default, internet (rows from before v10). */
  network: string | null;
}

export interface ExecutionsTable {
  id: string;
  function_name: string;
  version: string;
  trigger: string;
  status: string;
  outcome: string | null;
  /** ISO 8601 from `toISOString()`: ordering and `before` filters compare these as strings. */
  started_at: string;
  duration_ms: number | null;
  cold_start: number;
  input: string | null;
  input_truncated: number;
  output: string | null;
  output_truncated: number;
  error_json: string | null;
  instance_id: string | null;
  invocation_type: string;
  attempts: number;
  /** What the caller asked for (v6): a version number or alias; null for `$LATEST`. */
  qualifier: string | null;
  /** The REPORT line's facts (v8): the call's own time and the init's, in microseconds; peak memory in MB. */
  call_duration_us: number | null;
  init_duration_us: number | null;
  max_memory_used_mb: number | null;
  memory_size_mb: number | null;
}

/** Asynchronous calls waiting or running; a row leaves when its call is finished or dead-lettered. */
export interface AsyncQueueTable {
  id: string;
  function_name: string;
  payload: string;
  trigger: string;
  enqueued_at: string;
  attempts: number;
  /** ISO time; compared as strings like every time column. */
  run_after: string;
  lease_owner: string | null;
  lease_until: string | null;
  last_error_json: string | null;
  /** v6; null for `$LATEST`. */
  qualifier: string | null;
  /** The caller's trace id (v8). */
  trace: string | null;
}

export interface DeadLettersTable {
  id: string;
  function_name: string;
  payload: string;
  trigger: string;
  condition: string;
  error_json: string | null;
  attempts: number;
  enqueued_at: string;
  failed_at: string;
  replayed_at: string | null;
  replay_execution_id: string | null;
  /** v6; null for `$LATEST`. */
  qualifier: string | null;
}

export interface LogsTable {
  execution_id: string;
  seq: number;
  function_name: string;
  time: string;
  stream: string;
  message: string;
}

export interface TriggersTable {
  id: string;
  function_name: string;
  type: string;
  enabled: number;
  /** The type's settings (TriggerConfig without `type`), as JSON. */
  config_json: string;
  secret: string | null;
  /** Timer triggers: ISO time of the last tick fired; compared as strings to claim a tick once. */
  last_tick: string | null;
  created_at: string;
  updated_at: string;
}

/** Access keys of the Lambda-compatible API; the secret is stored because SigV4 needs it to verify. */
export interface AccessKeysTable {
  id: string;
  secret: string;
  /** JSON array of grants; null means full access. */
  allow_json: string | null;
  description: string;
  created_at: string;
}

interface SchemaVersionTable {
  version: number;
  applied_at: string;
}

export interface Database {
  functions: FunctionsTable;
  executions: ExecutionsTable;
  logs: LogsTable;
  triggers: TriggersTable;
  schema_version: SchemaVersionTable;
  async_queue: AsyncQueueTable;
  dead_letters: DeadLettersTable;
  function_versions: FunctionVersionsTable;
  aliases: AliasesTable;
  version_counters: VersionCountersTable;
  access_keys: AccessKeysTable;
  layer_versions: LayerVersionsTable;
  layer_version_counters: LayerVersionCountersTable;
}

/** A published layer version (v8). */
export interface LayerVersionsTable {
  layer_name: string;
  version: number;
  description: string;
  /** Lambda runtime names as a JSON array. */
  compatible_runtimes_json: string;
  license_info: string;
  code_sha256: string;
  code_size: number;
  unpacked_bytes: number;
  created_at: string;
}

/** The last version number a layer name was given, so numbers are never reused (v8). */
interface LayerVersionCountersTable {
  layer_name: string;
  last_version: number;
}

/** A published version: frozen code and configuration (v6). */
export interface FunctionVersionsTable {
  function_name: string;
  version: number;
  /** FunctionConfig as JSON. */
  config_json: string;
  code_sha256: string;
  code_size: number;
  description: string;
  created_at: string;
}

/** An alias of a function (v6). */
export interface AliasesTable {
  function_name: string;
  name: string;
  /** A version number as text, or `$LATEST`. */
  function_version: string;
  /** AliasRouting as JSON, or null. */
  routing_json: string | null;
  description: string;
  created_at: string;
  updated_at: string;
}

/** The last version number a function was given, so numbers are never reused (v6). */
interface VersionCountersTable {
  function_name: string;
  last_version: number;
}

/**
 * Column types that differ by dialect. `text` must compare byte by byte, as SQLite's does: times,
 * ids and tick claims are compared and ordered as strings, and PostgreSQL would otherwise use the
 * database's locale collation (it takes `text COLLATE "C"`).
 */
export interface ColumnTypes {
  text: 'text' | Expression<unknown>;
}

export const PORTABLE_COLUMN_TYPES: ColumnTypes = { text: 'text' };

type Migration = (db: Kysely<Database>, t: ColumnTypes) => Promise<void>;

const v1: Migration = async (db, t) => {
  await db.schema
    .createTable('functions')
    .ifNotExists()
    .addColumn('name', t.text, (c) => c.primaryKey())
    .addColumn('runtime', t.text, (c) => c.notNull())
    .addColumn('handler', t.text, (c) => c.notNull())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('timeout_sec', 'integer', (c) => c.notNull())
    .addColumn('env_json', t.text, (c) => c.notNull())
    .addColumn('description', t.text, (c) => c.notNull())
    .addColumn('code_sha256', t.text, (c) => c.notNull())
    .addColumn('code_size', 'integer', (c) => c.notNull())
    .addColumn('version', t.text, (c) => c.notNull())
    .addColumn('created_at', t.text, (c) => c.notNull())
    .addColumn('updated_at', t.text, (c) => c.notNull())
    .execute();

  // No foreign key to `functions`: executions and logs must outlive the function they belong to.
  await db.schema
    .createTable('executions')
    .ifNotExists()
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('function_name', t.text, (c) => c.notNull())
    .addColumn('version', t.text, (c) => c.notNull())
    .addColumn('trigger', t.text, (c) => c.notNull())
    .addColumn('status', t.text, (c) => c.notNull())
    .addColumn('outcome', t.text)
    .addColumn('started_at', t.text, (c) => c.notNull())
    .addColumn('duration_ms', 'integer')
    .addColumn('cold_start', 'integer', (c) => c.notNull())
    .addColumn('input', t.text)
    .addColumn('input_truncated', 'integer', (c) => c.notNull())
    .addColumn('output', t.text)
    .addColumn('output_truncated', 'integer', (c) => c.notNull())
    .addColumn('error_json', t.text)
    .addColumn('instance_id', t.text)
    .execute();
  await db.schema
    .createIndex('executions_function_started')
    .ifNotExists()
    .on('executions')
    .columns(['function_name', 'started_at'])
    .execute();
  await db.schema.createIndex('executions_status').ifNotExists().on('executions').column('status').execute();

  // No foreign key to `executions` either: a batch may carry lines of an execution whose record is
  // written later, and one missing parent must not make the whole batch fail.
  await db.schema
    .createTable('logs')
    .ifNotExists()
    .addColumn('execution_id', t.text, (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('function_name', t.text, (c) => c.notNull())
    .addColumn('time', t.text, (c) => c.notNull())
    .addColumn('stream', t.text, (c) => c.notNull())
    .addColumn('message', t.text, (c) => c.notNull())
    .addPrimaryKeyConstraint('logs_pk', ['execution_id', 'seq'])
    .execute();
  await db.schema
    .createIndex('logs_function_time')
    .ifNotExists()
    .on('logs')
    .columns(['function_name', 'time'])
    .execute();
};

/** Applied in order; entry i brings the schema to version i + 1. */
/** v2: scaling settings (instance concurrency, minimum and maximum instances). */
const v2: Migration = async (db) => {
  await db.schema
    .alterTable('functions')
    .addColumn('concurrency', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .alterTable('functions')
    .addColumn('min_instances', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('functions')
    .addColumn('max_instances', 'integer', (c) => c.notNull().defaultTo(100))
    .execute();
};

/**
 * v3: the status index only covers unfinished executions (what crash recovery looks for), so the
 * finished records that make up nearly every write no longer pay for it.
 */
const v3: Migration = async (db) => {
  await db.schema.dropIndex('executions_status').ifExists().execute();
  await db.schema
    .createIndex('executions_unfinished')
    .ifNotExists()
    .on('executions')
    .column('status')
    .where('status', '=', 'running')
    .execute();
};

/** v4: triggers (HTTP endpoints and timers) of functions. */
const v4: Migration = async (db, t) => {
  await db.schema
    .createTable('triggers')
    .ifNotExists()
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('function_name', t.text, (c) => c.notNull())
    .addColumn('type', t.text, (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('config_json', t.text, (c) => c.notNull())
    .addColumn('secret', t.text)
    .addColumn('last_tick', t.text)
    .addColumn('created_at', t.text, (c) => c.notNull())
    .addColumn('updated_at', t.text, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('triggers_function')
    .ifNotExists()
    .on('triggers')
    .columns(['function_name', 'created_at'])
    .execute();
};

/**
 * v5: asynchronous invocation: per-function async settings, the invocation type and attempt count
 * of executions, the durable queue of async calls (leased by the server running them) and the
 * dead-letter list.
 */
const v5: Migration = async (db, t) => {
  await db.schema.alterTable('functions').addColumn('async_json', t.text).execute();
  await db.schema
    .alterTable('executions')
    .addColumn('invocation_type', t.text, (c) => c.notNull().defaultTo('sync'))
    .execute();
  await db.schema
    .alterTable('executions')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .createTable('async_queue')
    .ifNotExists()
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('function_name', t.text, (c) => c.notNull())
    .addColumn('payload', t.text, (c) => c.notNull())
    .addColumn('trigger', t.text, (c) => c.notNull())
    .addColumn('enqueued_at', t.text, (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('run_after', t.text, (c) => c.notNull())
    .addColumn('lease_owner', t.text)
    .addColumn('lease_until', t.text)
    .addColumn('last_error_json', t.text)
    .execute();
  await db.schema
    .createIndex('async_queue_due')
    .ifNotExists()
    .on('async_queue')
    .columns(['run_after', 'id'])
    .execute();
  await db.schema
    .createTable('dead_letters')
    .ifNotExists()
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('function_name', t.text, (c) => c.notNull())
    .addColumn('payload', t.text, (c) => c.notNull())
    .addColumn('trigger', t.text, (c) => c.notNull())
    .addColumn('condition', t.text, (c) => c.notNull())
    .addColumn('error_json', t.text)
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('enqueued_at', t.text, (c) => c.notNull())
    .addColumn('failed_at', t.text, (c) => c.notNull())
    .addColumn('replayed_at', t.text)
    .addColumn('replay_execution_id', t.text)
    .execute();
  await db.schema
    .createIndex('dead_letters_function_failed')
    .ifNotExists()
    .on('dead_letters')
    .columns(['function_name', 'failed_at'])
    .execute();
  await db.schema
    .createIndex('dead_letters_failed')
    .ifNotExists()
    .on('dead_letters')
    .column('failed_at')
    .execute();
};

/**
 * v6: versions and aliases, a per-function version counter, and the qualifier a call asked for on
 * execution records, queued calls and dead letters.
 */
const v6: Migration = async (db, t) => {
  await db.schema
    .createTable('function_versions')
    .ifNotExists()
    .addColumn('function_name', t.text, (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('config_json', t.text, (c) => c.notNull())
    .addColumn('code_sha256', t.text, (c) => c.notNull())
    .addColumn('code_size', 'integer', (c) => c.notNull())
    .addColumn('description', t.text, (c) => c.notNull())
    .addColumn('created_at', t.text, (c) => c.notNull())
    .addPrimaryKeyConstraint('function_versions_pk', ['function_name', 'version'])
    .execute();
  await db.schema
    .createTable('aliases')
    .ifNotExists()
    .addColumn('function_name', t.text, (c) => c.notNull())
    .addColumn('name', t.text, (c) => c.notNull())
    .addColumn('function_version', t.text, (c) => c.notNull())
    .addColumn('routing_json', t.text)
    .addColumn('description', t.text, (c) => c.notNull())
    .addColumn('created_at', t.text, (c) => c.notNull())
    .addColumn('updated_at', t.text, (c) => c.notNull())
    .addPrimaryKeyConstraint('aliases_pk', ['function_name', 'name'])
    .execute();
  await db.schema
    .createTable('version_counters')
    .ifNotExists()
    .addColumn('function_name', t.text, (c) => c.primaryKey())
    .addColumn('last_version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('executions').addColumn('qualifier', t.text).execute();
  await db.schema.alterTable('async_queue').addColumn('qualifier', t.text).execute();
  await db.schema.alterTable('dead_letters').addColumn('qualifier', t.text).execute();
};

/** Access keys of the Lambda-compatible API. */
const v7: Migration = async (db, t) => {
  await db.schema
    .createTable('access_keys')
    .ifNotExists()
    .addColumn('id', t.text, (c) => c.primaryKey())
    .addColumn('secret', t.text, (c) => c.notNull())
    .addColumn('allow_json', t.text)
    .addColumn('description', t.text, (c) => c.notNull())
    .addColumn('created_at', t.text, (c) => c.notNull())
    .execute();
};

/** v8: layer versions with a per-layer version counter, and the layers a function uses. */
const v8: Migration = async (db, t) => {
  await db.schema
    .createTable('layer_versions')
    .ifNotExists()
    .addColumn('layer_name', t.text, (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('description', t.text, (c) => c.notNull())
    .addColumn('compatible_runtimes_json', t.text, (c) => c.notNull())
    .addColumn('license_info', t.text, (c) => c.notNull())
    .addColumn('code_sha256', t.text, (c) => c.notNull())
    .addColumn('code_size', 'integer', (c) => c.notNull())
    .addColumn('unpacked_bytes', 'integer', (c) => c.notNull())
    .addColumn('created_at', t.text, (c) => c.notNull())
    .addPrimaryKeyConstraint('layer_versions_pk', ['layer_name', 'version'])
    .execute();
  await db.schema
    .createTable('layer_version_counters')
    .ifNotExists()
    .addColumn('layer_name', t.text, (c) => c.primaryKey())
    .addColumn('last_version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('functions').addColumn('layers_json', t.text).execute();
};

/** The facts of an execution's REPORT line (call and init durations, peak memory, memory size); a queued call's trace id. */
const v9: Migration = async (db, t) => {
  await db.schema.alterTable('executions').addColumn('call_duration_us', 'integer').execute();
  await db.schema.alterTable('executions').addColumn('init_duration_us', 'integer').execute();
  await db.schema.alterTable('executions').addColumn('max_memory_used_mb', 'integer').execute();
  await db.schema.alterTable('executions').addColumn('memory_size_mb', 'integer').execute();
  await db.schema.alterTable('async_queue').addColumn('trace', t.text).execute();
};

/** v10: a function's network access. */
const v10: Migration = async (db, t) => {
  await db.schema.alterTable('functions').addColumn('network', t.text).execute();
};

const MIGRATIONS: readonly Migration[] = [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10];

/**
 * Brings the schema up to the newest version (MIGRATIONS.length). Idempotent, and each step is one transaction, so a crash
 * mid-migration leaves the previous version intact.
 */
export async function migrate(db: Kysely<Database>, t: ColumnTypes = PORTABLE_COLUMN_TYPES): Promise<void> {
  await db.schema
    .createTable('schema_version')
    .ifNotExists()
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('applied_at', t.text, (c) => c.notNull())
    .execute();
  const row = await db
    .selectFrom('schema_version')
    .select((eb) => eb.fn.max('version').as('version'))
    .executeTakeFirst();
  const current = Number(row?.version ?? 0);
  if (current > MIGRATIONS.length) {
    // Older code writing into a newer schema could corrupt it; refusing is the only safe answer.
    throw new NimbusError(
      'INTERNAL',
      `the database schema is version ${current} but this Nimbus only knows up to version ${MIGRATIONS.length}; upgrade Nimbus or point it at another data directory`,
    );
  }
  for (let i = current; i < MIGRATIONS.length; i++) {
    const step = MIGRATIONS[i];
    if (!step) continue;
    await db.transaction().execute(async (trx) => {
      await step(trx, t);
      // Another process may have migrated concurrently; its row is as good as ours.
      await trx
        .insertInto('schema_version')
        .values({ version: i + 1, applied_at: new Date().toISOString() })
        .onConflict((oc) => oc.column('version').doNothing())
        .execute();
    });
  }
}
