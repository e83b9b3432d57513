/**
 * The AsyncQueue port over kysely: the queue of asynchronous calls and the dead-letter list as two
 * tables of the metadata database, shared by SQLite and PostgreSQL. Claims are leases
 * (owner + expiry) set by a conditional update, so a call is never held by two live leases and a
 * call whose server died is claimable again when its lease runs out; on PostgreSQL the claim also
 * skips rows another claimer has locked (DialectTraits.lockClaims). It must never use raw SQL, nor a
 * dialect-only feature outside a DialectTraits switch.
 */
import type { Kysely } from 'kysely';
import { NimbusError } from '../core/errors.js';
import type { ExecutionError } from '../core/execution.js';
import type { AsyncQueue, DeadLetter, DeadLetterQuery, QueuedCall } from '../core/ports.js';
import { deadLetterToRow, queuedCallToRow, rowToDeadLetter, rowToQueuedCall } from './rows.js';
import type { Database } from './schema.js';

function safeLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.trunc(limit)) : 0;
}

export class KyselyAsyncQueue implements AsyncQueue {
  constructor(
    private readonly db: Kysely<Database>,
    /** DialectTraits.lockClaims: lock claimed rows with FOR UPDATE SKIP LOCKED (PostgreSQL only). */
    private readonly lockClaims: boolean,
  ) {}

  async enqueue(call: QueuedCall, maxDepth: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Write first, then count (rolling back past the bound): a transaction that reads before it
      // writes can fail outright on SQLite when another connection (the record writer) commits in
      // between, while one that starts with a write waits its turn. SQLite serialises writers, so
      // the bound is exact there; on PostgreSQL concurrent enqueues may overshoot it slightly.
      await trx.insertInto('async_queue').values(queuedCallToRow(call)).execute();
      const row = await trx
        .selectFrom('async_queue')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      const depth = Number(row?.n ?? 0) - 1;
      if (depth >= maxDepth) {
        throw new NimbusError(
          'TOO_MANY_REQUESTS',
          `the asynchronous invocation queue is full (${depth} calls waiting, limit ${maxDepth}); retry later or raise --async-queue-max`,
        );
      }
    });
  }

  async claim(owner: string, limit: number, now: Date, leaseMs: number): Promise<QueuedCall[]> {
    const n = safeLimit(limit);
    if (n === 0) return [];
    const nowIso = now.toISOString();
    const until = new Date(now.getTime() + leaseMs).toISOString();
    // One conditional update takes the calls (a write first, for the reason given in enqueue); the
    // lease condition is checked again on each row, so a concurrent claimer keeps what it took.
    const due = this.db
      .selectFrom('async_queue')
      .select('id')
      .where('run_after', '<=', nowIso)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', nowIso)]))
      .orderBy('run_after', 'asc')
      .orderBy('id', 'asc')
      .limit(n)
      .$if(this.lockClaims, (q) => q.forUpdate().skipLocked());
    const result = await this.db
      .updateTable('async_queue')
      // Counted at claim, not at the end: an attempt that kills its server still counts, so a call
      // that does so every time ends in the dead letters instead of running forever.
      .set((eb) => ({ lease_owner: owner, lease_until: until, attempts: eb('attempts', '+', 1) }))
      .where('id', 'in', due)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', nowIso)]))
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) return [];
    // Calls this owner claimed earlier hold other expiries (callers drop any that match by chance).
    const claimed = await this.db
      .selectFrom('async_queue')
      .selectAll()
      .where('lease_owner', '=', owner)
      .where('lease_until', '=', until)
      .orderBy('run_after', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return claimed.map(rowToQueuedCall);
  }

  async renewLeases(owner: string, ids: string[], until: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('async_queue')
      .set({ lease_until: until.toISOString() })
      .where('id', 'in', ids)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async releaseAllLeases(): Promise<number> {
    const result = await this.db
      .updateTable('async_queue')
      .set({ lease_owner: null, lease_until: null })
      .where('lease_owner', 'is not', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async complete(id: string): Promise<void> {
    await this.db.deleteFrom('async_queue').where('id', '=', id).execute();
  }

  async reschedule(
    id: string,
    attempts: number,
    runAfter: Date,
    lastError: ExecutionError | null,
  ): Promise<void> {
    await this.db
      .updateTable('async_queue')
      .set({
        attempts,
        run_after: runAfter.toISOString(),
        last_error_json: lastError === null ? null : JSON.stringify(lastError),
        lease_owner: null,
        lease_until: null,
      })
      .where('id', '=', id)
      .execute();
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // A call dead-lettered twice (its server died between the two steps' commit and the caller
      // hearing of it) keeps the first letter.
      await trx
        .insertInto('dead_letters')
        .values(deadLetterToRow(letter))
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      await trx.deleteFrom('async_queue').where('id', '=', letter.id).execute();
    });
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('async_queue')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async get(id: string): Promise<QueuedCall | undefined> {
    const row = await this.db.selectFrom('async_queue').selectAll().where('id', '=', id).executeTakeFirst();
    return row && rowToQueuedCall(row);
  }

  async listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]> {
    const { functionName, before } = query;
    const rows = await this.db
      .selectFrom('dead_letters')
      .selectAll()
      .$if(functionName !== undefined, (q) => q.where('function_name', '=', functionName as string))
      .$if(before !== undefined, (q) => q.where('failed_at', '<', before as string))
      .orderBy('failed_at', 'desc')
      .orderBy('id', 'desc')
      .limit(safeLimit(query.limit))
      .execute();
    return rows.map(rowToDeadLetter);
  }

  async getDeadLetter(id: string): Promise<DeadLetter | undefined> {
    const row = await this.db.selectFrom('dead_letters').selectAll().where('id', '=', id).executeTakeFirst();
    return row && rowToDeadLetter(row);
  }

  async markReplayed(id: string, executionId: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('dead_letters')
      .set({ replayed_at: at.toISOString(), replay_execution_id: executionId })
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async deleteDeadLetter(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('dead_letters').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
