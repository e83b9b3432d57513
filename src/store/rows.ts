/**
 * Mapping between domain records and database rows. Pure conversion shared by every SQL store;
 * it must never touch the database or validate business rules (the engine did that before storing).
 */
import type {
  Execution,
  ExecutionError,
  ExecutionStatus,
  LogLine,
  InvocationType,
  LogStream,
  Outcome,
  Trigger,
} from '../core/execution.js';
import {
  DEFAULT_ASYNC_CONFIG,
  DEFAULT_NETWORK,
  type AsyncConfig,
  type FunctionNetwork,
  type FunctionConfig,
  type FunctionRecord,
  type Runtime,
} from '../core/function.js';
import type { FunctionLayer } from '../core/layer.js';
import type { DeadLetter, DeadLetterCondition, QueuedCall } from '../core/ports.js';
import type {
  AliasesTable,
  AsyncQueueTable,
  DeadLettersTable,
  FunctionVersionsTable,
  ExecutionsTable,
  FunctionsTable,
  LogsTable,
  TriggersTable,
} from './schema.js';
import type { TriggerConfig, TriggerRecord } from '../core/trigger.js';
import type { AliasRecord, AliasRouting, VersionRecord } from '../core/version.js';

export function functionToRow(fn: FunctionRecord): FunctionsTable {
  return {
    name: fn.name,
    runtime: fn.runtime,
    handler: fn.handler,
    memory_mb: fn.memoryMb,
    timeout_sec: fn.timeoutSec,
    concurrency: fn.concurrency,
    min_instances: fn.minInstances,
    max_instances: fn.maxInstances,
    env_json: JSON.stringify(fn.env),
    description: fn.description,
    code_sha256: fn.codeSha256,
    code_size: fn.codeSize,
    version: fn.version,
    created_at: fn.createdAt,
    updated_at: fn.updatedAt,
    async_json: JSON.stringify(fn.async),
    layers_json: JSON.stringify(fn.layers),
    network: fn.network,
  };
}

export function rowToFunction(row: FunctionsTable): FunctionRecord {
  return {
    name: row.name,
    runtime: row.runtime as Runtime,
    handler: row.handler,
    memoryMb: Number(row.memory_mb),
    timeoutSec: Number(row.timeout_sec),
    concurrency: Number(row.concurrency),
    minInstances: Number(row.min_instances),
    maxInstances: Number(row.max_instances),
    env: JSON.parse(row.env_json) as Record<string, string>,
    description: row.description,
    codeSha256: row.code_sha256,
    codeSize: Number(row.code_size),
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    async:
      row.async_json === null
        ? { ...DEFAULT_ASYNC_CONFIG }
        : { ...DEFAULT_ASYNC_CONFIG, ...(JSON.parse(row.async_json) as Partial<AsyncConfig>) },
    layers: row.layers_json === null ? [] : (JSON.parse(row.layers_json) as FunctionLayer[]),
    network: (row.network ?? DEFAULT_NETWORK) as FunctionNetwork,
  };
}

export function executionToRow(e: Execution): ExecutionsTable {
  return {
    id: e.id,
    function_name: e.functionName,
    version: e.version,
    trigger: e.trigger,
    status: e.status,
    outcome: e.outcome,
    started_at: e.startedAt,
    duration_ms: e.durationMs,
    cold_start: e.coldStart ? 1 : 0,
    input: e.input,
    input_truncated: e.inputTruncated ? 1 : 0,
    output: e.output,
    output_truncated: e.outputTruncated ? 1 : 0,
    error_json: e.error === null ? null : JSON.stringify(e.error),
    instance_id: e.instanceId,
    invocation_type: e.invocationType,
    attempts: e.attempts,
    qualifier: e.qualifier ?? null,
    call_duration_us: microseconds(e.callDurationMs),
    init_duration_us: microseconds(e.initDurationMs),
    max_memory_used_mb: e.maxMemoryUsedMb,
    memory_size_mb: e.memorySizeMb,
  };
}

function microseconds(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000);
}

function milliseconds(us: number | null): number | null {
  return us === null ? null : Number(us) / 1000;
}

/** The executions columns in the order `executionValues` gives them (positional statements). */
export const EXECUTION_COLUMNS: readonly (keyof ExecutionsTable)[] = [
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
  'call_duration_us',
  'init_duration_us',
  'max_memory_used_mb',
  'memory_size_mb',
];

/**
 * An execution's row as values in EXECUTION_COLUMNS order: what the SQLite writer thread is sent
 * (an array of plain values costs less to pass between threads than an object) and binds as is.
 */
export function executionValues(e: Execution): unknown[] {
  return inColumnOrder(executionToRow(e), EXECUTION_COLUMNS);
}

export const LOG_COLUMNS: readonly (keyof LogsTable)[] = [
  'execution_id',
  'seq',
  'function_name',
  'time',
  'stream',
  'message',
];

export function logValues(line: LogLine): unknown[] {
  return inColumnOrder(logToRow(line), LOG_COLUMNS);
}

function inColumnOrder<Row>(row: Row, columns: readonly (keyof Row)[]): unknown[] {
  return columns.map((column) => row[column]);
}

