/** What the API layer is handed by the composition root: engine services and read access to records. */
import type { IsolationReport, Store } from '../core/ports.js';
import type { ExecutionRecorder } from '../engine/execution-recorder.js';
import type { FunctionService } from '../engine/function-service.js';
import type { Invoker } from '../engine/invoker.js';

export interface ApiDeps {
  functions: FunctionService;
  invoker: Invoker;
  recorder: ExecutionRecorder;
  store: Store;
  adminKey: string;
  isolation: IsolationReport;
  /** Live instance counts, shown by /v1/doctor. */
  instanceStats: () => { instances: number; idle: number };
  version: string;
}
