/**
 * What the API layer is handed by the composition root: engine services, and the execution reader
 * for records and logs. No store and no queue: the API reads and writes only through the engine.
 */
import type { DataDirUsage } from '../engine/code/disk-budget.js';
import type { ArnScope } from '../core/arn.js';
import type { Runtime } from '../core/function.js';
import type { ExecutionReader, IsolationReport } from '../core/ports.js';
import type { AccessKeyService } from '../engine/access-keys/access-key-service.js';
import type { AsyncDispatcher } from '../engine/async/async-dispatcher.js';
import type { PoolStats } from '../engine/invocation/instance-pool.js';
import type { FunctionService } from '../engine/functions/function-service.js';
import type { Invoker } from '../engine/invocation/invoker.js';
import type { LayerService } from '../engine/functions/layer-service.js';
import type { TriggerService } from '../engine/triggers/trigger-service.js';
import type { VersionService } from '../engine/functions/version-service.js';

export interface ApiDeps {
  functions: FunctionService;
  /** Versions and aliases, and qualifier resolution. */
  versions: VersionService;
  invoker: Invoker;
  /** Layer versions: publish, list, get, delete, and resolving a function's layer references. */
  layers: LayerService;
  triggers: TriggerService;
  /** Execution records and logs, with read-your-writes (no flush needed), and live log lines. */
  executions: ExecutionReader;
  /** Queues asynchronous calls; lists, replays and deletes dead letters. */
  dispatcher: AsyncDispatcher;
  adminKey: string;
  isolation: IsolationReport;
  /** Instance, pool and queue counters, served at /v1/stats (and the counts in /v1/doctor). */
  poolStats: () => PoolStats;
  /** What the data dir takes on disk against its budget (in /v1/doctor). */
  dataDirUsage?: () => DataDirUsage;
  version: string;
  /** Access keys of the Lambda-compatible API (SigV4). */
  accessKeys: AccessKeyService;
  /**
   * The Lambda name of what runs functions of a runtime (`python3.11`, `nodejs20.x`): the sandbox
   * driver's `runtimeVersion`, shown as a function's `Runtime` by the Lambda API.
   */
  runtimeVersion: (runtime: Runtime) => string;
  /** The server's region and account id: every ARN the API shows is in them. */
  arnScope: ArnScope;
  /** Bytes of large request bodies (over 1 MB) read at once over every route; past it, 503. */
  maxInflightBodyBytes: number;
  /** The function served unsigned at the Runtime Interface Emulator's route, when one is set. */
  rieFunction?: string | undefined;
}
