/**
 * The Store port implemented once over kysely's query builder, so SQLite and PostgreSQL share every
 * query; a dialect adapter only opens the connection and supplies `DialectTraits`. It must never
 * use raw SQL or dialect-only features, and never read-then-write where a constraint can decide.
 */
import { sql, type Kysely } from 'kysely';
import { NimbusError, functionNotFound, versionNotFound } from '../core/errors.js';
import type { Execution, LogLine } from '../core/execution.js';
import type { FunctionRecord } from '../core/function.js';
import type {
  AccessKeyStore,
  AsyncQueue,
  ExecutionQuery,
  LayerStore,
  RetentionPolicy,
  Store,
} from '../core/ports.js';
import type { TriggerRecord, TriggerType } from '../core/trigger.js';
import { LATEST, type AliasRecord, type VersionRecord } from '../core/version.js';
import {
  aliasToRow,
  rowToAlias,
  rowToVersion,
  versionToRow,
  executionToRow,
  functionToRow,
  logToRow,
  rowToExecution,
  rowToFunction,
  rowToLog,
  rowToTrigger,
  triggerToRow,
} from './rows.js';
import { KyselyAccessKeyStore } from './kysely-access-keys.js';
import { KyselyAsyncQueue } from './kysely-async-queue.js';
import { KyselyLayerStore } from './kysely-layers.js';
import { type ColumnTypes, type Database, migrate } from './schema.js';

/** What differs between database engines beyond what kysely's dialects already hide. */
export interface DialectTraits {
  /** Whether an error thrown by the driver is a unique or primary-key constraint violation. */
  isUniqueViolation(err: unknown): boolean;
  /**
   * Whether the async queue's claim locks the rows it picks with `FOR UPDATE SKIP LOCKED`
   * (PostgreSQL), so concurrent claimers take different calls instead of waiting on each other.
   * SQLite has no row locks (its writers are serialised) and no such clause.
   */
  lockClaims: boolean;
  /** Column types the migrations create (see ColumnTypes). */
  columnTypes: ColumnTypes;
}

// Keeps rows x columns (at most 17) well under SQLite's 32766 bound variables and PostgreSQL's 65535.
const ROWS_PER_INSERT = 500;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** SQLite treats a negative LIMIT as "no limit"; a caller's bad number must not dump the table. */
function safeLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.trunc(limit)) : 0;
}

export class KyselyStore implements Store {
  protected readonly db: Kysely<Database>;
  private readonly traits: DialectTraits;

  constructor(db: Kysely<Database>, traits: DialectTraits) {
    this.db = db;
    this.traits = traits;
  }

