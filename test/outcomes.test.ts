/**
 * Every way a call can fail (the closed FailureKind union of src/core/outcome.ts), provoked with a
 * real function on a real server and asked through each front door: the REST invoke, an HTTP
 * trigger and the Lambda API's Invoke. Pins each member's status, error code and the execution
 * record's outcome class, and that the doors' answer tables say the same. A call superseded by a
 * redeploy is served by the new code, never answered as a crash.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { ExecutionStatus, Outcome } from '../src/core/execution.js';
import { FAILURE_KINDS, outcomeClassOf, type FailureKind } from '../src/core/outcome.js';
import { lambdaAnswerOf } from '../src/api/lambda/outcome-lambda.js';
import { httpAnswerOf } from '../src/api/outcome-http.js';
import { startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { createAccessKey, lambdaClient, type AccessKey } from './helpers/lambda-client.js';

interface Expected {
  /** The REST invoke's and the HTTP triggers' answer. */
  http: { status: number; code: string };
  /** The Lambda API's: 200 with `X-Amz-Function-Error: Unhandled` and an errorType, or an exception. */
  lambda: { errorType: string } | { exception: string; status: number };
  /** The execution record's outcome class and status; null when no execution is recorded. */
  record: { outcome: Outcome; status: ExecutionStatus } | null;
}

const FAILED_BY_FUNCTION = { outcome: 'function_error', status: 'failed' } as const;
const FAILED_BY_DEVELOPER = { outcome: 'developer_error', status: 'failed' } as const;

/** What each member is answered with. `init_failed`'s errorType is the type the module threw. */
const EXPECTED: Record<FailureKind, Expected> = {
  function_error: {
    http: { status: 502, code: 'FUNCTION_ERROR' },
    lambda: { errorType: 'RangeError' },
    record: FAILED_BY_FUNCTION,
  },
  response_too_large: {
    http: { status: 502, code: 'PAYLOAD_TOO_LARGE' },
    lambda: { errorType: 'Function.ResponseSizeTooLarge' },
    record: FAILED_BY_FUNCTION,
  },
  crashed: {
    http: { status: 502, code: 'FUNCTION_CRASHED' },
    lambda: { errorType: 'Runtime.ExitError' },
    record: FAILED_BY_DEVELOPER,
  },
  out_of_memory: {
    http: { status: 502, code: 'FUNCTION_OUT_OF_MEMORY' },
    lambda: { errorType: 'Runtime.OutOfMemory' },
    record: FAILED_BY_DEVELOPER,
  },
  timed_out: {
    http: { status: 504, code: 'FUNCTION_TIMEOUT' },
    lambda: { errorType: 'Sandbox.Timedout' },
    record: { outcome: 'developer_error', status: 'timeout' },
  },
  init_failed: {
    http: { status: 502, code: 'FUNCTION_CRASHED' },
    lambda: { errorType: 'TypeError' },
    record: FAILED_BY_DEVELOPER,
  },
  superseded: {
    http: { status: 503, code: 'FUNCTION_CHANGED' },
    lambda: { exception: 'ResourceConflictException', status: 409 },
    record: { outcome: 'platform_error', status: 'failed' },
  },
  throttled: {
    http: { status: 429, code: 'TOO_MANY_REQUESTS' },
    lambda: { exception: 'TooManyRequestsException', status: 429 },
    record: null,
  },
  platform_error: {
    http: { status: 500, code: 'INTERNAL' },
    lambda: { exception: 'ServiceException', status: 500 },
    record: { outcome: 'platform_error', status: 'failed' },
  },
};

describe('outcome tables', () => {
  it('answer every member of the union as pinned here, at each door', () => {
    assert.deepEqual([...FAILURE_KINDS].sort(), Object.keys(EXPECTED).sort());
    for (const kind of FAILURE_KINDS) {
      const expected = EXPECTED[kind];
      assert.deepEqual(httpAnswerOf(kind), expected.http, kind);
      const type = 'errorType' in expected.lambda ? expected.lambda.errorType : 'Error';
      const lambda = lambdaAnswerOf({ kind, error: { type, message: 'm' } });
      assert.deepEqual(
        lambda,
        'errorType' in expected.lambda
          ? { unhandled: true, errorType: expected.lambda.errorType }
          : { unhandled: false, ...expected.lambda },
        kind,
      );
      assert.equal(outcomeClassOf(kind), expected.record?.outcome ?? null, kind);
    }
  });
});

