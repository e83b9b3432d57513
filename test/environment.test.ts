/**
 * The environment every instance sees, table-driven for both runtimes against Lambda's documented
 * values (and Function Compute's), with a server configured for another region and account; the
 * names users may not set; and the per-call context (invoked ARN, client context, trace id) as a
 * real function reads it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SANDBOXES, startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { createAccessKey, lambdaClient } from './helpers/lambda-client.js';

const REGION = 'eu-north-1';
const ACCOUNT_ID = '210987654321';
const ARN = `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:`;

type Expected = string | RegExp;

interface Case {
  runtime: 'nodejs' | 'python3';
  name: string;
  fixture: string;
  handler: string;
  executionEnv: RegExp;
}

const CASES: Case[] = [
  {
    runtime: 'nodejs',
    name: 'env-node',
    fixture: 'node-context',
    handler: 'index.handler',
    executionEnv: /^AWS_Lambda_nodejs\d+\.x$/,
  },
  {
    runtime: 'python3',
    name: 'env-python',
    fixture: 'python-context',
    handler: 'main.handler',
    executionEnv: /^AWS_Lambda_python3\.\d+$/,
  },
];

/** Lambda's documented variables (and Function Compute's), as a function of this server sees them. */
/**
 * Where code and runtime are: bubblewrap mounts them at /code and /nimbus/runtime; the plain-process
 * driver runs the function where they are on the host (its slot, the data dir's runtime copy).
 */
const PATHS: Record<(typeof SANDBOXES)[number], { code: Expected; runtime: Expected }> = {
  bubblewrap: { code: '/code', runtime: '/nimbus/runtime' },
  process: { code: /^\/.+\/slots\/i-[0-9a-f-]{36}$/, runtime: /^\/.+\/runtime$/ },
};

