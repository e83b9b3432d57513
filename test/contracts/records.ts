/**
 * Records and checks the contract suites share: plausible, complete records of every kind (each
 * test names what it overrides), fixed times, and the assertion that a call fails with a code.
 */
import assert from 'node:assert/strict';
import { NimbusError } from '../../src/core/errors.js';
import type { Execution, LogLine } from '../../src/core/execution.js';
import { DEFAULT_ASYNC_CONFIG, type FunctionRecord } from '../../src/core/function.js';
import type { LayerVersionRecord } from '../../src/core/layer.js';
import type { DeadLetter, QueuedCall } from '../../src/core/ports.js';
import type { TriggerConfig, TriggerRecord } from '../../src/core/trigger.js';
import { LATEST, type AliasRecord, type VersionRecord } from '../../src/core/version.js';

export function fnRecord(name: string, overrides: Partial<FunctionRecord> = {}): FunctionRecord {
  return {
    name,
    runtime: 'python3',
    handler: 'main.handler',
    memoryMb: 128,
    timeoutSec: 5,
    concurrency: 4,
    minInstances: 1,
    maxInstances: 7,
    env: { GREETING: 'hello', EMPTY: '' },
    description: `the ${name} function`,
    network: 'internet',
    codeSha256: 'a'.repeat(64),
    codeSize: 1234,
    version: LATEST,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    async: { ...DEFAULT_ASYNC_CONFIG },
    layers: [{ layerName: 'deps', version: 3, codeSha256: 'b'.repeat(64), codeSize: 10, unpackedBytes: 20 }],
    ...overrides,
  };
}

export function triggerRecord(id: string, functionName: string, config: TriggerConfig): TriggerRecord {
  return {
    id,
    functionName,
    enabled: true,
    config,
    secret: config.type === 'http' ? 'nhk_secret' : null,
    lastTick: config.type === 'timer' ? '2029-12-31T23:59:00.000Z' : null,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
  };
}

export function execution(
  id: string,
  functionName: string,
  startedAt: string,
  overrides: Partial<Execution> = {},
): Execution {
  return {
    id,
    functionName,
    version: LATEST,
    trigger: 'api',
    status: 'succeeded',
    outcome: 'succeeded',
    startedAt,
    durationMs: 12,
    coldStart: false,
    input: '{"x":1}',
    inputTruncated: false,
    output: '"ok"',
    outputTruncated: false,
    error: null,
    instanceId: 'inst-1',
    invocationType: 'sync',
    attempts: 1,
    callDurationMs: 10.25,
    initDurationMs: null,
    maxMemoryUsedMb: 41,
    memorySizeMb: 128,
    ...overrides,
  };
}

export function logLine(
  executionId: string,
  functionName: string,
  seq: number,
  time: string,
  message = `line ${seq}`,
): LogLine {
  return { executionId, functionName, seq, time, stream: 'stdout', message };
}

/** ISO time `minutes` after a fixed origin, in `toISOString()` form as the store requires. */
export function at(minutes: number): string {
  return new Date(Date.UTC(2024, 0, 1) + minutes * 60_000).toISOString();
}

export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof NimbusError, `expected a NimbusError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

export function versionRecord(functionName: string, overrides: Partial<VersionRecord> = {}): VersionRecord {
  const {
    name: _name,
    codeSha256,
    codeSize,
    version: _v,
    createdAt,
    updatedAt: _u,
    ...config
  } = fnRecord(functionName);
  return {
    functionName,
    version: '',
    codeSha256,
    codeSize,
    config,
    description: 'a version',
    createdAt,
    ...overrides,
  };
}

export function aliasRecord(
  functionName: string,
  name: string,
  functionVersion: string,
  routing: AliasRecord['routing'],
): AliasRecord {
  return {
    functionName,
    name,
    functionVersion,
    routing,
    description: `the ${name} alias`,
    createdAt: at(0),
    updatedAt: at(0),
  };
}

export function queued(id: string, runAfter: string, overrides: Partial<QueuedCall> = {}): QueuedCall {
  return {
    id,
    functionName: 'f',
    payload: `{"id":"${id}"}`,
    trigger: 'api',
    enqueuedAt: runAfter,
    attempts: 0,
    runAfter,
    lastError: null,
    ...overrides,
  };
}

export function letterOf(
  call: QueuedCall,
  failedAt: string,
  overrides: Partial<DeadLetter> = {},
): DeadLetter {
  return {
    id: call.id,
    functionName: call.functionName,
    payload: call.payload,
    trigger: call.trigger,
    condition: 'RetriesExhausted',
    error: { type: 'Error', message: 'boom' },
    attempts: 3,
    enqueuedAt: call.enqueuedAt,
    failedAt,
    replayedAt: null,
    replayExecutionId: null,
    ...overrides,
  };
}

export function layerVersion(
  layerName: string,
  overrides: Partial<LayerVersionRecord> = {},
): LayerVersionRecord {
  return {
    layerName,
    version: 0,
    description: `the ${layerName} layer`,
    compatibleRuntimes: ['python3.12', 'nodejs20.x'],
    licenseInfo: 'MIT',
    codeSha256: 'c'.repeat(64),
    codeSize: 100,
    unpackedBytes: 300,
    createdAt: '2024-01-01T00:00:00.000Z',
    ...overrides,
  };
}
