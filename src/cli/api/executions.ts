/**
 * The CLI's calls on executions (/v1/executions): list, get, an execution's log, and following a
 * running execution's log by polling (the API has no stream for one execution).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Execution, LogLine } from '../../core/execution.js';
import { ApiError, type Transport } from './transport.js';

export type ExecutionLogLine = Pick<LogLine, 'seq' | 'time' | 'stream' | 'message'>;

export interface ExecutionLogs {
  executionId: string;
  lines: ExecutionLogLine[];
}

export interface ExecutionFilter {
  functionName?: string | undefined;
  status?: string | undefined;
  limit?: number | undefined;
}

const EXECUTION_POLL_MS = 500;

function executionPath(id: string): string {
  return `/v1/executions/${encodeURIComponent(id)}`;
}

export class ExecutionsApi {
  constructor(private readonly http: Transport) {}

  async list(filter: ExecutionFilter = {}): Promise<{ executions: Execution[] }> {
    const query = { function: filter.functionName, status: filter.status, limit: filter.limit };
    const body = await this.http.json<{ executions?: unknown }>(
      await this.http.call('GET', '/v1/executions', { query }),
    );
    return { ...body, executions: this.http.array(body.executions, 'executions') };
  }

  async get(id: string, signal?: AbortSignal): Promise<Execution> {
    return this.http.json(await this.http.call('GET', executionPath(id), { signal }));
  }

  async logs(id: string, signal?: AbortSignal): Promise<ExecutionLogs> {
    const body = await this.http.json<ExecutionLogs>(
      await this.http.call('GET', `${executionPath(id)}/logs`, { signal }),
    );
    return { ...body, lines: this.http.array(body.lines, 'lines') };
  }

  /** The execution's log, or undefined when no execution has this id. */
  async findLogs(id: string): Promise<ExecutionLogs | undefined> {
    try {
      return await this.logs(id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * New log lines of a running execution (after `afterSeq`) until it ends. The API has no stream
   * for one execution, so this polls; it checks the status before reading the log so the last
   * read, made after the execution ended, holds every line.
   */
  async *followLogs(id: string, afterSeq: number, signal: AbortSignal): AsyncGenerator<ExecutionLogLine> {
    let last = afterSeq;
    for (;;) {
      const { status } = await this.get(id, signal);
      for (const line of (await this.logs(id, signal)).lines) {
        if (line.seq > last) {
          last = line.seq;
          yield line;
        }
      }
      if (status !== 'running') return;
      await sleep(EXECUTION_POLL_MS, undefined, { signal });
    }
  }
}
