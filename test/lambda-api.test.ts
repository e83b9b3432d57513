/**
 * The Lambda-compatible API driven by real AWS clients nobody here wrote: the AWS CLI, the AWS SDK
 * for JavaScript v3 and boto3, signing with Nimbus access keys against a real server with real
 * sandboxes. Also the access-key routes, permissions, and the Runtime Interface Emulator's route.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  CreateAliasCommand,
  DeleteAliasCommand,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  GetPolicyCommand,
  InvalidParameterValueException,
  ListAliasesCommand,
  PublishVersionCommand,
  ResourceConflictException,
  UpdateAliasCommand,
  InvokeCommand,
  LambdaClient,
  ListFunctionsCommand,
  ListVersionsByFunctionCommand,
  ResourceNotFoundException,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  paginateListFunctions,
  waitUntilFunctionActiveV2,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { FIXTURES, REPO_ROOT, startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { createAccessKey, lambdaClient, type AccessKey } from './helpers/lambda-client.js';

let server: TestServer;
let work: string;
let fullKey: AccessKey;
let zipV1: Buffer;
let zipV2: Buffer;
const RIE_FUNCTION = 'lam-rie';
/**
 * The server's region and account: every ARN shows them, and every client signs for the region
 * (the SDK, the AWS CLI and boto3 alike; test/hostile/lambda-api-bodies.test.ts signs for others).
 */
const REGION = 'ap-southeast-2';
const ACCOUNT_ID = '123456789012';
const ARN_PREFIX = `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:`;
/** Debian's Python, where CI installs python3-boto3 (.ci/run); another python3 on PATH may lack it. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** The fixture's code with its revision marker changed, so an update is visible in results. */
async function fixtureZip(revision: string): Promise<Buffer> {
  const dir = join(work, `src-${revision}`);
  mkdirSync(dir, { recursive: true });
  const source = readFileSync(join(FIXTURES, 'python-lambda-api/main.py'), 'utf8');
  writeFileSync(join(dir, 'main.py'), source.replace('"revision": "v1"', `"revision": "${revision}"`));
  return packDirectory(dir);
}

function createKey(grants: Record<string, unknown> = {}): Promise<AccessKey> {
  return createAccessKey(server, grants);
}

function sdk(key: AccessKey, region = REGION): LambdaClient {
  return lambdaClient(server, key, region);
}

