/**
 * The record an asynchronous call sends to its on-success or on-failure destination, in Lambda's
 * shape, and its delivery to an HTTP destination. Pure shaping plus one outbound POST; it must never
 * put the function's environment (secrets) into a record or a log line.
 */
import { randomUUID } from 'node:crypto';
import { lambdaFunctionArn, type ArnScope } from '../../core/arn.js';
import type { Execution, ExecutionError } from '../../core/execution.js';
import type { FunctionRecord } from '../../core/function.js';
import type { DeadLetterCondition } from '../../core/ports.js';

type DestinationCondition = 'Success' | DeadLetterCondition;

interface DestinationRecord {
  version: '1.0';
  timestamp: string;
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: DestinationCondition;
    approximateInvokeCount: number;
  };
  requestPayload: RawPayload;
  responseContext?: { statusCode: number; executedVersion: string; functionError?: string };
  responsePayload?: RawPayload | Record<string, unknown> | null;
}

/** The record as the JSON a destination receives, with its payloads spliced in as they arrived. */
export function encodeDestinationRecord(record: DestinationRecord): string {
  const raw: string[] = [];
  // A marker a function cannot forge in its own strings (an error message, say): it cannot guess the nonce.
  const nonce = randomUUID();
  const json = JSON.stringify(record, (_key, value: unknown) => {
    if (!(value instanceof RawPayload)) return value;
    if (!isJson(value.text)) return value.text;
    raw.push(value.text);
    return `\u0000${nonce}:${raw.length - 1}\u0000`;
  });
  const marker = new RegExp(`"\\\\u0000${nonce}:(\\d+)\\\\u0000"`, 'g');
  return json.replace(marker, (_m, i: string) => raw[Number(i)] ?? 'null');
}

/**
 * A payload kept as the JSON text it arrived as, spliced into the record's JSON unchanged: events
 * and results are never parsed and re-serialised, so a deeply nested one (which JSON.stringify
 * cannot encode: it recurses) still reaches its destination. Text that is not JSON goes as a string.
 */
class RawPayload {
  constructor(readonly text: string) {}
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text); // iterative in V8: any depth
    return true;
  } catch {
    return false;
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
  execution?: Execution | undefined;
  /** The function's result bytes, on success. */
  result?: Buffer | undefined;
  /** The failure to report when there is no execution (e.g. an expired call's last error). */
  lastError?: ExecutionError | null | undefined;
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
    requestPayload: new RawPayload(input.payload),
  };
  if (input.condition === 'Success') {
    record.responseContext = { statusCode: 200, executedVersion: input.fn.version };
    record.responsePayload = input.result ? new RawPayload(input.result.toString('utf8')) : null;
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
    record.responsePayload = errorPayload(input.lastError ?? null);
  }
  return record;
}

const HTTP_TIMEOUT_MS = 10_000;
const HTTP_TRIES = 3;

/**
 * POSTs the record as JSON; a network failure or a non-2xx answer is tried again (3 tries in all,
 * 1 s then 2 s apart). Throws with the last reason when every try failed.
 */
export async function postDestination(url: string, body: string): Promise<void> {
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
