/**
 * Worker thread that writes the recorder's batches (execution records and log lines) into the
 * SQLite file over its own connection, so inserts, commits and WAL checkpoints never block the
 * event loop that serves requests. Statements are prepared once; each batch is one transaction.
 * Started by SqliteBatchWriter; it answers every batch with `{ seq }` or `{ seq, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import { EXECUTION_COLUMNS, LOG_COLUMNS } from './rows.js';

/** Rows as values in EXECUTION_COLUMNS / LOG_COLUMNS order (see executionValues, logValues). */
export interface WriterRequest {
  seq: number;
  executions: unknown[][];
  logs: unknown[][];
}

export interface WriterReply {
  seq: number;
  error?: string;
}

// An execution is written when it gets an instance and again when it ends; the later state wins.
const UPSERT_EXECUTION = `INSERT INTO executions (${EXECUTION_COLUMNS.join(', ')})
  VALUES (${EXECUTION_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (id) DO UPDATE SET ${EXECUTION_COLUMNS.filter((c) => c !== 'id')
    .map((c) => `${c} = excluded.${c}`)
    .join(', ')}`;
// A batch retried after an ambiguous failure must not fail on lines it already stored.
const INSERT_LOG = `INSERT INTO logs (${LOG_COLUMNS.join(', ')})
  VALUES (${LOG_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (execution_id, seq) DO NOTHING`;

const port = parentPort;
if (!port) throw new Error('sqlite-writer-thread must run in a worker thread');

const db = new SqliteDatabase((workerData as { file: string }).file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');

// Prepared on first use: the main thread migrates the schema before any batch is sent.
let writeRows: ((executions: unknown[][], logs: unknown[][]) => void) | undefined;

function prepare(): (executions: unknown[][], logs: unknown[][]) => void {
  const upsertExecution = db.prepare(UPSERT_EXECUTION);
  const insertLog = db.prepare(INSERT_LOG);
  return db.transaction((executions: unknown[][], logs: unknown[][]) => {
    for (const values of executions) upsertExecution.run(values);
    for (const values of logs) insertLog.run(values);
  });
}

port.on('message', (request: WriterRequest | 'close') => {
  if (request === 'close') {
    db.close();
    port.close();
    return;
  }
  let reply: WriterReply;
  try {
    writeRows ??= prepare();
    writeRows(request.executions, request.logs);
    reply = { seq: request.seq };
  } catch (err) {
    reply = { seq: request.seq, error: (err as Error).message };
  }
  port.postMessage(reply);
});
