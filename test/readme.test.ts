/**
 * README sections whose shell blocks run as written, each against a fresh server: "Moving a
 * function from Lambda or Function Compute" (the functions the Lambda console writes answer and
 * log as on Lambda), "Layers" and "Response streaming".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/harness.js';
import { readmeShellLines, runShellLine } from './helpers/readme.js';

/**
 * Starts a fresh server, runs every line of the section's shell blocks against it (each must exit
 * 0), hands their outputs and the server to `check`, then removes the server.
 */
async function runSection(
  heading: string,
  lineCount: number,
  check: (out: string[], nimbus: TestServer) => Promise<void> | void,
): Promise<void> {
  const lines = readmeShellLines(heading);
  assert.equal(lines.length, lineCount, lines.join('\n'));
  const nimbus = await startTestServer();
  try {
    const env = {
      ...process.env,
      NIMBUS_URL: nimbus.url,
      NIMBUS_KEY: nimbus.key,
      XDG_CONFIG_HOME: nimbus.dataDir,
    };
    const out: string[] = [];
    for (const line of lines) {
      const res = await runShellLine(env, line, nimbus.url);
      assert.equal(res.code, 0, `${line}\n${res.stdout}\n${res.stderr}`);
      out.push(res.stdout);
    }
    await check(out, nimbus);
  } finally {
    await nimbus.close();
  }
}

describe('README shell blocks', () => {
  it('Moving a function from Lambda or Function Compute', () =>
    runSection('## Moving a function from Lambda or Function Compute', 5, (out) => {
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
    }));

  it('Layers', () =>
    runSection('## Layers', 6, async (out, nimbus) => {
      assert.match(out[0]!, /layer:greetings:1/);
      assert.match(out[2]!, /Ada/);
      assert.match(out[3]!, /greetings/);
      const fn = await nimbus.request('GET', '/v1/functions/hello-layer');
      assert.deepEqual(fn.body.layers, [], '--no-layers emptied the list');
      const versions = await nimbus.request('GET', '/v1/layers/greetings/versions');
      assert.deepEqual(versions.body.versions, [], 'the version was deleted');
    }));

  it('Response streaming (curl at the test server’s address)', () =>
    runSection('### Response streaming', 3, (out) => {
      assert.match(out[2]!, /^chunk 1 of \S+\nchunk 2 of \S+\nchunk 3 of \S+\n$/);
    }));
});
