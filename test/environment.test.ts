/**
 * The environment every instance sees, table-driven for both runtimes against Lambda's documented
 * values (and Function Compute's), with a server configured for another region and account; the
 * names users may not set; and the per-call context (invoked ARN, client context, trace id) as a
 * real function reads it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, waitFor, type TestServer } from './helpers/harness.js';

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
function expectedEnv(c: Case, memoryMb: number): Record<string, Expected> {
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
    LAMBDA_TASK_ROOT: '/code',
    LAMBDA_RUNTIME_DIR: '/nimbus/runtime',
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
    FC_FUNC_CODE_PATH: '/code',
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