function expectedEnv(
  c: Case,
  memoryMb: number,
  paths: { code: Expected; runtime: Expected } = PATHS.bubblewrap,
): Record<string, Expected> {
  return {
    _HANDLER: c.handler,
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_EXECUTION_ENV: c.executionEnv,
    AWS_LAMBDA_FUNCTION_NAME: c.name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${c.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/,
    LAMBDA_TASK_ROOT: paths.code,
    LAMBDA_RUNTIME_DIR: paths.runtime,
    TZ: ':UTC',
    LANG: 'C.UTF-8',
    PATH: '/usr/local/bin:/usr/bin:/bin:/opt/bin',
    FC_FUNCTION_NAME: c.name,
    FC_FUNCTION_HANDLER: c.handler,
    FC_FUNCTION_MEMORY_SIZE: String(memoryMb),
    FC_FUNCTION_VERSION: '$LATEST',
    FC_REGION: REGION,
    FC_ACCOUNT_ID: ACCOUNT_ID,
    FC_INSTANCE_ID: /^i-[0-9a-f-]{36}$/,
    FC_FUNC_CODE_PATH: paths.code,
    NIMBUS_FUNCTION_NAME: c.name,
    NIMBUS_FUNCTION_VERSION: '$LATEST',
    NIMBUS_FUNCTION_MEMORY_MB: String(memoryMb),
    GREETING: 'from the function config',
  };
}

function assertEnv(env: Record<string, string>, expected: Record<string, Expected>, what: string): void {
  for (const [name, value] of Object.entries(expected)) {
    if (typeof value === 'string') assert.equal(env[name], value, `${what}: ${name}`);
    else assert.match(env[name] ?? '(unset)', value, `${what}: ${name}`);
  }
}

for (const sandbox of SANDBOXES) {
  describe(`the code and runtime paths (${sandbox} sandbox)`, () => {
    let nimbus: TestServer;
    before(async () => {
      nimbus = await startTestServer({ sandbox, region: REGION, accountId: ACCOUNT_ID });
    });
    after(() => nimbus.close());

    for (const c of CASES) {
      it(`are where the function's code and the runtime are (${c.runtime})`, async () => {
        await nimbus.deploy(c.name, c.fixture, c.runtime, c.handler, {
          memoryMb: 256,
          env: { GREETING: 'from the function config' },
        });
        const res = await nimbus.invoke(c.name, {});
        assert.equal(res.status, 200, res.text);
        const env = res.body.env as Record<string, string>;
        assertEnv(env, expectedEnv(c, 256, PATHS[sandbox]), `${c.runtime}, ${sandbox}`);
        assert.equal(env.LAMBDA_TASK_ROOT, env.NIMBUS_CODE_DIR, 'the code the runtime loads');
      });
    }
  });
}

describe('the environment every instance sees', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ region: REGION, accountId: ACCOUNT_ID });
  });
  after(() => nimbus.close());

  for (const c of CASES) {
    it(`is Lambda's documented environment (${c.runtime})`, async () => {
      await nimbus.deploy(c.name, c.fixture, c.runtime, c.handler, {
        memoryMb: 256,
        env: { GREETING: 'from the function config' },
      });
      const res = await nimbus.invoke(c.name, {});
      assert.equal(res.status, 200, res.text);
      const env = res.body.env as Record<string, string>;
      assertEnv(env, expectedEnv(c, 256), c.runtime);
      // The log stream names the instance; the same instance keeps it for its next call.
      assert.ok(env.AWS_LAMBDA_LOG_STREAM_NAME!.endsWith(env.FC_INSTANCE_ID!.replaceAll('-', '').slice(2)));
      assert.equal(
        (await nimbus.invoke(c.name, {})).body.env.AWS_LAMBDA_LOG_STREAM_NAME,
        env.AWS_LAMBDA_LOG_STREAM_NAME,
      );
      // No credentials are made up: Nimbus has no roles to take them from.
      for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
        assert.equal(env[name], undefined, name);
      }
      assert.equal(res.body.timezoneOffsetMinutes, 0, 'TZ=:UTC is UTC');
    });

    it(`names a published version in the version variables and the log stream (${c.runtime})`, async () => {
      const published = await nimbus.request('POST', `/v1/functions/${c.name}/versions`, { json: {} });
      assert.equal(published.status, 201, published.text);
      const version = String(published.body.version);
      const res = await nimbus.request('POST', `/v1/functions/${c.name}/invoke?qualifier=${version}`, {
        json: {},
      });
      assert.equal(res.status, 200, res.text);
      const env = res.body.env as Record<string, string>;
      assert.equal(env.AWS_LAMBDA_FUNCTION_VERSION, version);
      assert.equal(env.FC_FUNCTION_VERSION, version);
      assert.match(
        env.AWS_LAMBDA_LOG_STREAM_NAME!,
        new RegExp(`^\\d{4}/\\d{2}/\\d{2}/\\[${version}\\][0-9a-f]{32}$`),
      );
    });
  }

  it('lets a function set its own TZ, LANG and PATH, as Lambda does', async () => {
    await nimbus.deploy('env-tz', 'node-context', 'nodejs', 'index.handler', {
      env: { TZ: 'Asia/Tokyo', LANG: 'C', PATH: '/code/bin:/usr/bin:/bin' },
    });
    const res = await nimbus.invoke('env-tz', {});
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.env.TZ, 'Asia/Tokyo');
    assert.equal(res.body.env.LANG, 'C');
    assert.equal(res.body.env.PATH, '/code/bin:/usr/bin:/bin');
    assert.equal(res.body.timezoneOffsetMinutes, -540, 'Node uses the time zone the function set');
  });

  it("lets a Python function's own TZ change the time module's zone", async () => {
    await nimbus.deploy('env-tz-py', 'python-context', 'python3', 'main.handler', {
      env: { TZ: 'Asia/Tokyo' },
    });
    const res = await nimbus.invoke('env-tz-py', {});
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.env.TZ, 'Asia/Tokyo');
    // time.timezone is seconds west of UTC: Tokyo is 9 hours east.
    assert.equal(res.body.timezoneOffsetMinutes, -540, 'Python uses the time zone the function set');
  });

  it('says provisioned-concurrency in instances started for minInstances', async () => {
    await nimbus.deploy('env-min', 'node-context', 'nodejs', 'index.handler', { minInstances: 1 });
    await waitFor(async () => {
      const stats = await nimbus.request('GET', '/v1/stats');
      return (stats.body.functions?.['env-min']?.instances ?? 0) >= 1;
    }, 'the minimum instance to start');
    const res = await nimbus.invoke('env-min', {});
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.env.AWS_LAMBDA_INITIALIZATION_TYPE, 'provisioned-concurrency');
  });

  it('refuses the names the platform sets, saying which and why', async () => {
    const reserved = [
      '_HANDLER',
      '_X_AMZN_TRACE_ID',
      'AWS_REGION',
      'AWS_DEFAULT_REGION',
      'AWS_EXECUTION_ENV',
      'AWS_LAMBDA_FUNCTION_NAME',
      'AWS_LAMBDA_LOG_STREAM_NAME',
      'AWS_LAMBDA_RUNTIME_API',
      'LAMBDA_TASK_ROOT',
      'LAMBDA_RUNTIME_DIR',
      'FC_REGION',
      'NIMBUS_ANYTHING',
    ];
    for (const name of reserved) {
      const res = await nimbus.request('POST', '/v1/functions', {
        json: {
          name: 'env-reserved',
          runtime: 'nodejs',
          handler: 'index.handler',
          code: { zipBase64: 'UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==' },
          env: { [name]: 'x' },
        },
      });
      assert.equal(res.status, 400, `${name}: ${res.text}`);
      assert.match(res.body.error.message, new RegExp(`'${name}' is reserved: the platform sets it`), name);
    }
  });

  it('accepts the unreserved names Lambda documents, and credentials a function brings itself', async () => {
    await nimbus.deploy('env-free', 'node-context', 'nodejs', 'index.handler', {
      env: {
        NODE_OPTIONS: '--no-warnings',
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
      },
    });
    const res = await nimbus.invoke('env-free', {});
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.env.AWS_ACCESS_KEY_ID, 'AKIDEXAMPLE');
    assert.equal(res.body.env.AWS_XRAY_CONTEXT_MISSING, 'LOG_ERROR');
  });
});