/** What a door answered, reduced to what the tables pin. */
interface Answer {
  status: number;
  /** The API's error code (REST, triggers), or the Lambda errorType or exception name. */
  code: string | undefined;
  executionId: string | undefined;
}

describe('every outcome at every door', () => {
  let nimbus: TestServer;
  let key: AccessKey;
  let lambda: LambdaClient;

  before(async () => {
    // Calls wait up to 4 s for a busy instance: the throttled calls wait that long, the superseded
    // ones are redeployed well before.
    nimbus = await startTestServer({ queueTimeoutMs: 4000 });
    key = await createAccessKey(nimbus);
    lambda = lambdaClient(nimbus, key);
    const one = { maxInstances: 1, concurrency: 1, timeoutSec: 30 };
    await Promise.all([
      nimbus.deploy('outcomes', 'node-outcomes', 'nodejs', 'index.handler', { timeoutSec: 30 }),
      nimbus.deploy('slow', 'node-outcomes', 'nodejs', 'index.handler', { timeoutSec: 1 }),
      nimbus.deploy('broken', 'node-outcomes', 'nodejs', 'index.handler', { env: { INIT_MODE: 'throw' } }),
      nimbus.deploy('single', 'node-outcomes', 'nodejs', 'index.handler', one),
      nimbus.deploy('redeployed', 'node-outcomes', 'nodejs', 'index.handler', { ...one, env: { TAG: 'v1' } }),
      // Code of its own, so removing its archive later takes nothing from the others.
      nimbus.deploy('lost', 'node-ok', 'nodejs', 'index.handler'),
    ]);
    for (const name of ['outcomes', 'slow', 'broken', 'single', 'redeployed', 'lost']) {
      const res = await nimbus.request('POST', `/v1/functions/${name}/triggers`, {
        json: { type: 'http', auth: 'anonymous', style: 'lambda' },
      });
      assert.equal(res.status, 201, res.text);
    }
  });
  after(() => nimbus.close());

  async function rest(name: string, event: Record<string, unknown>): Promise<Answer> {
    const res = await nimbus.invoke(name, event);
    return {
      status: res.status,
      code: res.status === 200 ? undefined : res.body.error.code,
      executionId: res.headers.get('x-nimbus-execution-id') ?? undefined,
    };
  }

  async function trigger(name: string, event: Record<string, unknown>): Promise<Answer> {
    const query = new URLSearchParams(
      Object.entries(event).map(([k, v]): [string, string] => [k, String(v)]),
    );
    const res = await fetch(`${nimbus.url}/fn/${name}/?${query}`);
    const text = await res.text();
    return {
      status: res.status,
      code: res.status === 200 ? undefined : JSON.parse(text).error.code,
      executionId: res.headers.get('x-nimbus-execution-id') ?? undefined,
    };
  }

  async function viaLambda(name: string, event: Record<string, unknown>): Promise<Answer> {
    try {
      const out = await lambda.send(
        new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }),
      );
      const payload = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8'));
      if (out.FunctionError !== undefined) assert.equal(out.FunctionError, 'Unhandled');
      return {
        status: out.StatusCode ?? 0,
        code: out.FunctionError === undefined ? undefined : payload.errorType,
        executionId: out.$metadata.requestId,
      };
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      if (e.$metadata?.httpStatusCode === undefined) throw err;
      return {
        status: e.$metadata.httpStatusCode,
        code: e.name,
        executionId: /execution ([\w-]+)\)/.exec(e.message)?.[1],
      };
    }
  }

  /** Asserts the three doors' answers are the member's, and so are the records they left. */
  async function assertAnswers(kind: FailureKind, answers: Record<'rest' | 'trigger' | 'lambda', Answer>) {
    const expected = EXPECTED[kind];
    for (const [door, answer] of Object.entries(answers)) {
      const want =
        door !== 'lambda'
          ? expected.http
          : 'errorType' in expected.lambda
            ? { status: 200, code: expected.lambda.errorType }
            : { status: expected.lambda.status, code: expected.lambda.exception };
      assert.equal(answer.status, want.status, `${kind} via ${door}: status`);
      assert.equal(answer.code, want.code, `${kind} via ${door}: error code`);
      if (expected.record === null) {
        assert.equal(answer.executionId, undefined, `${kind} via ${door}: no execution is recorded`);
        continue;
      }
      assert.ok(answer.executionId, `${kind} via ${door}: the answer names its execution`);
      const rec = (await nimbus.request('GET', `/v1/executions/${answer.executionId}`)).body;
      assert.equal(rec.outcome, expected.record.outcome, `${kind} via ${door}: outcome class`);
      assert.equal(rec.status, expected.record.status, `${kind} via ${door}: record status`);
    }
  }

  /** Asks each door in turn with the same event. */
  async function eachDoor(name: string, event: Record<string, unknown>) {
    return {
      rest: await rest(name, event),
      trigger: await trigger(name, event),
      lambda: await viaLambda(name, event),
    };
  }

  const stats = async () => (await nimbus.request('GET', '/v1/stats')).body;

  it('function_error: the handler throws', async () => {
    await assertAnswers('function_error', await eachDoor('outcomes', { action: 'throw' }));
  });

  it('response_too_large: the result is over 6 MB', async () => {
    await assertAnswers('response_too_large', await eachDoor('outcomes', { action: 'big' }));
  });

  it('crashed: the process exits during the call', async () => {
    await assertAnswers('crashed', await eachDoor('outcomes', { action: 'exit' }));
  });

  it('out_of_memory: the handler allocates past its memory', async () => {
    await assertAnswers('out_of_memory', await eachDoor('outcomes', { action: 'oom' }));
  });

  it('timed_out: the handler outlives its timeout', async () => {
    await assertAnswers('timed_out', await eachDoor('slow', { action: 'sleep', ms: 30_000 }));
  });

  it('init_failed: the module throws at import', async () => {
    await assertAnswers('init_failed', await eachDoor('broken', {}));
  });

  it('throttled: no instance frees up within the queue timeout', async () => {
    const blocker = rest('single', { action: 'sleep', ms: 8000 });
    await waitFor(async () => (await stats()).functions?.single?.busy === 1, 'the blocking call to run');
    const [restAnswer, triggerAnswer, lambdaAnswer] = await Promise.all([
      rest('single', {}),
      trigger('single', {}),
      viaLambda('single', {}),
    ]);
    await assertAnswers('throttled', { rest: restAnswer, trigger: triggerAnswer, lambda: lambdaAnswer });
    assert.equal((await blocker).status, 200);
  });

  it('superseded: calls waiting while their function is redeployed run on the new code', async () => {
    const blocker = rest('redeployed', { action: 'sleep', ms: 8000 });
    await waitFor(async () => (await stats()).functions?.redeployed?.busy === 1, 'the blocking call to run');
    const waiting = Promise.all([
      rest('redeployed', {}),
      trigger('redeployed', {}),
      viaLambda('redeployed', {}),
    ]);
    await waitFor(async () => (await stats()).functions?.redeployed?.queued === 3, 'three calls to wait');
    const patched = await nimbus.request('PATCH', '/v1/functions/redeployed', {
      json: { env: { TAG: 'v2' } },
    });
    assert.equal(patched.status, 200, patched.text);
    const answers = await waiting;
    for (const [door, answer] of Object.entries({
      rest: answers[0],
      trigger: answers[1],
      lambda: answers[2],
    })) {
      assert.equal(answer.status, 200, `${door}: the call is served, not answered as a crash`);
      const rec = (await nimbus.request('GET', `/v1/executions/${answer.executionId}`)).body;
      assert.equal(rec.outcome, 'succeeded', door);
      assert.equal(JSON.parse(rec.output).tag, 'v2', `${door}: served by the redeployed code`);
    }
    assert.equal((await blocker).status, 200);
  });

  it('platform_error: the function’s code archive is gone from the code store', async () => {
    const sha = (await nimbus.request('GET', '/v1/functions/lost')).body.codeSha256 as string;
    const dataDir = nimbus.dataDir;
    await nimbus.stop();
    rmSync(join(dataDir, 'code', sha.slice(0, 2), `${sha}.zip`));
    rmSync(join(dataDir, 'packages'), { recursive: true, force: true });
    nimbus = await startTestServer({ queueTimeoutMs: 4000, dataDir });
    lambda = lambdaClient(nimbus, key);
    await assertAnswers('platform_error', await eachDoor('lost', {}));
  });
});