/** The environment of an AWS client process: this key, and no config of the machine's user. */
function awsEnv(key: AccessKey): NodeJS.ProcessEnv {
  const home = join(work, 'home');
  mkdirSync(home, { recursive: true });
  return {
    PATH: process.env.PATH,
    HOME: home,
    AWS_ACCESS_KEY_ID: key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    AWS_DEFAULT_REGION: REGION,
    AWS_REGION: REGION,
    AWS_PAGER: '',
    AWS_CONFIG_FILE: join(home, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/**
 * Checks a Tail log ends with Lambda's END and REPORT lines: duration, billed duration, memory size,
 * Max Memory Used (the instance's cgroup peak; this server's sandboxes have cgroups) and, on a cold
 * start only, Init Duration.
 */
function assertReport(log: string, expected: { cold: boolean; memorySize: number }): void {
  const lines = log.trimEnd().split('\n');
  const id = /^START RequestId: (\S+) /.exec(lines[0]!)?.[1];
  assert.ok(id, log);
  assert.equal(lines.at(-2), `END RequestId: ${id}`, log);
  const init = expected.cold ? '\tInit Duration: \\d+\\.\\d\\d ms' : '';
  assert.match(
    lines.at(-1)!,
    new RegExp(
      `^REPORT RequestId: ${id}\tDuration: \\d+\\.\\d\\d ms\tBilled Duration: \\d+ ms\tMemory Size: ${expected.memorySize} MB\tMax Memory Used: \\d+ MB${init}$`,
    ),
  );
}

/**
 * Checks a Python function's failure as Lambda's Python runtime reports it: the error document's
 * stackTrace has the function's frames only, and the Tail log has the `[ERROR] Type: message` entry
 * with its traceback (lines joined with carriage returns, as the runtime writes one entry) before
 * END and REPORT.
 */
function assertPythonFailure(document: any, log: string, reason: string): void {
  assert.equal(document.errorMessage, `asked to fail: ${reason}`);
  assert.ok(Array.isArray(document.stackTrace) && document.stackTrace.length > 0, JSON.stringify(document));
  assert.match(document.stackTrace.at(-1), /File ".*main\.py", line \d+, in handler/);
  assert.ok(
    document.stackTrace.every((frame: string) => !/bootstrap|awslambdaric|importlib/.test(frame)),
    JSON.stringify(document.stackTrace),
  );
  assert.match(
    log,
    new RegExp(
      `\\[ERROR\\] ValueError: asked to fail: ${reason}\\rTraceback \\(most recent call last\\):\\r`,
    ),
  );
  assert.doesNotMatch(log, /bootstrap\.py/);
  assert.match(log, /\nEND RequestId: \S+\nREPORT RequestId: \S+\tDuration: .*Max Memory Used: \d+ MB/);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// Asynchronous on purpose: the server runs in this process, so a synchronous spawn would deadlock it.
function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function aws(key: AccessKey, ...args: string[]): Promise<Run> {
  return run('aws', ['lambda', ...args, '--endpoint-url', server.url, '--output', 'json'], awsEnv(key));
}

async function awsJson(key: AccessKey, ...args: string[]): Promise<any> {
  const result = await aws(key, ...args);
  assert.equal(result.code, 0, `aws lambda ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout.trim() ? JSON.parse(result.stdout) : undefined;
}

async function executionsOf(name: string): Promise<any[]> {
  const res = await server.request<{ executions: any[] }>('GET', `/v1/executions?function=${name}`);
  assert.equal(res.status, 200, res.text);
  return res.body.executions;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'nimbus-lambda-'));
  server = await startTestServer({ rieFunction: RIE_FUNCTION, region: REGION, accountId: ACCOUNT_ID });
  fullKey = await createKey({ description: 'full access for the tests' });
  zipV1 = await fixtureZip('v1');
  zipV2 = await fixtureZip('v2');
});

after(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('access keys', () => {
  it('are AWS-shaped, listed without secrets, and stop working at once when deleted', async () => {
    const key = await createKey({ allow: ['invoke:*'], description: 'ci' });
    assert.match(key.accessKeyId, /^NKIA[A-Z2-7]{16}$/);
    assert.equal(key.secretAccessKey.length, 40);
    const list = await server.request('GET', '/v1/access-keys');
    assert.equal(list.status, 200);
    assert.ok(!list.text.includes(key.secretAccessKey), 'a listing must not show secrets');
    const shown = list.body.accessKeys.find((k: any) => k.id === key.accessKeyId);
    assert.deepEqual(shown.allow, ['invoke:*']);
    assert.equal(shown.description, 'ci');
    assert.equal(shown.secret, undefined);

    // Used once (so it is cached), then revoked.
    await assert.rejects(sdk(key).send(new GetFunctionCommand({ FunctionName: 'lam-any' })), {
      name: 'AccessDeniedException',
    });
    const deleted = await server.request('DELETE', `/v1/access-keys/${key.accessKeyId}`);
    assert.equal(deleted.status, 204);
    await assert.rejects(sdk(key).send(new GetFunctionCommand({ FunctionName: 'lam-any' })), {
      name: 'UnrecognizedClientException',
    });
    const again = await server.request('DELETE', `/v1/access-keys/${key.accessKeyId}`);
    assert.equal(again.status, 404);
  });

  it('are made, listed and deleted by `nimbus access-keys`', async () => {
    const cli = (...args: string[]) =>
      run(process.execPath, [join(REPO_ROOT, 'dist/src/cli/main.js'), 'access-keys', ...args], {
        PATH: process.env.PATH,
        HOME: join(work, 'home'),
        NIMBUS_URL: server.url,
        NIMBUS_KEY: server.key,
      });
    const created = await cli(
      'create',
      '--allow',
      'invoke:lam-x',
      'manage:lam-x',
      '--description',
      'cli',
      '--json',
    );
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout);
    assert.deepEqual(key.allow, ['invoke:lam-x', 'manage:lam-x']);
    assert.equal(key.secretAccessKey.length, 40);
    const listed = await cli('list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${key.accessKeyId}\\s+invoke:lam-x manage:lam-x`));
    assert.ok(!listed.stdout.includes(key.secretAccessKey));
    const deleted = await cli('delete', key.accessKeyId);
    assert.equal(deleted.code, 0, deleted.stderr);
    const again = await cli('delete', key.accessKeyId);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ACCESS_KEY_NOT_FOUND/);
  });

  it('are in the OpenAPI document', async () => {
    const res = await server.request('GET', '/v1/openapi.json', { auth: null });
    assert.ok(res.body.paths['/v1/access-keys'].post);
    assert.ok(res.body.paths['/v1/access-keys'].get);
    assert.ok(res.body.paths['/v1/access-keys/{id}'].delete);
  });

  it('refuse bad grants and need the admin key', async () => {
    const bad = await server.request('POST', '/v1/access-keys', { json: { allow: ['delete:everything'] } });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /invoke:<function>/);
    const anonymous = await server.request('POST', '/v1/access-keys', { auth: null, json: {} });
    assert.equal(anonymous.status, 401);
  });
});