  async migrate(): Promise<void> {
    await migrate(this.db, this.traits.columnTypes);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** The durable queue of asynchronous calls, in the same database (after `migrate`). */
  asyncQueue(): AsyncQueue {
    return new KyselyAsyncQueue(this.db, this.traits.lockClaims);
  }

  /** The access keys of the Lambda-compatible API, in the same database (after `migrate`). */
  accessKeys(): AccessKeyStore {
    return new KyselyAccessKeyStore(this.db);
  }

  /** Published layer versions, in the same database (after `migrate`). */
  layers(): LayerStore {
    return new KyselyLayerStore(this.db);
  }

  async createFunction(fn: FunctionRecord): Promise<void> {
    try {
      await this.db.insertInto('functions').values(functionToRow(fn)).execute();
    } catch (err) {
      if (this.traits.isUniqueViolation(err)) {
        throw new NimbusError(
          'FUNCTION_EXISTS',
          `a function named '${fn.name}' already exists; update it with \`nimbus deploy\` or choose another name`,
        );
      }
      throw err;
    }
  }

  async updateFunction(fn: FunctionRecord): Promise<void> {
    const { name, ...rest } = functionToRow(fn);
    const result = await this.db
      .updateTable('functions')
      .set(rest)
      .where('name', '=', name)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw functionNotFound(name);
  }

  async getFunction(name: string): Promise<FunctionRecord | undefined> {
    const row = await this.db.selectFrom('functions').selectAll().where('name', '=', name).executeTakeFirst();
    return row && rowToFunction(row);
  }

  async listFunctions(): Promise<FunctionRecord[]> {
    const rows = await this.db.selectFrom('functions').selectAll().orderBy('name', 'asc').execute();
    return rows.map(rowToFunction);
  }

  async deleteFunction(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('functions').where('name', '=', name).executeTakeFirst();
      await trx.deleteFrom('aliases').where('function_name', '=', name).execute();
      await trx.deleteFrom('function_versions').where('function_name', '=', name).execute();
      await trx.deleteFrom('version_counters').where('function_name', '=', name).execute();
      return result.numDeletedRows > 0n;
    });
  }

  async publishVersion(version: VersionRecord): Promise<VersionRecord> {
    const name = version.functionName;
    return this.db.transaction().execute(async (trx) => {
      // Writes first (see KyselyAsyncQueue.enqueue): the counter row is created or bumped, then read.
      await trx
        .insertInto('version_counters')
        .values({ function_name: name, last_version: 0 })
        .onConflict((oc) => oc.column('function_name').doNothing())
        .execute();
      await trx
        .updateTable('version_counters')
        .set((eb) => ({ last_version: eb('last_version', '+', 1) }))
        .where('function_name', '=', name)
        .execute();
      const fn = await trx.selectFrom('functions').select('name').where('name', '=', name).executeTakeFirst();
      if (!fn) throw functionNotFound(name);
      const counter = await trx
        .selectFrom('version_counters')
        .select('last_version')
        .where('function_name', '=', name)
        .executeTakeFirstOrThrow();
      const stored: VersionRecord = { ...version, version: String(counter.last_version) };
      await trx.insertInto('function_versions').values(versionToRow(stored)).execute();
      return stored;
    });
  }

  async getVersion(functionName: string, version: string): Promise<VersionRecord | undefined> {
    const n = Number(version);
    if (!Number.isSafeInteger(n)) return undefined;
    const row = await this.db
      .selectFrom('function_versions')
      .selectAll()
      .where('function_name', '=', functionName)
      .where('version', '=', n)
      .executeTakeFirst();
    return row && rowToVersion(row);
  }

  async listVersions(functionName: string): Promise<VersionRecord[]> {
    const rows = await this.db
      .selectFrom('function_versions')
      .selectAll()
      .where('function_name', '=', functionName)
      .orderBy('version', 'asc')
      .execute();
    return rows.map(rowToVersion);
  }

  async deleteVersion(functionName: string, version: string): Promise<boolean> {
    const n = Number(version);
    if (!Number.isSafeInteger(n)) return false;
    return this.db.transaction().execute(async (trx) => {
      // Delete first (a write, see publishVersion), then look for aliases and roll back if one uses it.
      const result = await trx
        .deleteFrom('function_versions')
        .where('function_name', '=', functionName)
        .where('version', '=', n)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) return false;
      const aliases = await trx
        .selectFrom('aliases')
        .selectAll()
        .where('function_name', '=', functionName)
        .orderBy('name', 'asc')
        .execute();
      const user = aliases
        .map(rowToAlias)
        .find((a) => a.functionVersion === String(n) || a.routing?.version === String(n));
      if (user) {
        throw new NimbusError(
          'VERSION_IN_USE',
          `version ${n} of '${functionName}' is used by alias '${user.name}'; point the alias elsewhere (\`nimbus aliases update ${functionName} ${user.name} --version N\`) or delete it first`,
          { alias: user.name },
        );
      }
      return true;
    });
  }

  async createAlias(alias: AliasRecord): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('aliases').values(aliasToRow(alias)).execute();
        await this.assertAliasVersions(trx, alias);
      });
    } catch (err) {
      if (this.traits.isUniqueViolation(err)) {
        throw new NimbusError(
          'ALIAS_EXISTS',
          `function '${alias.functionName}' already has an alias named '${alias.name}'; change it with \`nimbus aliases update\` or choose another name`,
        );
      }
      throw err;
    }
  }

  async updateAlias(alias: AliasRecord): Promise<boolean> {
    const { function_name, name, created_at: _created, ...rest } = aliasToRow(alias);
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('aliases')
        .set(rest)
        .where('function_name', '=', function_name)
        .where('name', '=', name)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return false;
      await this.assertAliasVersions(trx, alias);
      return true;
    });
  }

  /** Throws VERSION_NOT_FOUND (rolling back the caller's transaction) if the alias names a missing version. */
  private async assertAliasVersions(trx: Kysely<Database>, alias: AliasRecord): Promise<void> {
    const wanted = [alias.functionVersion, alias.routing?.version].filter(
      (v): v is string => v !== undefined && v !== LATEST,
    );
    for (const v of wanted) {
      const row = await trx
        .selectFrom('function_versions')
        .select('version')
        .where('function_name', '=', alias.functionName)
        .where('version', '=', Number(v))
        .executeTakeFirst();
      if (!row) throw versionNotFound(alias.functionName, v);
    }
  }

  async getAlias(functionName: string, name: string): Promise<AliasRecord | undefined> {
    const row = await this.db
      .selectFrom('aliases')
      .selectAll()
      .where('function_name', '=', functionName)
      .where('name', '=', name)
      .executeTakeFirst();
    return row && rowToAlias(row);
  }

  async listAliases(functionName: string): Promise<AliasRecord[]> {
    const rows = await this.db
      .selectFrom('aliases')
      .selectAll()
      .where('function_name', '=', functionName)
      .orderBy('name', 'asc')
      .execute();
    return rows.map(rowToAlias);
  }

  async deleteAlias(functionName: string, name: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('aliases')
      .where('function_name', '=', functionName)
      .where('name', '=', name)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async createTrigger(trigger: TriggerRecord): Promise<void> {
    await this.db.insertInto('triggers').values(triggerToRow(trigger)).execute();
  }

  async updateTrigger(trigger: TriggerRecord): Promise<boolean> {
    const { id, ...rest } = triggerToRow(trigger);
    const result = await this.db.updateTable('triggers').set(rest).where('id', '=', id).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async getTrigger(id: string): Promise<TriggerRecord | undefined> {
    const row = await this.db.selectFrom('triggers').selectAll().where('id', '=', id).executeTakeFirst();
    return row && rowToTrigger(row);
  }

  async listTriggers(filter: { functionName?: string; type?: TriggerType } = {}): Promise<TriggerRecord[]> {
    let query = this.db.selectFrom('triggers').selectAll();
    if (filter.functionName !== undefined) query = query.where('function_name', '=', filter.functionName);
    if (filter.type !== undefined) query = query.where('type', '=', filter.type);
    const rows = await query.orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
    return rows.map(rowToTrigger);
  }

  async deleteTrigger(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('triggers').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async deleteTriggersOf(functionName: string): Promise<number> {
    const result = await this.db
      .deleteFrom('triggers')
      .where('function_name', '=', functionName)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async claimTimerTick(id: string, tick: string): Promise<boolean> {
    // One conditional update decides: of all servers and restarts, one sees a row change.
    const result = await this.db
      .updateTable('triggers')
      .set({ last_tick: tick })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_tick', 'is', null), eb('last_tick', '<', tick)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async writeBatch(executions: Execution[], logs: LogLine[]): Promise<void> {
    if (executions.length === 0 && logs.length === 0) return;
    // The same execution may appear twice (running, then finished); PostgreSQL refuses to upsert one
    // row twice in a statement, so keep only the last record of each id.
    const latest = new Map<string, Execution>();
    for (const e of executions) latest.set(e.id, e);
    const execRows = [...latest.values()].map(executionToRow);
    const logRows = logs.map(logToRow);

    await this.db.transaction().execute(async (trx) => {
      for (const chunk of chunks(execRows, ROWS_PER_INSERT)) {
        await trx
          .insertInto('executions')
          .values(chunk)
          .onConflict((oc) =>
            oc.column('id').doUpdateSet((eb) => ({
              function_name: eb.ref('excluded.function_name'),
              version: eb.ref('excluded.version'),
              trigger: eb.ref('excluded.trigger'),
              status: eb.ref('excluded.status'),
              outcome: eb.ref('excluded.outcome'),
              started_at: eb.ref('excluded.started_at'),
              duration_ms: eb.ref('excluded.duration_ms'),
              cold_start: eb.ref('excluded.cold_start'),
              input: eb.ref('excluded.input'),
              input_truncated: eb.ref('excluded.input_truncated'),
              output: eb.ref('excluded.output'),
              output_truncated: eb.ref('excluded.output_truncated'),
              error_json: eb.ref('excluded.error_json'),
              instance_id: eb.ref('excluded.instance_id'),
              invocation_type: eb.ref('excluded.invocation_type'),
              attempts: eb.ref('excluded.attempts'),
              qualifier: eb.ref('excluded.qualifier'),
              call_duration_us: eb.ref('excluded.call_duration_us'),
              init_duration_us: eb.ref('excluded.init_duration_us'),
              max_memory_used_mb: eb.ref('excluded.max_memory_used_mb'),
              memory_size_mb: eb.ref('excluded.memory_size_mb'),
            })),
          )
          .execute();
      }
      for (const chunk of chunks(logRows, ROWS_PER_INSERT)) {
        // A batch retried after an ambiguous failure must not fail on lines it already stored.
        await trx
          .insertInto('logs')
          .values(chunk)
          .onConflict((oc) => oc.columns(['execution_id', 'seq']).doNothing())
          .execute();
      }
    });
  }

  async getExecution(id: string): Promise<Execution | undefined> {
    const row = await this.db.selectFrom('executions').selectAll().where('id', '=', id).executeTakeFirst();
    return row && rowToExecution(row);
  }

  async listExecutions(query: ExecutionQuery): Promise<Execution[]> {
    const { functionName, status, before } = query;
    const rows = await this.db
      .selectFrom('executions')
      .selectAll()
      .$if(functionName !== undefined, (q) => q.where('function_name', '=', functionName as string))
      .$if(status !== undefined, (q) => q.where('status', '=', status as string))
      .$if(before !== undefined, (q) => q.where('started_at', '<', before as string))
      // `id` breaks ties between executions started in the same millisecond, so pages are stable.
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(safeLimit(query.limit))
      .execute();
    return rows.map(rowToExecution);
  }

  async getLogs(executionId: string, afterSeq?: number): Promise<LogLine[]> {
    const rows = await this.db
      .selectFrom('logs')
      .selectAll()
      .where('execution_id', '=', executionId)
      .$if(afterSeq !== undefined, (q) => q.where('seq', '>', afterSeq as number))
      .orderBy('seq', 'asc')
      .execute();
    return rows.map(rowToLog);
  }

  async getFunctionLogs(functionName: string, limit: number): Promise<LogLine[]> {
    const rows = await this.db
      .selectFrom('logs')
      .selectAll()
      .where('function_name', '=', functionName)
      .orderBy('time', 'desc')
      .orderBy('execution_id', 'desc')
      .orderBy('seq', 'desc')
      .limit(safeLimit(limit))
      .execute();
    return rows.reverse().map(rowToLog);
  }

  async failOrphanedExecutions(reason: string): Promise<number> {
    const result = await this.db
      .updateTable('executions')
      .set({
        status: 'failed',
        outcome: 'platform_error',
        error_json: JSON.stringify({ type: 'PlatformError', message: reason }),
      })
      .where('status', '=', 'running')
      // An async call left running is still in the queue and runs again: its record must not end here.
      .where('invocation_type', '<>', 'async')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /**
   * Deletes the logs of the oldest executions (per function, or over all) until the newest ones
   * take at most `maxBytes` (message characters plus 64 per line).
   */
  private async pruneLogBytes(maxBytes: number, perFunction: boolean): Promise<void> {
    const partition = perFunction ? sql`PARTITION BY e.function_name` : sql``;
    await sql`
      DELETE FROM logs WHERE execution_id IN (
        SELECT id FROM (
          SELECT e.id AS id,
            SUM(b.bytes) OVER (${partition} ORDER BY e.started_at DESC, e.id DESC) AS newer_bytes
          FROM executions e
          JOIN (SELECT execution_id, SUM(LENGTH(message) + 64) AS bytes FROM logs GROUP BY execution_id) b
            ON b.execution_id = e.id
        ) ranked WHERE newer_bytes > ${Math.trunc(maxBytes)}
      )`.execute(this.db);
  }

  async pruneExecutions(policy: RetentionPolicy, now: Date): Promise<number> {
    // A non-finite setting means "no limit" for that rule (and would otherwise make an invalid date).
    const byAge = Number.isFinite(policy.maxAgeMs);
    const byCount = Number.isFinite(policy.maxPerFunction);
    const perFunctionLogs = policy.maxLogBytesPerFunction ?? Infinity;
    const totalLogs = policy.maxLogBytesTotal ?? Infinity;
    if (Number.isFinite(perFunctionLogs)) await this.pruneLogBytes(perFunctionLogs, true);
    if (Number.isFinite(totalLogs)) await this.pruneLogBytes(totalLogs, false);
    if (!byAge && !byCount) return 0;

    return this.db.transaction().execute(async (trx) => {
      let removed = 0n;
      if (byAge) {
        const cutoff = new Date(now.getTime() - policy.maxAgeMs).toISOString();
        const old = trx.selectFrom('executions').select('id').where('started_at', '<', cutoff);
        // Logs first: once the executions are gone, nothing identifies their lines any more.
        await trx.deleteFrom('logs').where('execution_id', 'in', old).execute();
        const result = await trx.deleteFrom('executions').where('started_at', '<', cutoff).executeTakeFirst();
        removed += result.numDeletedRows;
      }
      if (byCount) {
        const keep = Math.max(0, Math.trunc(policy.maxPerFunction));
        const excess = trx
          .selectFrom(
            trx
              .selectFrom('executions')
              .select((eb) => [
                'id',
                eb.fn
                  .agg<number>('row_number')
                  .over((ob) =>
                    ob.partitionBy('function_name').orderBy('started_at', 'desc').orderBy('id', 'desc'),
                  )
                  .as('rank'),
              ])
              .as('ranked'),
          )
          .select('ranked.id')
          .where('ranked.rank', '>', keep);
        await trx.deleteFrom('logs').where('execution_id', 'in', excess).execute();
        const result = await trx.deleteFrom('executions').where('id', 'in', excess).executeTakeFirst();
        removed += result.numDeletedRows;
      }
      return Number(removed);
    });
  }
}
