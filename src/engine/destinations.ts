/**
 * The record an asynchronous call sends to its on-success or on-failure destination, in Lambda's
 * shape, and its delivery to an HTTP destination. Pure shaping plus one outbound POST; it must never
 * put the function's environment (secrets) into a record or a log line.
 */
import { lambdaFunctionArn, type ArnScope } from '../core/arn.js';
import type { Execution, ExecutionError } from '../core/execution.js';
import type { FunctionRecord } from '../core/function.js';
import type { DeadLetterCondition } from '../core/ports.js';

export type DestinationCondition = 'Success' | DeadLetterCondition;

export interface DestinationRecord {
  version: '1.0';
  timestamp: string;
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: DestinationCondition;
    approximateInvokeCount: number;
  };
  requestPayload: unknown;
  responseContext?: { statusCode: number; executedVersion: string; functionError?: string };
  responsePayload?: unknown;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Lambda's error payload: what a destination receives when the call failed. */
function errorPayload(error: ExecutionError | null): Record<string, unknown> {
  const e = error ?? { type: 'Error', message: 'unknown failure' };
  return {
    errorType: e.type,
    errorMessage: e.message,
    ...(e.stack ? { stackTrace: e.stack.split('\n') } : {}),
  };
}

export interface DestinationInput {
  fn: Pick<FunctionRecord, 'name' | 'version'>;
  /** The server's region and account id, for the record's `functionArn`. */
  scope: ArnScope;
  executionId: string;
  condition: DestinationCondition;
  attempts: number;
  /** The event as JSON text. */
  payload: string;
  /** The last attempt's record, when the call ran at all. */
  execution: Execution | undefined;
  /** The function's result bytes, on success. */
  result: Buffer | undefined;
  /** The failure to report when there is no execution (e.g. an expired call's last error). */
  lastError: ExecutionError | null;
}

export function destinationRecord(input: DestinationInput, now = new Date()): DestinationRecord {
  const record: DestinationRecord = {
    version: '1.0',
    timestamp: now.toISOString(),
    requestContext: {
      requestId: input.executionId,
      // As Lambda: the ARN of the version that ran (`:$LATEST` or `:<n>`).
      functionArn: lambdaFunctionArn(input.scope, input.fn.name, input.fn.version),
      condition: input.condition,
      approximateInvokeCount: input.attempts,
    },
    requestPayload: parseJson(input.payload),
  };
  if (input.condition === 'Success') {
    record.responseContext = { statusCode: 200, executedVersion: input.fn.version };
    record.responsePayload = input.result ? parseJson(input.result.toString('utf8')) : null;
    return record;
  }
  const execution = input.execution;
  if (execution) {
    // As Lambda: a function error is a 200 with functionError; a crash, timeout or platform failure is not.
    const statusCode = execution.outcome === 'function_error' ? 200 : 500;
    record.responseContext = { statusCode, executedVersion: input.fn.version, functionError: 'Unhandled' };
    record.responsePayload = errorPayload(execution.error);
  } else if (input.attempts > 0) {
    record.responseContext = {
      statusCode: 500,
      executedVersion: input.fn.version,
      functionError: 'Unhandled',
    };
    record.responsePayload = errorPayload(input.lastError);
  }
  return record;
}

const HTTP_TIMEOUT_MS = 10_000;
const HTTP_TRIES = 3;

/**
 * POSTs the record as JSON; a network failure or a non-2xx answer is tried again (3 tries in all,
 * 1 s then 2 s apart). Throws with the last reason when every try failed.
 */
export async function postDestination(url: string, record: DestinationRecord): Promise<void> {
  const body = JSON.stringify(record);
  let reason = '';
  for (let i = 0; i < HTTP_TRIES; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** (i - 1)));
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'nimbus-destination/1' },
        body,
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      reason = `answered ${res.status}`;
    } catch (err) {
      reason = (err as Error).message;
    }
  }
  throw new Error(`delivery failed after ${HTTP_TRIES} tries: ${reason}`);
}
