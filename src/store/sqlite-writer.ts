/**
 * The main-thread side of the SQLite batch writer: hands each batch to a worker thread
 * (sqlite-writer-thread) and resolves when it is committed, so callers that flush before they
 * read still see their own writes. A worker that dies fails the batches it held (the recorder
 * keeps and retries them) and is replaced on the next batch.
 */
import { Worker } from 'node:worker_threads';
import type { Execution, LogLine } from '../core/execution.js';
import { executionValues, logValues } from './rows.js';
import type { WriterReply, WriterRequest } from './sqlite-writer-thread.js';

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class SqliteBatchWriter {
  private worker: Worker | undefined;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly file: string) {}

  write(executions: Execution[], logs: LogLine[]): Promise<void> {
    const worker = this.start();
    const seq = ++this.seq;
    const done = new Promise<void>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      const request: WriterRequest = {
        seq,
        executions: executions.map(executionValues),
        logs: logs.map(logValues),
      };
      worker.postMessage(request);
    });
    this.inFlight.add(done);
    const forget = () => this.inFlight.delete(done);
    done.then(forget, forget);
    return done;
  }

  /** Waits for the batches in flight, then stops the worker and closes its connection. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await Promise.allSettled([...this.inFlight]);
    this.worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('close');
    await exited;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./sqlite-writer-thread.js', import.meta.url), {
      workerData: { file: this.file },
    });
    worker.on('message', (reply: WriterReply) => {
      const pending = this.pending.get(reply.seq);
      if (!pending) return;
      this.pending.delete(reply.seq);
      if (reply.error === undefined) pending.resolve();
      else pending.reject(new Error(`writing execution records failed: ${reply.error}`));
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const [seq, pending] of this.pending) {
        this.pending.delete(seq);
        pending.reject(err);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the record writer thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}
