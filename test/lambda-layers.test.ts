/**
 * Lambda's layer actions driven by real AWS clients (the AWS CLI and the AWS SDK for JavaScript
 * v3), signing with Nimbus access keys against a real server with real sandboxes: publish, get
 * (also by ARN, and the download link), list with paging and runtime filters, delete, `Layers`
 * on CreateFunction and UpdateFunctionConfiguration and in FunctionConfiguration, published
 * versions keeping their layer versions, the errors, and which grants may do what.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteLayerVersionCommand,
  GetFunctionConfigurationCommand,
  GetLayerVersionByArnCommand,
  GetLayerVersionCommand,
  InvokeCommand,
  LambdaClient,
  ListLayersCommand,
  PublishLayerVersionCommand,
  PublishVersionCommand,
  UpdateFunctionConfigurationCommand,
  paginateListLayerVersions,
  type Runtime,
} from '@aws-sdk/client-lambda';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { startTestServer, type TestServer } from './helpers/harness.js';
import { createAccessKey, lambdaClient, type AccessKey } from './helpers/lambda-client.js';

let server: TestServer;
let work: string;
let fullKey: AccessKey;

/** Reads /opt/data.txt, as a function on Lambda reads a file its layer ships. */
const READER = `const fs = require('node:fs');
exports.handler = async () => ({ data: fs.existsSync('/opt/data.txt') ? fs.readFileSync('/opt/data.txt', 'utf8') : null });
`;

async function zipOf(files: Record<string, string>): Promise<Buffer> {
  const dir = mkdtempSync(join(work, 'src-'));
  for (const [path, content] of Object.entries(files)) writeFileSync(join(dir, path), content);
  return packDirectory(dir);
}

function createKey(grants: Record<string, unknown> = {}): Promise<AccessKey> {
  return createAccessKey(server, grants);
}

function sdk(key: AccessKey): LambdaClient {
  return lambdaClient(server, key);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// Asynchronous on purpose: the server runs in this process, so a synchronous spawn would deadlock it.
function aws(key: AccessKey, ...args: string[]): Promise<Run> {
  const home = join(work, 'home');
  mkdirSync(home, { recursive: true });
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    AWS_ACCESS_KEY_ID: key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_PAGER: '',
    AWS_CONFIG_FILE: join(home, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  return new Promise((resolve) => {
    execFile(
      'aws',
      ['lambda', ...args, '--endpoint-url', server.url, '--output', 'json'],
      { env, timeout: 90_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

async function awsJson(key: AccessKey, ...args: string[]): Promise<any> {
  const result = await aws(key, ...args);
  assert.equal(result.code, 0, `aws lambda ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout.trim() ? JSON.parse(result.stdout) : undefined;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'nimbus-lambda-layers-'));
  server = await startTestServer({ sandbox: 'bubblewrap' });
  fullKey = await createKey({ description: 'full access' });
});

after(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('layers through the AWS CLI', () => {
  it('publishes, reads, lists, attaches to a function, and deletes layer versions', async () => {
    const zip = await zipOf({ 'data.txt': 'from the cli layer' });
    const zipFile = join(work, 'layer.zip');
    writeFileSync(zipFile, zip);
    const published = await awsJson(
      fullKey,
      'publish-layer-version',
      '--layer-name',
      'cli-data',
      '--zip-file',
      `fileb://${zipFile}`,
      '--compatible-runtimes',
      'nodejs20.x',
      'python3.12',
      '--description',
      'data for the tests',
      '--license-info',
      'MIT',
    );
    assert.equal(published.Version, 1);
    assert.equal(published.LayerArn, 'arn:aws:lambda:us-east-1:000000000000:layer:cli-data');
    assert.equal(published.LayerVersionArn, 'arn:aws:lambda:us-east-1:000000000000:layer:cli-data:1');
    assert.equal(published.Content.CodeSha256, createHash('sha256').update(zip).digest('base64'));
    assert.equal(published.Content.CodeSize, zip.length);
    assert.deepEqual(published.CompatibleRuntimes, ['nodejs20.x', 'python3.12']);
    assert.equal(published.LicenseInfo, 'MIT');
    assert.match(published.CreatedDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);

    const got = await awsJson(
      fullKey,
      'get-layer-version',
      '--layer-name',
      'cli-data',
      '--version-number',
      '1',
    );
    assert.equal(got.Description, 'data for the tests');
    // The download link needs no signature, like Lambda's pre-signed S3 URL.
    const download = await fetch(got.Content.Location);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), zip);
    const tampered = await fetch(got.Content.Location.replace(/signature=[0-9a-f]/, 'signature=x'));
    assert.equal(tampered.status, 403);

    const byArn = await awsJson(fullKey, 'get-layer-version-by-arn', '--arn', published.LayerVersionArn);
    assert.equal(byArn.Version, 1);
    const layers = await awsJson(fullKey, 'list-layers');
    const listed = layers.Layers.find((l: any) => l.LayerName === 'cli-data');
    assert.equal(listed.LatestMatchingVersion.LayerVersionArn, published.LayerVersionArn);
    const versions = await awsJson(fullKey, 'list-layer-versions', '--layer-name', 'cli-data');
    assert.deepEqual(
      versions.LayerVersions.map((v: any) => v.Version),
      [1],
    );

    const codeFile = join(work, 'reader.zip');
    writeFileSync(codeFile, await zipOf({ 'index.js': READER }));
    const created = await awsJson(
      fullKey,
      'create-function',
      '--function-name',
      'cli-reader',
      '--runtime',
      'nodejs20.x',
      '--handler',
      'index.handler',
      '--role',
      'arn:aws:iam::000000000000:role/any',
      '--zip-file',
      `fileb://${codeFile}`,
      '--layers',
      published.LayerVersionArn,
    );
    assert.deepEqual(created.Layers, [{ Arn: published.LayerVersionArn, CodeSize: zip.length }]);
    const out = join(work, 'out.json');
    await awsJson(fullKey, 'invoke', '--function-name', 'cli-reader', out);
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), { data: 'from the cli layer' });

    const cleared = await awsJson(
      fullKey,
      'update-function-configuration',
      '--function-name',
      'cli-reader',
      '--layers',
    );
    assert.equal(cleared.Layers, undefined);

    const deleted = await aws(
      fullKey,
      'delete-layer-version',
      '--layer-name',
      'cli-data',
      '--version-number',
      '1',
    );
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = await aws(fullKey, 'get-layer-version', '--layer-name', 'cli-data', '--version-number', '1');
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /ResourceNotFoundException/);
    const s3 = await aws(
      fullKey,
      'publish-layer-version',
      '--layer-name',
      'cli-data',
      '--content',
      'S3Bucket=bucket,S3Key=layer.zip',
    );
    assert.notEqual(s3.code, 0);
    assert.match(s3.stderr, /InvalidParameterValueException.*S3 locations are not supported/);
  });
});