describe('the AWS CLI', () => {
  it('creates, invokes (sync, Event, Tail), updates, lists, gets and deletes a function', async () => {
    const name = 'lam-cli';
    const zipFile = join(work, 'cli-v1.zip');
    writeFileSync(zipFile, zipV1);
    const created = await awsJson(
      fullKey,
      'create-function',
      '--function-name',
      name,
      '--runtime',
      'python3.12',
      '--handler',
      'main.handler',
      '--role',
      'arn:aws:iam::123456789012:role/ignored',
      '--zip-file',
      `fileb://${zipFile}`,
    );
    assert.equal(created.FunctionName, name);
    assert.equal(created.FunctionArn, `${ARN_PREFIX}${name}`);
    assert.equal(created.State, 'Active');
    assert.equal(created.Timeout, 3);
    assert.equal(created.CodeSha256, createdSha(zipV1));
    await awsJson(fullKey, 'wait', 'function-active-v2', '--function-name', name);

    // fileb:// payloads work the same in AWS CLI v1 and v2.
    const event = join(work, 'cli-event.json');
    writeFileSync(event, JSON.stringify({ from: 'cli' }));
    const out = join(work, 'cli-out.json');
    const invoked = await awsJson(
      fullKey,
      'invoke',
      '--function-name',
      name,
      '--payload',
      `fileb://${event}`,
      '--log-type',
      'Tail',
      out,
    );
    assert.equal(invoked.StatusCode, 200);
    assert.equal(invoked.ExecutedVersion, '$LATEST');
    assert.equal(invoked.FunctionError, undefined);
    const log = Buffer.from(invoked.LogResult, 'base64').toString('utf8');
    assert.match(log, /^START RequestId: \S+ Version: \$LATEST/);
    assert.match(log, /called with \['from'\]/);
    // The first call of a new function is a cold start: its REPORT has the Init Duration.
    assertReport(log, { cold: true, memorySize: 128 });
    const result = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(result.echo, { from: 'cli' });
    assert.equal(result.functionName, name);

    const queued = await awsJson(
      fullKey,
      'invoke',
      '--function-name',
      `${ARN_PREFIX}${name}`,
      '--invocation-type',
      'Event',
      '--payload',
      `fileb://${event}`,
      out,
    );
    assert.equal(queued.StatusCode, 202);
    await waitFor(
      async () =>
        (await executionsOf(name)).some((e) => e.invocationType === 'async' && e.status === 'succeeded'),
      'the Event invocation to run',
    );

    const failEvent = join(work, 'cli-fail.json');
    writeFileSync(failEvent, JSON.stringify({ fail: 'cli' }));
    const failed = await awsJson(
      fullKey,
      'invoke',
      '--function-name',
      name,
      '--payload',
      `fileb://${failEvent}`,
      '--log-type',
      'Tail',
      out,
    );
    assert.equal(failed.FunctionError, 'Unhandled');
    assertPythonFailure(
      JSON.parse(readFileSync(out, 'utf8')),
      Buffer.from(failed.LogResult, 'base64').toString('utf8'),
      'cli',
    );

    const dry = await awsJson(fullKey, 'invoke', '--function-name', name, '--invocation-type', 'DryRun', out);
    assert.equal(dry.StatusCode, 204);

    const zipFile2 = join(work, 'cli-v2.zip');
    writeFileSync(zipFile2, zipV2);
    const updated = await awsJson(
      fullKey,
      'update-function-code',
      '--function-name',
      name,
      '--zip-file',
      `fileb://${zipFile2}`,
    );
    assert.equal(updated.CodeSha256, createdSha(zipV2));
    await awsJson(fullKey, 'wait', 'function-updated-v2', '--function-name', name);
    const configured = await awsJson(
      fullKey,
      'update-function-configuration',
      '--function-name',
      name,
      '--timeout',
      '11',
      '--memory-size',
      '256',
      '--environment',
      'Variables={GREETING=from-cli}',
      '--description',
      'changed by the CLI',
    );
    assert.equal(configured.Timeout, 11);
    assert.equal(configured.MemorySize, 256);
    assert.deepEqual(configured.Environment, { Variables: { GREETING: 'from-cli' } });
    await awsJson(fullKey, 'invoke', '--function-name', name, '--payload', `fileb://${event}`, out);
    const after = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(after.revision, 'v2');
    assert.equal(after.greeting, 'from-cli');

    const got = await awsJson(fullKey, 'get-function', '--function-name', name);
    assert.equal(got.Configuration.Description, 'changed by the CLI');
    assert.ok(got.Code.RepositoryType);
    const listed = await awsJson(fullKey, 'list-functions');
    assert.ok(listed.Functions.some((f: any) => f.FunctionName === name));

    await awsJson(fullKey, 'delete-function', '--function-name', name);
    const missing = await aws(fullKey, 'get-function', '--function-name', name);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /ResourceNotFoundException/);
  });

  it('gets InvalidParameterValueException for an unsupported runtime and a signature error for a wrong secret', async () => {
    const zipFile = join(work, 'cli-bad.zip');
    writeFileSync(zipFile, zipV1);
    const badRuntime = await aws(
      fullKey,
      'create-function',
      '--function-name',
      'lam-cli-bad',
      '--runtime',
      'java21',
      '--handler',
      'main.handler',
      '--role',
      'r',
      '--zip-file',
      `fileb://${zipFile}`,
    );
    assert.notEqual(badRuntime.code, 0);
    assert.match(badRuntime.stderr, /InvalidParameterValueException/);
    assert.match(badRuntime.stderr, /python3\.12/);

    const wrong = await aws({ ...fullKey, secretAccessKey: 'x'.repeat(40) }, 'list-functions');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /InvalidSignatureException/);
  });
});

