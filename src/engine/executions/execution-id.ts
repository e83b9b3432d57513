/**
 * Identifiers the platform hands out. Execution ids are UUID version 7 (RFC 9562): a millisecond
 * timestamp followed by random bits, so they sort by creation time and new records land at the end
 * of the database's primary-key index instead of at random places in it (half the cost of a write).
 */
import { createHash, randomFillSync } from 'node:crypto';

const POOL_IDS = 512;
const pool = Buffer.alloc(16 * POOL_IDS);
let next = POOL_IDS;

/** A new UUID v7, e.g. `019ab2c4-5e6f-7a1b-9c2d-3e4f5a6b7c8d`. */
export function newExecutionId(now = Date.now()): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const b = pool.subarray(16 * next, 16 * next + 16);
  next++;
  return format(b, now);
}

/**
 * The execution id of a timer trigger's tick: a UUID v7 with the tick's time and, in place of the
 * random bits, a hash of trigger and tick. Every server computes the same id for the same tick,
 * which is what makes handing a tick to the queue idempotent.
 */
export function timerExecutionId(triggerId: string, tick: Date): string {
  const b = createHash('sha256').update(`${triggerId}\n${tick.toISOString()}`).digest().subarray(0, 16);
  return format(b, tick.getTime());
}

function format(b: Buffer, ms: number): string {
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (b[6]! & 0x0f); // version 7
  b[8] = 0x80 | (b[8]! & 0x3f); // RFC 9562 variant
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
