/**
 * Mapping between domain records and database rows. Pure conversion shared by every SQL store;
 * it must never touch the database or validate business rules (the engine did that before storing).
 */
import type {
  Execution,
  ExecutionError,
  ExecutionStatus,
  LogLine,
  LogStream,
  Outcome,
  Trigger,
} from '../core/execution.js';
import type { FunctionRecord, Runtime } from '../core/function.js';
import type { TriggerConfig, TriggerRecord } from '../core/trigger.js';
import type { ExecutionsTable, FunctionsTable, LogsTable, TriggersTable } from './schema.js';

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
  };
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