describe('the AWS SDK for JavaScript v3', () => {
  it('runs a function through its whole life, with waiters, paging and Tail logs', async () => {
    const client = sdk(fullKey);
    const name = 'lam-sdk';
    const created = await client.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'python3.11',
        Handler: 'main.handler',
        Role: 'arn:aws:iam::123456789012:role/ignored',
        Code: { ZipFile: zipV1 },
        Environment: { Variables: { GREETING: 'from-sdk' } },
        MemorySize: 192,
        Timeout: 9,
        Description: 'made by the SDK',
        Publish: true,
      }),
    );
    // Publish: true answers with the version it published.
    assert.equal(created.FunctionArn, `${ARN_PREFIX}${name}:1`);
    assert.equal(created.Role, `arn:aws:iam::${ACCOUNT_ID}:role/nimbus`);
    assert.equal(created.Version, '1');
    assert.equal(created.MemorySize, 192);
    await waitUntilFunctionActiveV2({ client, maxWaitTime: 30 }, { FunctionName: name });

    const res = await client.send(
      new InvokeCommand({ FunctionName: name, Payload: JSON.stringify({ n: 1 }), LogType: 'Tail' }),
    );
    assert.equal(res.StatusCode, 200);
    assert.equal(res.FunctionError, undefined);
    const payload = JSON.parse(Buffer.from(res.Payload!).toString('utf8'));
    assert.deepEqual(payload.echo, { n: 1 });
    assert.equal(payload.greeting, 'from-sdk');
    assert.match(Buffer.from(res.LogResult!, 'base64').toString(), /called with \['n'\]/);

    const failed = await client.send(
      new InvokeCommand({ FunctionName: name, Payload: JSON.stringify({ fail: 'please' }) }),
    );
    assert.equal(failed.StatusCode, 200);
    assert.equal(failed.FunctionError, 'Unhandled');
    const error = JSON.parse(Buffer.from(failed.Payload!).toString('utf8'));
    assert.equal(error.errorType, 'ValueError');
    assert.equal(error.errorMessage, 'asked to fail: please');
    assert.ok(Array.isArray(error.stackTrace) && error.stackTrace.length > 0);

    const queued = await client.send(
      new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: '{"async":1}' }),
    );
    assert.equal(queued.StatusCode, 202);
    const id = queued.$metadata.requestId!;
    await waitFor(async () => {
      const record = await server.request('GET', `/v1/executions/${id}`);
      return record.status === 200 && record.body.status === 'succeeded';
    }, 'the Event invocation to succeed');

    await client.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zipV2 }));
    await waitUntilFunctionUpdatedV2({ client, maxWaitTime: 30 }, { FunctionName: name });
    const conf = await client.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: name,
        Timeout: 20,
        Environment: { Variables: {} },
      }),
    );
    assert.equal(conf.Timeout, 20);
    assert.equal(conf.Environment, undefined);
    const second = await client.send(new InvokeCommand({ FunctionName: name }));
    const secondPayload = JSON.parse(Buffer.from(second.Payload!).toString('utf8'));
    assert.equal(secondPayload.revision, 'v2');
    assert.equal(secondPayload.greeting, 'hello');

    const got = await client.send(new GetFunctionCommand({ FunctionName: name }));
    assert.equal(got.Configuration?.Description, 'made by the SDK');
    // Code.Location downloads the current zip without credentials, like a pre-signed S3 URL.
    const download = await fetch(got.Code!.Location!);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), zipV2);
    const forged = await fetch(got.Code!.Location!.replace(/signature=[0-9a-f]/, 'signature=x'));
    assert.equal(forged.status, 403);
    const config = await client.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.equal(config.Version, '$LATEST');
    assert.equal(config.PackageType, 'Zip');

    // A second function, to page through two.
    await client.send(
      new CreateFunctionCommand({
        FunctionName: 'lam-sdk-node',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'r',
        Code: { ZipFile: await packDirectory(join(FIXTURES, 'node-esm')) },
      }),
    );
    const nodeRes = await client.send(
      new InvokeCommand({ FunctionName: 'lam-sdk-node', Payload: JSON.stringify({ a: 2, b: 3 }) }),
    );
    assert.equal(JSON.parse(Buffer.from(nodeRes.Payload!).toString('utf8')).sum, 5);
    const names: string[] = [];
    let pages = 0;
    for await (const page of paginateListFunctions({ client, pageSize: 1 }, {})) {
      pages++;
      for (const fn of page.Functions ?? []) names.push(fn.FunctionName!);
    }
    assert.ok(names.includes(name) && names.includes('lam-sdk-node'), names.join(','));
    assert.ok(pages >= 2);
    assert.deepEqual(names, [...names].sort());

    await client.send(new DeleteFunctionCommand({ FunctionName: 'lam-sdk-node' }));
    await client.send(new DeleteFunctionCommand({ FunctionName: name }));
    await assert.rejects(client.send(new GetFunctionCommand({ FunctionName: name })), (err: unknown) => {
      assert.ok(err instanceof ResourceNotFoundException);
      // As Lambda says it, with the ARN in the server's region and account.
      assert.match(
        err.message,
        new RegExp(`^Function not found: ${ARN_PREFIX.replaceAll('$', '\\$')}${name} \\(`),
      );
      return true;
    });
    await assert.rejects(
      client.send(new InvokeCommand({ FunctionName: 'lam-sdk-node-gone', Qualifier: 'live' })),
      (err: unknown) => {
        assert.ok(err instanceof ResourceNotFoundException);
        assert.match(
          err.message,
          /^Function not found: arn:aws:lambda:ap-southeast-2:123456789012:function:lam-sdk-node-gone/,
        );
        return true;
      },
    );
  });

  it('raises the usual exceptions', async () => {
    const client = sdk(fullKey);
    await assert.rejects(
      client.send(new InvokeCommand({ FunctionName: 'lam-no-such-function' })),
      (err: unknown) => err instanceof ResourceNotFoundException,
    );
    await assert.rejects(
      client.send(
        new CreateFunctionCommand({
          FunctionName: 'lam-sdk-bad',
          Runtime: 'go1.x',
          Handler: 'main',
          Role: 'r',
          Code: { ZipFile: zipV1 },
        }),
      ),
      (err: unknown) => err instanceof InvalidParameterValueException && /nodejs20\.x/.test(err.message),
    );
    await assert.rejects(
      client.send(
        new CreateFunctionCommand({
          FunctionName: 'lam-sdk-bad',
          Runtime: 'python3.12',
          Handler: 'main.handler',
          Role: 'r',
          MemorySize: 1,
          Code: { ZipFile: zipV1 },
        }),
      ),
      (err: unknown) => err instanceof InvalidParameterValueException && /memoryMb/.test(err.message),
    );
    await assert.rejects(
      client.send(new InvokeCommand({ FunctionName: RIE_FUNCTION, Qualifier: '7' })),
      (err: unknown) => err instanceof ResourceNotFoundException,
    );
    await assert.rejects(
      client.send(
        new InvokeCommand({
          FunctionName: RIE_FUNCTION,
          InvocationType: 'Event',
          Payload: JSON.stringify({ big: 'x'.repeat(1024 * 1024 + 1) }),
        }),
      ),
      { name: 'RequestTooLargeException' },
    );
    // Actions Nimbus does not serve yet (permissions, concurrency…) say so in Lambda's error shape.
    await assert.rejects(client.send(new GetPolicyCommand({ FunctionName: RIE_FUNCTION })), (err: any) => {
      assert.equal(err.name, 'UnknownOperationException');
      assert.match(err.message, /PublishVersion, ListVersionsByFunction, CreateAlias/);
      return true;
    });
    const wrong = sdk({ ...fullKey, secretAccessKey: 'y'.repeat(40) });
    await assert.rejects(wrong.send(new ListFunctionsCommand({})), { name: 'InvalidSignatureException' });
    const unknown = sdk({ accessKeyId: 'NKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'z'.repeat(40) });
    await assert.rejects(unknown.send(new ListFunctionsCommand({})), { name: 'UnrecognizedClientException' });
  });

  it('lets a key limited to invoke:fn invoke fn and nothing else', async () => {
    const admin = sdk(fullKey);
    for (const name of ['lam-perm-a', 'lam-perm-b']) {
      await admin.send(
        new CreateFunctionCommand({
          FunctionName: name,
          Runtime: 'python3.12',
          Handler: 'main.handler',
          Role: 'r',
          Code: { ZipFile: zipV1 },
        }),
      );
    }
    const limited = sdk(await createKey({ allow: ['invoke:lam-perm-a'] }));
    const ok = await limited.send(new InvokeCommand({ FunctionName: 'lam-perm-a', Payload: '{"k":1}' }));
    assert.equal(ok.StatusCode, 200);
    assert.deepEqual(JSON.parse(Buffer.from(ok.Payload!).toString('utf8')).echo, { k: 1 });
    await assert.rejects(limited.send(new InvokeCommand({ FunctionName: 'lam-perm-b' })), {
      name: 'AccessDeniedException',
    });
    await assert.rejects(
      limited.send(
        new CreateFunctionCommand({
          FunctionName: 'lam-perm-c',
          Runtime: 'python3.12',
          Handler: 'main.handler',
          Role: 'r',
          Code: { ZipFile: zipV1 },
        }),
      ),
      { name: 'AccessDeniedException' },
    );
    await assert.rejects(limited.send(new DeleteFunctionCommand({ FunctionName: 'lam-perm-a' })), {
      name: 'AccessDeniedException',
    });
    assert.deepEqual((await limited.send(new ListFunctionsCommand({}))).Functions, []);
  });
});

