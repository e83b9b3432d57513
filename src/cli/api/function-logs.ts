/**
 * A function's log lines (/v1/functions/NAME/logs, NDJSON): the recent ones, and with `follow`
 * every new one. A follow stream that goes quiet past fetch's body timeout is reopened with some
 * overlap, and the lines already shown are dropped.
 */
import type { LogLine } from '../../core/execution.js';
import { CliError } from '../cli-error.js';
import { MalformedLineError, readNdjson } from '../ndjson.js';
import { functionPath } from './functions.js';
import { StreamIdleError, type Transport } from './transport.js';

/** Lines asked for again after a follow stream reconnects, to cover the gap; duplicates are dropped. */
const RECONNECT_TAIL = 100;

export class FunctionLogsApi {
  constructor(private readonly http: Transport) {}

  /**
   * A function's recent log lines; with `follow`, then every new line until `signal` aborts or the
   * server ends the stream (fetch gives up on a body silent for 5 minutes: then it reopens).
   */
  async *lines(
    name: string,
    options: { tail?: number | undefined; follow: boolean; signal?: AbortSignal | undefined },
  ): AsyncGenerator<LogLine> {
    const seen = new SeenLines();
    let reopened = false;
    for (;;) {
      const tail = reopened ? RECONNECT_TAIL : options.tail;
      try {
        for await (const line of this.stream(name, tail, options.follow, options.signal)) {
          if (reopened && !seen.isNew(line)) continue;
          seen.add(line);
          yield line;
        }
        return;
      } catch (err) {
        if (!(err instanceof StreamIdleError)) throw err;
        reopened = true;
      }
    }
  }

  private async *stream(
    name: string,
    tail: number | undefined,
    follow: boolean,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<LogLine> {
    const res = await this.http.call('GET', `${functionPath(name)}/logs`, {
      query: { tail, follow: follow ? 'true' : undefined },
      headers: { accept: 'application/x-ndjson' },
      signal,
    });
    if (!res.body) return;
    try {
      for await (const value of readNdjson(res.body)) {
        if (value === null || typeof value !== 'object') throw new MalformedLineError(JSON.stringify(value));
        yield value as LogLine;
      }
    } catch (err) {
      if (err instanceof MalformedLineError) {
        throw new CliError(
          `Nimbus at ${this.http.connection.url} sent a malformed log stream: ${err.message}`,
        );
      }
      throw this.http.transportError(err);
    }
  }
}

/**
 * Which lines of a reopened follow stream were already shown: lines of a known execution up to its
 * highest seq, and lines of unknown executions older than the newest line shown.
 */
class SeenLines {
  private readonly maxSeq = new Map<string, number>();
  private newest = Number.NEGATIVE_INFINITY;
  private static readonly LIMIT = 10_000;

  isNew(line: LogLine): boolean {
    const max = this.maxSeq.get(line.executionId);
    if (max !== undefined) return line.seq > max;
    return Date.parse(line.time) >= this.newest;
  }

  add(line: LogLine): void {
    const previous = this.maxSeq.get(line.executionId) ?? -1;
    this.maxSeq.delete(line.executionId);
    this.maxSeq.set(line.executionId, Math.max(line.seq, previous));
    const time = Date.parse(line.time);
    if (time > this.newest) this.newest = time;
    // Maps iterate in insertion order, so the first key is the execution heard from least recently.
    if (this.maxSeq.size > SeenLines.LIMIT) {
      const oldest = this.maxSeq.keys().next().value;
      if (oldest !== undefined) this.maxSeq.delete(oldest);
    }
  }
}
