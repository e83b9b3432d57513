/**
 * README sections whose shell blocks run as written against a fresh server: "Moving a function
 * from Lambda or Function Compute" (the functions the Lambda console writes answer and log as on
 * Lambda), "Layers" and "Response streaming".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/harness.js';
import { readmeShellLines, runShellLine } from './helpers/readme.js';

describe('README: moving a function from Lambda', () => {
  let nimbus: TestServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    nimbus = await startTestServer();
    env = { ...process.env, NIMBUS_URL: nimbus.url, NIMBUS_KEY: nimbus.key, XDG_CONFIG_HOME: nimbus.dataDir };
  });
  after(() => nimbus.close());

  it('runs every line of the section as written', async () => {
    const lines = readmeShellLines('## Moving a function from Lambda or Function Compute');
    assert.equal(lines.length, 5, lines.join('\n'));
    const out: string[] = [];
    for (const line of lines) {
      const res = await runShellLine(env, line);
      assert.equal(res.code, 0, `${line}\n${res.stdout}\n${res.stderr}`);
      out.push(res.stdout);
    }
    const python = JSON.parse(out[1]!);
    assert.equal(python.statusCode, 200);
    assert.equal(python.body, '"Hello from Lambda!"');
    assert.match(python.boto3, /^\d+\.\d+\.\d+$/, 'the provided boto3');
    const node = JSON.parse(out[3]!);
    assert.equal(node.body, '"Hello from Lambda!"');
    assert.equal(node.region, 'us-east-1');
    const logs = out[4]!;
    assert.match(logs, /START RequestId: \S+ Version: \$LATEST/);
    assert.match(
      logs,
      /\tINFO\tevent \{"key1":"value1"\} in arn:aws:lambda:us-east-1:000000000000:function:from-lambda-node/,
    );
    assert.match(logs, /END RequestId: /);
    assert.match(
      logs,
      /REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB/,
    );
    assert.match(logs, /Init Duration: [\d.]+ ms/);
  });
});

describe('README: layers', () => {
  let nimbus: TestServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    nimbus = await startTestServer();
    env = { ...process.env, NIMBUS_URL: nimbus.url, NIMBUS_KEY: nimbus.key, XDG_CONFIG_HOME: nimbus.dataDir };
  });
  after(() => nimbus.close());

  it('runs every line of the section as written', async () => {
    const lines = readmeShellLines('## Layers');
    assert.equal(lines.length, 6, lines.join('\n'));
    const out: string[] = [];
    for (const line of lines) {
      const res = await runShellLine(env, line, nimbus.url);
      assert.equal(res.code, 0, `${line}\n${res.stdout}\n${res.stderr}`);
      out.push(res.stdout);
    }
    assert.match(out[0]!, /layer:greetings:1/);
    assert.match(out[2]!, /Ada/);
    assert.match(out[3]!, /greetings/);
    const fn = await nimbus.request('GET', '/v1/functions/hello-layer');
    assert.deepEqual(fn.body.layers, [], '--no-layers emptied the list');
    const versions = await nimbus.request('GET', '/v1/layers/greetings/versions');
    assert.deepEqual(versions.body.versions, [], 'the version was deleted');
  });
});

describe('README: response streaming', () => {
  let nimbus: TestServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    nimbus = await startTestServer();
    env = { ...process.env, NIMBUS_URL: nimbus.url, NIMBUS_KEY: nimbus.key, XDG_CONFIG_HOME: nimbus.dataDir };
  });
  after(() => nimbus.close());

  it('runs every line of the section as written (the server at its test address)', async () => {
    const lines = readmeShellLines('### Response streaming');
    assert.equal(lines.length, 3, lines.join('\n'));
    const out: string[] = [];
    for (const line of lines) {
      const res = await runShellLine(env, line, nimbus.url);
      assert.equal(res.code, 0, `${line}\n${res.stdout}\n${res.stderr}`);
      out.push(res.stdout);
    }
    assert.match(out[2]!, /^chunk 1 of \S+\nchunk 2 of \S+\nchunk 3 of \S+\n$/);
  });
});