describe('boto3', () => {
  it('creates, invokes, tails, sees errors and deletes', async () => {
    const zipFile = join(work, 'boto3.zip');
    writeFileSync(zipFile, zipV1);
    const name = 'lam-boto3';
    const result = await run(PYTHON, [join(FIXTURES, 'lambda-clients/boto3_check.py')], {
      ...awsEnv(fullKey),
      NIMBUS_ENDPOINT: server.url,
      FUNCTION: name,
      ZIP: zipFile,
    });
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.deepEqual(report.created, {
      FunctionName: name,
      FunctionArn: `${ARN_PREFIX}${name}:1`,
      Timeout: 7,
      State: 'Active',
    });
    assert.equal(report.invoke.status, 200);
    assert.deepEqual(report.invoke.payload.echo, { from: 'boto3' });
    assert.equal(report.invoke.payload.greeting, 'boto3');
    assert.equal(report.invoke.version, '$LATEST');
    assert.match(report.invoke.log, /called with \['from'\]/);
    assertReport(report.invoke.log, { cold: true, memorySize: 128 });
    assert.equal(report.failed.status, 200);
    assert.equal(report.failed.functionError, 'Unhandled');
    assert.equal(report.failed.payload.errorType, 'ValueError');
    assertPythonFailure(report.failed.payload, report.failed.log, 'on purpose');
    assert.equal(report.event.status, 202);
    assert.deepEqual(report.configuration.Environment, { Variables: { GREETING: 'boto3' } });
    assert.match(report.configuration.Runtime, /^python3/);
    assert.deepEqual(report.errors, {
      missing: 'ResourceNotFoundException',
      badRuntime: 'InvalidParameterValueException',
      duplicate: 'ResourceConflictException',
      badJson: 'InvalidRequestContentException',
    });
    assert.equal(report.afterDelete, 'ResourceNotFoundException');
  });
});