describe('layers through the AWS SDK v3', () => {
  it('pages versions, filters by runtime, and keeps a published version’s layers', async () => {
    const lambda = sdk(fullKey);
    const publish = async (data: string, runtimes: Runtime[]) =>
      lambda.send(
        new PublishLayerVersionCommand({
          LayerName: 'sdk-data',
          Content: { ZipFile: await zipOf({ 'data.txt': data }) },
          CompatibleRuntimes: runtimes,
        }),
      );
    const v1 = await publish('one', ['nodejs20.x']);
    const v2 = await publish('two', ['python3.12']);
    const v3 = await publish('three', ['python3.12']);
    assert.deepEqual([v1.Version, v2.Version, v3.Version], [1, 2, 3]);

    const seen: number[] = [];
    for await (const pageOf of paginateListLayerVersions(
      { client: lambda, pageSize: 1 },
      { LayerName: 'sdk-data' },
    )) {
      assert.ok((pageOf.LayerVersions ?? []).length <= 1);
      for (const v of pageOf.LayerVersions ?? []) seen.push(v.Version!);
    }
    assert.deepEqual(seen, [3, 2, 1]);
    const node = await lambda.send(new ListLayersCommand({ CompatibleRuntime: 'nodejs20.x' }));
    const match = node.Layers?.find((l) => l.LayerName === 'sdk-data');
    assert.equal(match?.LatestMatchingVersion?.Version, 1, 'the newest version naming nodejs20.x');
    const byArn = await lambda.send(new GetLayerVersionByArnCommand({ Arn: v2.LayerVersionArn }));
    assert.equal(byArn.Version, 2);

    const created = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'sdk-reader',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/any',
        Code: { ZipFile: await zipOf({ 'index.js': READER }) },
        Layers: [v1.LayerVersionArn!],
      }),
    );
    assert.deepEqual(
      created.Layers?.map((l) => l.Arn),
      [v1.LayerVersionArn],
    );
    const published = await lambda.send(new PublishVersionCommand({ FunctionName: 'sdk-reader' }));
    assert.equal(published.Version, '1');
    const updated = await lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: 'sdk-reader', Layers: ['sdk-data:3'] }),
    );
    assert.deepEqual(
      updated.Layers?.map((l) => l.Arn),
      [v3.LayerVersionArn],
    );
    const frozen = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: 'sdk-reader', Qualifier: '1' }),
    );
    assert.deepEqual(
      frozen.Layers?.map((l) => l.Arn),
      [v1.LayerVersionArn],
    );
    const data = async (qualifier?: string) => {
      const res = await lambda.send(new InvokeCommand({ FunctionName: 'sdk-reader', Qualifier: qualifier }));
      assert.equal(res.FunctionError, undefined);
      return JSON.parse(Buffer.from(res.Payload!).toString('utf8')).data;
    };
    assert.equal(await data(), 'three');
    assert.equal(await data('1'), 'one');
    // Deleting the layer version leaves the function version that uses it working.
    await lambda.send(new DeleteLayerVersionCommand({ LayerName: 'sdk-data', VersionNumber: 1 }));
    await lambda.send(new DeleteLayerVersionCommand({ LayerName: 'sdk-data', VersionNumber: 1 })); // 204 again
    assert.equal(await data('1'), 'one');
  });

  it('answers bad layer input with Lambda’s exceptions', async () => {
    const lambda = sdk(fullKey);
    const zip = await zipOf({ 'data.txt': 'x' });
    await assert.rejects(lambda.send(new GetLayerVersionCommand({ LayerName: 'nope', VersionNumber: 1 })), {
      name: 'ResourceNotFoundException',
    });
    await assert.rejects(
      lambda.send(new PublishLayerVersionCommand({ LayerName: 'bad name', Content: { ZipFile: zip } })),
      { name: 'InvalidParameterValueException' },
    );
    await assert.rejects(
      lambda.send(
        new PublishLayerVersionCommand({ LayerName: 's3', Content: { S3Bucket: 'b', S3Key: 'k.zip' } }),
      ),
      (err: Error) => err.name === 'InvalidParameterValueException' && /S3 locations/.test(err.message),
    );
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      const v = await lambda.send(
        new PublishLayerVersionCommand({ LayerName: `six-${i}`, Content: { ZipFile: zip } }),
      );
      names.push(v.LayerVersionArn!);
    }
    const create = (layers: string[]) =>
      lambda.send(
        new CreateFunctionCommand({
          FunctionName: 'sdk-too-many',
          Runtime: 'nodejs20.x',
          Handler: 'index.handler',
          Role: 'arn:aws:iam::000000000000:role/any',
          Code: { ZipFile: zip },
          Layers: layers,
        }),
      );
    await assert.rejects(
      create(names),
      (err: Error) => err.name === 'InvalidParameterValueException' && /at most 5/.test(err.message),
    );
    await assert.rejects(create(['arn:aws:lambda:us-east-1:000000000000:layer:ghost:1']), {
      name: 'ResourceNotFoundException',
    });
    await assert.rejects(create(['arn:aws:lambda:eu-west-1:123456789012:layer:six-0:1']), {
      name: 'InvalidParameterValueException',
    });
  });

  it('lets manage:* publish and delete, a function’s manager read and attach, and no one else', async () => {
    const admin = sdk(fullKey);
    const zip = await zipOf({ 'data.txt': 'granted' });
    const v = await admin.send(
      new PublishLayerVersionCommand({ LayerName: 'granted', Content: { ZipFile: zip } }),
    );
    const scoped = sdk(await createKey({ allow: ['manage:scoped-fn'] }));
    await assert.rejects(
      scoped.send(new PublishLayerVersionCommand({ LayerName: 'granted', Content: { ZipFile: zip } })),
      { name: 'AccessDeniedException' },
    );
    await assert.rejects(
      scoped.send(new DeleteLayerVersionCommand({ LayerName: 'granted', VersionNumber: 1 })),
      {
        name: 'AccessDeniedException',
      },
    );
    assert.equal(
      (await scoped.send(new GetLayerVersionCommand({ LayerName: 'granted', VersionNumber: 1 }))).Version,
      1,
    );
    // LayerName may be the layer's ARN, as Lambda allows.
    const byLayerArn = await admin.send(
      new GetLayerVersionCommand({ LayerName: v.LayerArn, VersionNumber: 1 }),
    );
    assert.equal(byLayerArn.LayerVersionArn, v.LayerVersionArn);
    const created = await scoped.send(
      new CreateFunctionCommand({
        FunctionName: 'scoped-fn',
        Runtime: 'nodejs20.x',
        Handler: 'index.handler',
        Role: 'arn:aws:iam::000000000000:role/any',
        Code: { ZipFile: await zipOf({ 'index.js': READER }) },
        Layers: [v.LayerVersionArn!],
      }),
    );
    assert.equal(created.Layers?.length, 1);
    const invoker = sdk(await createKey({ allow: ['invoke:*'] }));
    await assert.rejects(invoker.send(new ListLayersCommand({})), { name: 'AccessDeniedException' });
  });
});
