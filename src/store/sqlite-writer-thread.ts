/**
 * Worker thread that writes the recorder's batches (execution records and log lines) into the
 * SQLite file over its own connection, so inserts, commits and WAL checkpoints never block the
 * event loop that serves requests. Statements are prepared once; each batch is one transaction.
 * Started by SqliteBatchWriter; it answers every batch with `{ seq }` or `{ seq, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import type { Execution, LogLine } from '../core/execution.js';
import { executionToRow, logToRow } from './rows.js';
import type { ExecutionsTable } from './schema.js';

export interface WriterRequest {
  seq: number;
  executions: Execution[];
  logs: LogLine[];
}

export interface WriterReply {
  seq: number;
  error?: string;
}

const EXECUTION_COLUMNS: (keyof ExecutionsTable)[] = [
  'id',
  'function_name',
  'version',
  'trigger',
  'status',
  'outcome',
  'started_at',
  'duration_ms',
  'cold_start',
  'input',
  'input_truncated',
  'output',
  'output_truncated',
  'error_json',
  'instance_id',
  'invocation_type',
  'attempts',
  'qualifier',
];

// An execution is written when it gets an instance and again when it ends; the later state wins.
const UPSERT_EXECUTION = `INSERT INTO executions (${EXECUTION_COLUMNS.join(', ')})
  VALUES (${EXECUTION_COLUMNS.map((c) => `@${c}`).join(', ')})
  ON CONFLICT (id) DO UPDATE SET ${EXECUTION_COLUMNS.filter((c) => c !== 'id')
    .map((c) => `${c} = excluded.${c}`)
    .join(', ')}`;
// A batch retried after an ambiguous failure must not fail on lines it already stored.
const INSERT_LOG = `INSERT INTO logs (execution_id, seq, function_name, time, stream, message)
  VALUES (@execution_id, @seq, @function_name, @time, @stream, @message)
  ON CONFLICT (execution_id, seq) DO NOTHING`;

const port = parentPort;
if (!port) throw new Error('sqlite-writer-thread must run in a worker thread');

const db = new SqliteDatabase((workerData as { file: string }).file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');

// Prepared on first use: the main thread migrates the schema before any batch is sent.
let writeRows: ((executions: Execution[], logs: LogLine[]) => void) | undefined;

function prepare(): (executions: Execution[], logs: LogLine[]) => void {
  const upsertExecution = db.prepare(UPSERT_EXECUTION);
  const insertLog = db.prepare(INSERT_LOG);
  return db.transaction((executions: Execution[], logs: LogLine[]) => {
    for (const e of executions) upsertExecution.run(executionToRow(e));
    for (const line of logs) insertLog.run(logToRow(line));
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