describe('versions, aliases and qualifiers', () => {
  const payloadOf = (res: { Payload?: Uint8Array | undefined }) =>
    JSON.parse(Buffer.from(res.Payload!).toString('utf8'));

  it('publish, list, route by alias weights and delete with the AWS SDK for JavaScript v3', async () => {
    const client = sdk(fullKey);
    const name = 'lam-ver';
    const arn = `${ARN_PREFIX}${name}`;
    const created = await client.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'python3.12',
        Handler: 'main.handler',
        Role: 'r',
        Code: { ZipFile: zipV1 },
        Description: 'the function',
        Publish: true,
      }),
    );
    assert.equal(created.Version, '1');
    assert.equal(created.FunctionArn, `${arn}:1`);
    // Nothing changed since 1: publishing again answers with 1, as Lambda does.
    const again = await client.send(new PublishVersionCommand({ FunctionName: name }));
    assert.equal(again.Version, '1');

    await client.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zipV2 }));
    const v2 = await client.send(
      new PublishVersionCommand({
        FunctionName: name,
        Description: 'second',
        CodeSha256: createdSha(zipV2),
      }),
    );
    assert.equal(v2.Version, '2');
    assert.equal(v2.Description, 'second');
    assert.equal(v2.FunctionArn, `${arn}:2`);
    assert.equal(v2.CodeSha256, createdSha(zipV2));
    await assert.rejects(
      client.send(new PublishVersionCommand({ FunctionName: name, CodeSha256: createdSha(zipV1) })),
      { name: 'PreconditionFailedException' },
    );

    const versions = await client.send(new ListVersionsByFunctionCommand({ FunctionName: name }));
    assert.deepEqual(
      versions.Versions?.map((v) => [v.Version, v.FunctionArn, v.Description]),
      [
        ['$LATEST', `${arn}:$LATEST`, 'the function'],
        ['1', `${arn}:1`, 'the function'],
        ['2', `${arn}:2`, 'second'],
      ],
    );
    assert.equal(versions.NextMarker, undefined);
    const first = await client.send(new ListVersionsByFunctionCommand({ FunctionName: name, MaxItems: 2 }));
    assert.deepEqual(
      first.Versions?.map((v) => v.Version),
      ['$LATEST', '1'],
    );
    const rest = await client.send(
      new ListVersionsByFunctionCommand({ FunctionName: name, MaxItems: 2, Marker: first.NextMarker }),
    );
    assert.deepEqual(
      rest.Versions?.map((v) => v.Version),
      ['2'],
    );
    assert.equal(rest.NextMarker, undefined);

    // A version's configuration and code, by Qualifier and by name:qualifier.
    const conf1 = await client.send(
      new GetFunctionConfigurationCommand({ FunctionName: name, Qualifier: '1' }),
    );
    assert.equal(conf1.Version, '1');
    assert.equal(conf1.FunctionArn, `${arn}:1`);
    assert.equal(conf1.CodeSha256, createdSha(zipV1));
    const got1 = await client.send(new GetFunctionCommand({ FunctionName: `${name}:1` }));
    assert.equal(got1.Configuration?.Version, '1');
    const download = await fetch(got1.Code!.Location!);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), zipV1);
    const unqualified = await client.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.equal(unqualified.Version, '$LATEST');
    assert.equal(unqualified.FunctionArn, arn);

    // Aliases: staging → 1; production → 1 with half the calls to 2.
    const staging = await client.send(
      new CreateAliasCommand({
        FunctionName: name,
        Name: 'staging',
        FunctionVersion: '1',
        Description: 'qa',
      }),
    );
    assert.equal(staging.AliasArn, `${arn}:staging`);
    assert.equal(staging.Name, 'staging');
    assert.equal(staging.FunctionVersion, '1');
    assert.equal(staging.Description, 'qa');
    assert.ok(staging.RevisionId);
    assert.equal(staging.RoutingConfig, undefined);
    const production = await client.send(
      new CreateAliasCommand({
        FunctionName: name,
        Name: 'production',
        FunctionVersion: '1',
        RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } },
      }),
    );
    assert.deepEqual(production.RoutingConfig, { AdditionalVersionWeights: { '2': 0.5 } });
    await assert.rejects(
      client.send(new CreateAliasCommand({ FunctionName: name, Name: 'staging', FunctionVersion: '2' })),
      (err: unknown) => err instanceof ResourceConflictException,
    );
    await assert.rejects(
      client.send(
        new CreateAliasCommand({
          FunctionName: name,
          Name: 'two-extra',
          FunctionVersion: '1',
          RoutingConfig: { AdditionalVersionWeights: { '2': 0.1, '3': 0.1 } },
        }),
      ),
      (err: unknown) => err instanceof InvalidParameterValueException,
    );
    await assert.rejects(
      client.send(new CreateAliasCommand({ FunctionName: name, Name: 'ghost', FunctionVersion: '9' })),
      (err: unknown) => err instanceof ResourceNotFoundException,
    );

    // Invocations: ExecutedVersion and the code that ran follow the qualifier.
    const invoke = async (qualifier?: string, functionName = name) => {
      const res = await client.send(
        new InvokeCommand({ FunctionName: functionName, Qualifier: qualifier, Payload: '{"q":1}' }),
      );
      assert.equal(res.FunctionError, undefined);
      return { version: res.ExecutedVersion, revision: payloadOf(res).revision };
    };
    assert.deepEqual(await invoke('staging'), { version: '1', revision: 'v1' });
    assert.deepEqual(await invoke('1'), { version: '1', revision: 'v1' });
    assert.deepEqual(await invoke('2'), { version: '2', revision: 'v2' });
    assert.deepEqual(await invoke(undefined, `${name}:2`), { version: '2', revision: 'v2' });
    assert.deepEqual(await invoke(undefined, `${arn}:staging`), { version: '1', revision: 'v1' });
    assert.deepEqual(await invoke(), { version: '$LATEST', revision: 'v2' });
    assert.deepEqual(await invoke('$LATEST'), { version: '$LATEST', revision: 'v2' });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 100; i++) {
      const served = await invoke('production');
      assert.equal(served.revision, served.version === '1' ? 'v1' : 'v2');
      counts[served.version!] = (counts[served.version!] ?? 0) + 1;
    }
    assert.ok((counts['1'] ?? 0) >= 20 && (counts['2'] ?? 0) >= 20, JSON.stringify(counts));
    assert.deepEqual(Object.keys(counts).sort(), ['1', '2']);

    // Moving every call to 2, then removing the routing.
    const all2 = await client.send(
      new UpdateAliasCommand({
        FunctionName: name,
        Name: 'production',
        RoutingConfig: { AdditionalVersionWeights: { '2': 1 } },
      }),
    );
    assert.deepEqual(all2.RoutingConfig, { AdditionalVersionWeights: { '2': 1 } });
    assert.equal(all2.FunctionVersion, '1');
    for (let i = 0; i < 5; i++) assert.equal((await invoke('production')).version, '2');
    const plain = await client.send(
      new UpdateAliasCommand({
        FunctionName: name,
        Name: 'production',
        FunctionVersion: '2',
        Description: 'now 2',
        RoutingConfig: { AdditionalVersionWeights: {} },
      }),
    );
    assert.equal(plain.RoutingConfig, undefined);
    assert.equal(plain.FunctionVersion, '2');
    assert.notEqual(plain.RevisionId, production.RevisionId);
    assert.deepEqual(await invoke('production'), { version: '2', revision: 'v2' });
    const prodConf = await client.send(
      new GetFunctionConfigurationCommand({ FunctionName: name, Qualifier: 'production' }),
    );
    assert.equal(prodConf.Version, '2');
    assert.equal(prodConf.FunctionArn, `${arn}:production`);

    const gotAlias = await client.send(new GetAliasCommand({ FunctionName: name, Name: 'production' }));
    assert.equal(gotAlias.Description, 'now 2');
    const aliases = await client.send(new ListAliasesCommand({ FunctionName: name }));
    assert.deepEqual(aliases.Aliases?.map((a) => a.Name).sort(), ['production', 'staging']);
    const of1 = await client.send(new ListAliasesCommand({ FunctionName: name, FunctionVersion: '1' }));
    assert.deepEqual(
      of1.Aliases?.map((a) => a.Name),
      ['staging'],
    );
    const paged = await client.send(new ListAliasesCommand({ FunctionName: name, MaxItems: 1 }));
    assert.equal(paged.Aliases?.length, 1);
    assert.ok(paged.NextMarker);

    // Event on an alias: queued, run by the version the alias points at.
    const queued = await client.send(
      new InvokeCommand({ FunctionName: name, Qualifier: 'staging', InvocationType: 'Event', Payload: '{}' }),
    );
    assert.equal(queued.StatusCode, 202);
    const id = queued.$metadata.requestId!;
    await waitFor(async () => {
      const record = await server.request('GET', `/v1/executions/${id}`);
      return record.status === 200 && record.body.status === 'succeeded' && record.body.version === '1';
    }, 'the Event invocation of the alias to run version 1');
    const dry = await client.send(
      new InvokeCommand({ FunctionName: name, Qualifier: '2', InvocationType: 'DryRun' }),
    );
    assert.equal(dry.StatusCode, 204);
    assert.equal(dry.ExecutedVersion, '2');

    // Missing versions and aliases, and what only $LATEST may do.
    for (const call of [
      () => client.send(new InvokeCommand({ FunctionName: name, Qualifier: '9' })),
      () => client.send(new InvokeCommand({ FunctionName: name, Qualifier: 'nope' })),
      () => client.send(new GetFunctionConfigurationCommand({ FunctionName: name, Qualifier: '9' })),
      () => client.send(new GetAliasCommand({ FunctionName: name, Name: 'nope' })),
      () => client.send(new DeleteAliasCommand({ FunctionName: name, Name: 'nope' })),
      () =>
        client.send(new InvokeCommand({ FunctionName: name, Qualifier: 'absent', InvocationType: 'Event' })),
    ]) {
      await assert.rejects(call(), (err: unknown) => err instanceof ResourceNotFoundException);
    }
    await assert.rejects(
      client.send(new UpdateFunctionConfigurationCommand({ FunctionName: `${name}:1`, Timeout: 5 })),
      (err: unknown) => err instanceof InvalidParameterValueException,
    );
    await assert.rejects(
      client.send(new UpdateFunctionCodeCommand({ FunctionName: `${name}:staging`, ZipFile: zipV1 })),
      (err: unknown) => err instanceof InvalidParameterValueException,
    );

    // UpdateFunctionCode with Publish answers with the new version.
    const v3 = await client.send(
      new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zipV1, Publish: true }),
    );
    assert.equal(v3.Version, '3');
    assert.equal(v3.FunctionArn, `${arn}:3`);

    // Deleting: aliases, a version an alias uses (conflict), a free version.
    await client.send(new DeleteAliasCommand({ FunctionName: name, Name: 'staging' }));
    await assert.rejects(
      client.send(new GetAliasCommand({ FunctionName: name, Name: 'staging' })),
      (err: unknown) => err instanceof ResourceNotFoundException,
    );
    await assert.rejects(
      client.send(new DeleteFunctionCommand({ FunctionName: name, Qualifier: '2' })),
      (err: unknown) => err instanceof ResourceConflictException,
    );
    await client.send(new DeleteFunctionCommand({ FunctionName: name, Qualifier: '1' }));
    const left = await client.send(new ListVersionsByFunctionCommand({ FunctionName: name }));
    assert.deepEqual(
      left.Versions?.map((v) => v.Version),
      ['$LATEST', '2', '3'],
    );
    await assert.rejects(
      client.send(new DeleteFunctionCommand({ FunctionName: name, Qualifier: '$LATEST' })),
      (err: unknown) => err instanceof InvalidParameterValueException,
    );
    await client.send(new DeleteFunctionCommand({ FunctionName: name }));
    await assert.rejects(
      client.send(new ListVersionsByFunctionCommand({ FunctionName: name })),
      (err: unknown) => err instanceof ResourceNotFoundException,
    );
  });

  it('publish-version, create-alias, update-alias with weights and invoke --qualifier with the AWS CLI', async () => {
    // Each AWS CLI call starts a Python process: the CLI does what the SDK test does not cover.
    const client = sdk(fullKey);
    const name = 'lam-ver-cli';
    const out = join(work, 'ver-cli-out.json');
    await client.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'python3.12',
        Handler: 'main.handler',
        Role: 'r',
        Code: { ZipFile: zipV1 },
      }),
    );
    const v1 = await awsJson(fullKey, 'publish-version', '--function-name', name, '--description', 'one');
    assert.equal(v1.Version, '1');
    assert.equal(v1.Description, 'one');
    assert.equal(v1.FunctionArn, `${ARN_PREFIX}${name}:1`);
    await client.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zipV2, Publish: true }));
    const alias = await awsJson(
      fullKey,
      'create-alias',
      '--function-name',
      name,
      '--name',
      'production',
      '--function-version',
      '1',
    );
    assert.equal(alias.AliasArn, `${ARN_PREFIX}${name}:production`);
    assert.equal(alias.FunctionVersion, '1');
    const updated = await awsJson(
      fullKey,
      'update-alias',
      '--function-name',
      name,
      '--name',
      'production',
      '--routing-config',
      // What a shell passes for the documented `AdditionalVersionWeights={"2"=0.5}` (quotes removed).
      'AdditionalVersionWeights={2=0.5}',
    );
    assert.deepEqual(updated.RoutingConfig, { AdditionalVersionWeights: { '2': 0.5 } });
    const invoked = await awsJson(
      fullKey,
      'invoke',
      '--function-name',
      name,
      '--qualifier',
      'production',
      out,
    );
    assert.ok(['1', '2'].includes(invoked.ExecutedVersion), invoked.ExecutedVersion);
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).revision, `v${invoked.ExecutedVersion}`);
    const missing = await aws(fullKey, 'invoke', '--function-name', name, '--qualifier', 'nope', out);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /ResourceNotFoundException/);
    await client.send(new DeleteFunctionCommand({ FunctionName: name }));
  });

  it('publish_version and invoke(Qualifier=...) with boto3', async () => {
    const zip1 = join(work, 'ver-boto3-1.zip');
    const zip2 = join(work, 'ver-boto3-2.zip');
    writeFileSync(zip1, zipV1);
    writeFileSync(zip2, zipV2);
    const name = 'lam-ver-boto3';
    const result = await run(PYTHON, [join(FIXTURES, 'lambda-clients/boto3_versions.py')], {
      ...awsEnv(fullKey),
      NIMBUS_ENDPOINT: server.url,
      FUNCTION: name,
      ZIP: zip1,
      ZIP2: zip2,
    });
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    const arn = `${ARN_PREFIX}${name}`;
    assert.deepEqual(report.published, [
      { Version: '1', Description: 'first', FunctionArn: `${arn}:1` },
      { Version: '2', Description: 'second', FunctionArn: `${arn}:2` },
    ]);
    assert.equal(report.stale, 'PreconditionFailedException');
    assert.deepEqual(report.alias, { Name: 'live', FunctionVersion: '1', AliasArn: `${arn}:live` });
    assert.equal(report.invoke.latest.version, '$LATEST');
    assert.equal(report.invoke.latest.payload.revision, 'v2');
    assert.equal(report.invoke.one.version, '1');
    assert.equal(report.invoke.one.payload.revision, 'v1');
    assert.equal(report.invoke.two.version, '2');
    assert.equal(report.invoke.two.payload.revision, 'v2');
    assert.equal(report.invoke.live.version, '1');
    assert.equal(report.invoke.live.payload.revision, 'v1');
    assert.deepEqual(report.versions, ['$LATEST', '1', '2']);
    assert.equal(report.configuration, '1');
    assert.deepEqual(report.errors, {
      missingVersion: 'ResourceNotFoundException',
      missingAlias: 'ResourceNotFoundException',
    });
  });
});