export function rowToExecution(row: ExecutionsTable): Execution {
  return {
    id: row.id,
    functionName: row.function_name,
    version: row.version,
    trigger: row.trigger as Trigger,
    status: row.status as ExecutionStatus,
    outcome: row.outcome as Outcome | null,
    startedAt: row.started_at,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    coldStart: Number(row.cold_start) !== 0,
    input: row.input,
    inputTruncated: Number(row.input_truncated) !== 0,
    output: row.output,
    outputTruncated: Number(row.output_truncated) !== 0,
    error: row.error_json === null ? null : (JSON.parse(row.error_json) as ExecutionError),
    instanceId: row.instance_id,
    invocationType: row.invocation_type as InvocationType,
    attempts: Number(row.attempts),
    callDurationMs: milliseconds(row.call_duration_us),
    initDurationMs: milliseconds(row.init_duration_us),
    maxMemoryUsedMb: row.max_memory_used_mb === null ? null : Number(row.max_memory_used_mb),
    memorySizeMb: row.memory_size_mb === null ? null : Number(row.memory_size_mb),
    // Absent rather than null: most calls name no qualifier.
    ...(row.qualifier === null ? {} : { qualifier: row.qualifier }),
  };
}

export function logToRow(line: LogLine): LogsTable {
  return {
    execution_id: line.executionId,
    seq: line.seq,
    function_name: line.functionName,
    time: line.time,
    stream: line.stream,
    message: line.message,
  };
}

export function rowToLog(row: LogsTable): LogLine {
  return {
    executionId: row.execution_id,
    functionName: row.function_name,
    seq: Number(row.seq),
    time: row.time,
    stream: row.stream as LogStream,
    message: row.message,
  };
}

export function triggerToRow(t: TriggerRecord): TriggersTable {
  const { type, ...settings } = t.config;
  return {
    id: t.id,
    function_name: t.functionName,
    type,
    enabled: t.enabled ? 1 : 0,
    config_json: JSON.stringify(settings),
    secret: t.secret,
    last_tick: t.lastTick,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
  };
}

export function rowToTrigger(row: TriggersTable): TriggerRecord {
  return {
    id: row.id,
    functionName: row.function_name,
    enabled: Number(row.enabled) === 1,
    config: { ...(JSON.parse(row.config_json) as object), type: row.type } as TriggerConfig,
    secret: row.secret,
    lastTick: row.last_tick,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function errorFromJson(json: string | null): ExecutionError | null {
  return json === null ? null : (JSON.parse(json) as ExecutionError);
}

export function queuedCallToRow(call: QueuedCall): AsyncQueueTable {
  return {
    id: call.id,
    function_name: call.functionName,
    payload: call.payload,
    trigger: call.trigger,
    enqueued_at: call.enqueuedAt,
    attempts: call.attempts,
    run_after: call.runAfter,
    lease_owner: null,
    lease_until: null,
    last_error_json: call.lastError === null ? null : JSON.stringify(call.lastError),
    qualifier: call.qualifier ?? null,
    trace: call.trace ?? null,
  };
}

export function rowToQueuedCall(row: AsyncQueueTable): QueuedCall {
  return {
    id: row.id,
    functionName: row.function_name,
    payload: row.payload,
    trigger: row.trigger as Trigger,
    enqueuedAt: row.enqueued_at,
    attempts: Number(row.attempts),
    runAfter: row.run_after,
    lastError: errorFromJson(row.last_error_json),
    ...(row.qualifier === null ? {} : { qualifier: row.qualifier }),
    ...(row.trace === null ? {} : { trace: row.trace }),
  };
}

export function deadLetterToRow(letter: DeadLetter): DeadLettersTable {
  return {
    id: letter.id,
    function_name: letter.functionName,
    payload: letter.payload,
    trigger: letter.trigger,
    condition: letter.condition,
    error_json: letter.error === null ? null : JSON.stringify(letter.error),
    attempts: letter.attempts,
    enqueued_at: letter.enqueuedAt,
    failed_at: letter.failedAt,
    replayed_at: letter.replayedAt,
    replay_execution_id: letter.replayExecutionId,
    qualifier: letter.qualifier ?? null,
  };
}

export function rowToDeadLetter(row: DeadLettersTable): DeadLetter {
  return {
    id: row.id,
    functionName: row.function_name,
    payload: row.payload,
    trigger: row.trigger as Trigger,
    condition: row.condition as DeadLetterCondition,
    error: errorFromJson(row.error_json),
    attempts: Number(row.attempts),
    enqueuedAt: row.enqueued_at,
    failedAt: row.failed_at,
    replayedAt: row.replayed_at,
    replayExecutionId: row.replay_execution_id,
    ...(row.qualifier === null ? {} : { qualifier: row.qualifier }),
  };
}

export function versionToRow(v: VersionRecord): FunctionVersionsTable {
  return {
    function_name: v.functionName,
    version: Number(v.version),
    config_json: JSON.stringify(v.config),
    code_sha256: v.codeSha256,
    code_size: v.codeSize,
    description: v.description,
    created_at: v.createdAt,
  };
}

export function rowToVersion(row: FunctionVersionsTable): VersionRecord {
  const config = JSON.parse(row.config_json) as FunctionConfig;
  return {
    functionName: row.function_name,
    version: String(row.version),
    codeSha256: row.code_sha256,
    codeSize: Number(row.code_size),
    // Versions published before layers existed froze none.
    config: {
      ...config,
      async: { ...DEFAULT_ASYNC_CONFIG, ...config.async },
      layers: (config as Partial<FunctionConfig>).layers ?? [],
      // Versions published before the network setting had the default.
      network: (config as Partial<FunctionConfig>).network ?? DEFAULT_NETWORK,
    },
    description: row.description,
    createdAt: row.created_at,
  };
}

export function aliasToRow(a: AliasRecord): AliasesTable {
  return {
    function_name: a.functionName,
    name: a.name,
    function_version: a.functionVersion,
    routing_json: a.routing === null ? null : JSON.stringify(a.routing),
    description: a.description,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  };
}

export function rowToAlias(row: AliasesTable): AliasRecord {
  return {
    functionName: row.function_name,
    name: row.name,
    functionVersion: row.function_version,
    routing: row.routing_json === null ? null : (JSON.parse(row.routing_json) as AliasRouting),
    description: row.description,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
