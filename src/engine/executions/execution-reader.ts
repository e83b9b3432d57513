/**
 * The ExecutionReader of one server: reads the Store after the recorder has written whatever the
 * read must see (that execution's, that function's, or for an unfiltered listing every buffered
 * write), so a client that was just given an execution id finds its record at once, and a read
 * with nothing of its own buffered waits for no one. Live log lines come from the recorder.
 */
import type { Execution, LogLine } from '../../core/execution.js';
import type { ExecutionQuery, ExecutionReader, Store } from '../../core/ports.js';
import type { ExecutionRecorder } from './execution-recorder.js';

export class RecordedExecutionReader implements ExecutionReader {
  constructor(
    private readonly store: Store,
    private readonly recorder: ExecutionRecorder,
  ) {}

  async get(id: string): Promise<Execution | undefined> {
    await this.recorder.written({ executionId: id });
    return this.store.getExecution(id);
  }

  async list(query: ExecutionQuery): Promise<Execution[]> {
    await this.recorder.written({ functionName: query.functionName });
    return this.store.listExecutions(query);
  }

  async logs(executionId: string): Promise<LogLine[]> {
    await this.recorder.written({ executionId });
    return this.store.getLogs(executionId);
  }

  async functionLogs(functionName: string, limit: number): Promise<LogLine[]> {
    await this.recorder.written({ functionName });
    return this.store.getFunctionLogs(functionName, limit);
  }

  follow(functionName: string | undefined, listener: (line: LogLine) => void): () => void {
    return this.recorder.follow(functionName, listener);
  }
}