describe("the Runtime Interface Emulator's route", () => {
  it('invokes the configured function without a signature', async () => {
    await server.deploy(RIE_FUNCTION, 'python-lambda-api', 'python3', 'main.handler');
    const res = await fetch(`${server.url}/2015-03-31/functions/function/invocations`, {
      method: 'POST',
      body: JSON.stringify({ via: 'rie' }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.deepEqual(body.echo, { via: 'rie' });
    assert.equal(body.functionName, RIE_FUNCTION);
  });

  it('answers 404 with how to turn it on when no function is set', async () => {
    const plain = await startTestServer();
    try {
      const res = await fetch(`${plain.url}/2015-03-31/functions/function/invocations`, {
        method: 'POST',
        body: '{}',
      });
      assert.equal(res.status, 404);
      assert.equal(res.headers.get('x-amzn-errortype'), 'ResourceNotFoundException');
      assert.match(await res.text(), /--rie-function/);
    } finally {
      await plain.close();
    }
  });

  it('leaves every other Lambda route signed', async () => {
    const res = await fetch(`${server.url}/2015-03-31/functions/${RIE_FUNCTION}/invocations`, {
      method: 'POST',
      body: '{}',
    });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
    const bearer = await server.request('POST', `/2015-03-31/functions/${RIE_FUNCTION}/invocations`, {
      json: {},
    });
    assert.equal(bearer.status, 400);
  });
});

function createdSha(zip: Buffer): string {
  return createHash('sha256').update(zip).digest('base64');
}