/**
 * What a caller says about one call reaches the function: the invoked ARN (with the qualifier it
 * named), the client context and the trace id. The tests marked "(runtime)" read them through the
 * runtimes' context objects and `_X_AMZN_TRACE_ID`, which the node and python runtime work adds.
 */
describe('the per-call context', () => {
  let nimbus: TestServer;
  const clientContext = {
    client: {
      installation_id: 'inst-1',
      app_title: 'Nimbus tests',
      app_version_name: '1.0',
      app_version_code: '1',
      app_package_name: 'dev.nimbus',
    },
    custom: { tenant: 'acme' },
    env: { platform: 'test' },
  };
  const encoded = Buffer.from(JSON.stringify(clientContext)).toString('base64');
  const trace = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
  let lambda: LambdaClient;

  before(async () => {
    nimbus = await startTestServer({ region: REGION, accountId: ACCOUNT_ID });
    for (const c of CASES) {
      await nimbus.deploy(c.name, c.fixture, c.runtime, c.handler);
      assert.equal(
        (await nimbus.request('POST', `/v1/functions/${c.name}/versions`, { json: {} })).status,
        201,
      );
      const made = await nimbus.request('POST', `/v1/functions/${c.name}/aliases`, {
        json: { name: 'live', functionVersion: '1' },
      });
      assert.equal(made.status, 201, made.text);
    }
    lambda = lambdaClient(nimbus, await createAccessKey(nimbus), REGION);
    // The SDK has no parameter for the trace header: add it as a tracing middleware would.
    lambda.middlewareStack.add(
      (next) => (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request.headers) request.headers['x-amzn-trace-id'] = trace;
        return next(args);
      },
      { step: 'build', name: 'traceHeader' },
    );
  });
  after(() => nimbus.close());

  for (const c of CASES) {
    it(`gives the invoked ARN, client context and trace id of a Lambda API call (${c.runtime}, runtime)`, async () => {
      const res = await lambda.send(
        new InvokeCommand({ FunctionName: c.name, Qualifier: 'live', ClientContext: encoded, Payload: '{}' }),
      );
      assert.equal(res.StatusCode, 200);
      assert.equal(res.FunctionError, undefined, Buffer.from(res.Payload!).toString());
      const body = JSON.parse(Buffer.from(res.Payload!).toString());
      assert.equal(body.context.invokedFunctionArn, `${ARN}${c.name}:live`);
      assert.deepEqual(body.context.clientContext, clientContext);
      assert.equal(body.env._X_AMZN_TRACE_ID, trace);
      assert.equal(body.env.AWS_LAMBDA_FUNCTION_VERSION, '1');
    });

    it(`gives the unqualified ARN and a fresh trace id to a plain call (${c.runtime}, runtime)`, async () => {
      const first = await nimbus.invoke(c.name, {});
      const second = await nimbus.invoke(c.name, {});
      for (const res of [first, second]) {
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.context.invokedFunctionArn, `${ARN}${c.name}`);
        assert.match(
          res.body.env._X_AMZN_TRACE_ID,
          /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/,
        );
      }
      assert.notEqual(first.body.env._X_AMZN_TRACE_ID, second.body.env._X_AMZN_TRACE_ID);
    });

    it(`takes the same headers on the native invoke (${c.runtime}, runtime)`, async () => {
      const res = await nimbus.request('POST', `/v1/functions/${c.name}/invoke?qualifier=1`, {
        json: {},
        headers: { 'x-amz-client-context': encoded, 'x-amzn-trace-id': trace },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.context.invokedFunctionArn, `${ARN}${c.name}:1`);
      assert.deepEqual(res.body.context.clientContext, clientContext);
      assert.equal(res.body.env._X_AMZN_TRACE_ID, trace);
    });
  }

  it("keeps an asynchronous call's trace id and qualifier through the queue (runtime)", async () => {
    const queued = await nimbus.request('POST', '/v1/functions/env-python/invoke?qualifier=live', {
      json: {},
      headers: { 'x-nimbus-invocation-type': 'async', 'x-amzn-trace-id': trace },
    });
    assert.equal(queued.status, 202, queued.text);
    let record: any;
    await waitFor(async () => {
      record = (await nimbus.request('GET', `/v1/executions/${queued.body.executionId}`)).body;
      return record.status === 'succeeded' || record.status === 'failed';
    }, 'the queued call to run');
    assert.equal(record.status, 'succeeded', JSON.stringify(record.error));
    const output = JSON.parse(record.output);
    assert.equal(output.env._X_AMZN_TRACE_ID, trace);
    assert.equal(output.context.invokedFunctionArn, `${ARN}env-python:live`);
  });

  it("passes an HTTP request's trace id and the trigger's qualifier (runtime)", async () => {
    const made = await nimbus.request('POST', '/v1/functions/env-node/triggers', {
      json: { type: 'http', auth: 'anonymous', style: 'lambda', qualifier: 'live' },
    });
    assert.equal(made.status, 201, made.text);
    const res = await fetch(`${nimbus.url}/fn/env-node/`, { headers: { 'x-amzn-trace-id': trace } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.env._X_AMZN_TRACE_ID, trace);
    assert.equal(body.context.invokedFunctionArn, `${ARN}env-node:live`);
  });

  it('refuses a client context that is not base64 of a JSON object, and a malformed trace id, with what to fix', async () => {
    const bad = [
      { header: 'x-amz-client-context', value: 'not base64!', message: /base64/ },
      {
        header: 'x-amz-client-context',
        value: Buffer.from('[1,2]').toString('base64'),
        message: /JSON object/,
      },
      { header: 'x-amz-client-context', value: Buffer.from('{oops').toString('base64'), message: /not JSON/ },
      { header: 'x-amz-client-context', value: 'A'.repeat(3584), message: /limit is 3583/ },
      { header: 'x-amzn-trace-id', value: 'R'.repeat(1025), message: /printable ASCII/ },
    ];
    for (const { header, value, message } of bad) {
      const res = await nimbus.request('POST', '/v1/functions/env-node/invoke', {
        json: {},
        headers: { [header]: value },
      });
      assert.equal(res.status, 400, `${header}: ${res.text}`);
      assert.equal(res.body.error.code, 'VALIDATION_FAILED');
      assert.match(res.body.error.message, message);
    }
    // The Lambda API answers as Lambda does: InvalidRequestContentException, 400.
    await assert.rejects(
      lambda.send(
        new InvokeCommand({ FunctionName: 'env-node', ClientContext: 'not base64!', Payload: '{}' }),
      ),
      (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(err.name, 'InvalidRequestContentException');
        assert.equal(err.$metadata?.httpStatusCode, 400);
        assert.match(err.message, /X-Amz-Client-Context must be base64/);
        return true;
      },
    );
  });
});
