/**
 * The Python runtime's contract with function code, as Lambda's own Python runtime (awslambdaric)
 * keeps it: handler strings, init errors and their messages, errors and `logging` in the log, the
 * context object, and which packages a function can import. Real server, real sandboxes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkProvidedPythonPackages, providedPackagesWarning } from '../src/sandbox/python-packages.js';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { runCli } from './helpers/cli.js';
import { FIXTURES, SANDBOXES, startTestServer, type TestServer } from './helpers/harness.js';
import { createAccessKey, lambdaClient } from './helpers/lambda-client.js';

const ARN_PREFIX = 'arn:aws:lambda:us-east-1:000000000000:function:';
const NBSP = '\u00a0';

interface LogLine {
  stream: string;
  message: string;
}

async function logsOf(nimbus: TestServer, res: { headers: Headers }): Promise<LogLine[]> {
  const id = res.headers.get('x-nimbus-execution-id');
  const logs = await nimbus.request('GET', `/v1/executions/${id}/logs`);
  assert.equal(logs.status, 200, logs.text);
  return logs.body.lines as LogLine[];
}

describe('Python handler strings, resolved as Lambda resolves them', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer();
  });
  after(() => nimbus.close());

  // handler → the module that served the call (name as Python knows it, file).
  const resolved: [string, string, string][] = [
    ['main.handler', 'main', 'main.py'],
    ['my-func.lambda_handler', 'my-func', 'my-func.py'],
    ['src/app.handler', 'src.app', 'app.py'],
    ['pkg.sub.module.handler', 'pkg.sub.module', 'module.py'],
    ['pkg/sub/module.handler', 'pkg.sub.module', 'module.py'],
  ];
  for (const [i, [handler, module, file]] of resolved.entries()) {
    it(`runs ${handler}`, async () => {
      const name = `py-handler-${i}`;
      await nimbus.deploy(name, 'python-handlers', 'python3', handler);
      const res = await nimbus.invoke(name, {});
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { module, file });
    });
  }

  // handler → Lambda's error type and message at init.
  const initErrors: [string, string, string][] = [
    [
      'needs_missing.handler',
      'Runtime.ImportModuleError',
      "Unable to import module 'needs_missing': No module named 'nimbus_no_such_module'",
    ],
    ['main.nope', 'Runtime.HandlerNotFound', "Handler 'nope' missing on module 'main'"],
    [
      'broken_syntax.handler',
      'Runtime.UserCodeSyntaxError',
      "Syntax error in module 'broken_syntax': expected ':' (broken_syntax.py, line 1)",
    ],
    ['sys.handler', 'Runtime.BuiltInModuleConflict', 'Cannot use built-in module sys as a handler module'],
    ['raises_at_import.handler', 'ValueError', 'exploded: at import'],
  ];
  for (const [handler, type, message] of initErrors) {
    it(`fails ${handler} at init with ${type}`, async () => {
      const name = `py-e-${handler.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
      await nimbus.deploy(name, 'python-handlers', 'python3', handler);
      const res = await nimbus.invoke(name, {});
      assert.equal(res.status, 502, res.text);
      assert.equal(res.body.error.type, type);
      const record = await nimbus.executionOf(res);
      assert.deepEqual([record.error.type, record.error.message], [type, message]);
      const lines = await logsOf(nimbus, res);
      const entry = lines.find((l) => l.message.startsWith('[ERROR]'));
      assert.ok(entry, JSON.stringify(lines));
      // One entry: its lines joined with carriage returns, as awslambdaric's log sink writes them.
      const [head, traceHead] = entry.message.split('\r');
      assert.equal(head, `[ERROR] ${type}: ${message}`);
      assert.equal(traceHead, 'Traceback (most recent call last):');
    });
  }

  it('reports the function frames of an error raised while its module loads, none of the runtime', async () => {
    const res = await nimbus.invoke('py-e-raises-at-import-handler', {});
    assert.equal(res.status, 502, res.text);
    const stack: string = res.body.error.stack;
    assert.match(
      stack,
      /^Traceback \(most recent call last\):\n {2}File ".*raises_at_import\.py", line 3, in <module>\n/,
    );
    assert.match(stack, /helper\.py", line 2, in explode\n {4}raise ValueError/);
    assert.doesNotMatch(stack, /bootstrap\.py|importlib/);
  });

  it('reports a syntax error with its file and line, as awslambdaric does', async () => {
    const res = await nimbus.invoke('py-e-broken-syntax-handler', {});
    assert.match(
      res.body.error.stack,
      /File ".*broken_syntax\.py" Line 1\n {4}def handler\(event, context\)/,
    );
  });

  it('deploys any handler without whitespace that names a module and a function, and refuses the rest', async () => {
    const zipBase64 = (await packDirectory(join(FIXTURES, 'python-handlers'))).toString('base64');
    for (const handler of ['main handler', 'main', 'main.', ' main.handler', 'main.handler\n']) {
      const res = await nimbus.request('POST', '/v1/functions', {
        json: { name: 'py-bad-handler', runtime: 'python3', handler, code: { zipBase64 } },
      });
      assert.equal(res.status, 400, `${JSON.stringify(handler)}: ${res.text}`);
      assert.match(res.body.error.message, /handler/);
    }
  });

  it('calls what the handler names; a value that is not callable fails the call with TypeError', async () => {
    await nimbus.deploy('py-h-not-callable', 'python-handlers', 'python3', 'main.not_callable');
    const res = await nimbus.invoke('py-h-not-callable', {});
    assert.equal(res.status, 502, res.text);
    assert.equal(res.body.error.type, 'TypeError');
  });
});

describe('Python errors, logs and results as Lambda writes them', () => {
  let nimbus: TestServer;
  let lambda: LambdaClient;
  before(async () => {
    nimbus = await startTestServer();
    await nimbus.deploy('py-fail', 'python-handlers', 'python3', 'main.fail');
    await nimbus.deploy('py-levels', 'python-handlers', 'python3', 'main.log_levels');
    await nimbus.deploy('py-set', 'python-handlers', 'python3', 'main.returns_set');
    await nimbus.deploy('py-init-fail', 'python-handlers', 'python3', 'needs_yaml.handler');
    await nimbus.deploy('py-decimal', 'python-handlers', 'python3', 'main.returns_decimal');
    lambda = lambdaClient(nimbus, await createAccessKey(nimbus));
  });
  after(() => nimbus.close());

  it('logs an unhandled error as one [ERROR] entry with the traceback of the function frames', async () => {
    const res = await nimbus.invoke('py-fail', { why: 'testing' });
    assert.equal(res.status, 502, res.text);
    assert.equal(res.body.error.type, 'ValueError');
    assert.equal((await nimbus.executionOf(res)).error.message, 'exploded: testing');
    const entries = (await logsOf(nimbus, res)).filter((l) => l.message.startsWith('[ERROR]'));
    assert.equal(entries.length, 1, JSON.stringify(entries));
    const lines = entries[0]!.message.split('\r');
    assert.equal(lines[0], '[ERROR] ValueError: exploded: testing');
    assert.equal(lines[1], 'Traceback (most recent call last):');
    // Frames from the handler on, indented with no-break spaces as awslambdaric indents them.
    assert.match(lines[2]!, new RegExp(`^${NBSP}{2}File ".*main\\.py", line \\d+, in fail$`));
    assert.equal(lines[3], `${NBSP.repeat(4)}helper.explode(event.get("why", "no reason"))`);
    assert.match(lines[4]!, new RegExp(`^${NBSP}{2}File ".*helper\\.py", line 2, in explode$`));
    assert.ok(!entries[0]!.message.includes('bootstrap'), entries[0]!.message);
  });

  it("answers Lambda's error document with one stackTrace entry per frame, and the log tail", async () => {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'py-fail',
        Payload: JSON.stringify({ why: 'sdk' }),
        LogType: 'Tail',
      }),
    );
    assert.equal(out.FunctionError, 'Unhandled');
    const document = JSON.parse(Buffer.from(out.Payload!).toString('utf8'));
    assert.equal(document.errorType, 'ValueError');
    assert.equal(document.errorMessage, 'exploded: sdk');
    assert.equal(document.stackTrace.length, 2, JSON.stringify(document.stackTrace));
    assert.match(document.stackTrace[0], /^ {2}File ".*main\.py", line \d+, in fail\n {4}helper\.explode/);
    assert.match(
      document.stackTrace[1],
      /^ {2}File ".*helper\.py", line 2, in explode\n {4}raise ValueError/,
    );
    const tail = Buffer.from(out.LogResult!, 'base64').toString('utf8');
    assert.match(tail, /\[ERROR\] ValueError: exploded: sdk\rTraceback \(most recent call last\):\r/);
  });

  it("answers an init error with Lambda's error document", async () => {
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'py-init-fail', Payload: '{}' }));
    assert.equal(out.FunctionError, 'Unhandled');
    assert.deepEqual(JSON.parse(Buffer.from(out.Payload!).toString('utf8')), {
      errorMessage: "Unable to import module 'needs_yaml': No module named 'yaml'",
      errorType: 'Runtime.ImportModuleError',
      requestId: out.$metadata.requestId,
      stackTrace: [],
    });
  });

  it('shows the entry as lines in `nimbus logs`', async () => {
    const res = await nimbus.invoke('py-fail', { why: 'cli' });
    const env = {
      ...process.env,
      NIMBUS_URL: nimbus.url,
      NIMBUS_KEY: nimbus.key,
      XDG_CONFIG_HOME: nimbus.dataDir,
    };
    const logs = await runCli(env, ['logs', res.headers.get('x-nimbus-execution-id')!]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(
      logs.stdout,
      /stdout \[ERROR\] ValueError: exploded: cli\n {4}Traceback \(most recent call last\):\n {4}\u00a0\u00a0File /,
    );
    assert.ok(!logs.stdout.includes('\r'));
  });

  it("formats logging records as Lambda does, at Python's WARNING level until the function lowers it", async () => {
    const quiet = (await logsOf(nimbus, await nimbus.invoke('py-levels', {}))).map((l) => l.message);
    assert.ok(!quiet.some((m) => m.includes('info line')), JSON.stringify(quiet));
    const res = await nimbus.invoke('py-levels', { level: 'INFO' });
    const id = res.headers.get('x-nimbus-execution-id');
    const messages = (await logsOf(nimbus, res)).map((l) => l.message);
    const time = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
    assert.ok(
      messages.some((m) => new RegExp(`^\\[INFO\\]\\t${time}\\t${id}\\tinfo line$`).test(m)),
      JSON.stringify(messages),
    );
    // A record with line breaks stays one entry.
    assert.ok(
      messages.some((m) =>
        new RegExp(`^\\[WARNING\\]\\t${time}\\t${id}\\twarning line\\rsecond line of the same record$`).test(
          m,
        ),
      ),
      JSON.stringify(messages),
    );
    assert.ok(!messages.some((m) => m.includes('debug line')));
    assert.ok(messages.includes('printed line'));
  });

  it('reports a result that is not JSON as Runtime.MarshalError, and encodes Decimal as a number', async () => {
    const res = await nimbus.invoke('py-set', {});
    assert.equal(res.status, 502, res.text);
    assert.equal(res.body.error.type, 'Runtime.MarshalError');
    assert.equal(
      (await nimbus.executionOf(res)).error.message,
      'Unable to marshal response: Object of type set is not JSON serializable',
    );
    const decimal = await nimbus.invoke('py-decimal', {});
    assert.equal(decimal.status, 200, decimal.text);
    assert.equal(decimal.text, '{"count": 3, "ratio": 0.5}');
  });
});

describe('the Python context object', () => {
  let nimbus: TestServer;
  let work: string;
  before(async () => {
    nimbus = await startTestServer();
    await nimbus.deploy('py-ctx', 'python-handlers', 'python3', 'main.context_fields', {
      memoryMb: 256,
      timeoutSec: 7,
    });
    // The X-Ray SDK and what it imports besides botocore (Debian's 0.95 uses setuptools'
    // pkg_resources), from Debian (.ci/run installs python3-aws-xray-sdk), packed beside the
    // function as `pip install -t` would.
    work = mkdtempSync(join(tmpdir(), 'nimbus-xray-'));
    cpSync(join(FIXTURES, 'python-xray'), work, { recursive: true });
    for (const name of ['aws_xray_sdk', 'wrapt', 'jsonpickle', 'pkg_resources']) {
      cpSync(join('/usr/lib/python3/dist-packages', name), join(work, name), {
        recursive: true,
        dereference: true,
        filter: (p) => !p.includes('__pycache__'),
      });
    }
    const zip = await packDirectory(work);
    const created = await nimbus.request('POST', '/v1/functions', {
      json: {
        name: 'py-xray',
        runtime: 'python3',
        handler: 'main.handler',
        code: { zipBase64: zip.toString('base64') },
      },
    });
    assert.equal(created.status, 201, created.text);
  });
  after(async () => {
    await nimbus.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("gives the AWS X-Ray SDK a trace header it reads as Lambda's", async () => {
    const res = await nimbus.invoke('py-xray', {});
    assert.equal(res.status, 200, res.text);
    const { header, trace_id: traceId, parent_id: parentId, sampled, facade } = res.body;
    assert.equal(facade, 'FacadeSegment');
    const [, root, parent] =
      /^Root=(1-[0-9a-f]{8}-[0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=0$/.exec(header) ?? [];
    assert.ok(root && parent, header);
    assert.deepEqual([traceId, parentId, sampled], [root, parent, false]);
    const next = await nimbus.invoke('py-xray', {});
    assert.notEqual(next.body.trace_id, traceId, 'the SDK sees the trace of each call');
  });

  it("has Lambda's fields and Function Compute's, with a fresh trace id per call", async () => {
    const res = await nimbus.invoke('py-ctx', {});
    assert.equal(res.status, 200, res.text);
    const id = res.headers.get('x-nimbus-execution-id');
    const c = res.body;
    assert.equal(c.aws_request_id, id);
    assert.equal(c.function_name, 'py-ctx');
    assert.equal(c.function_version, '$LATEST');
    assert.equal(c.invoked_function_arn, `${ARN_PREFIX}py-ctx`);
    assert.equal(c.memory_limit_in_mb, '256');
    assert.deepEqual(c.identity, [null, null]);
    assert.equal(c.client_context, null);
    assert.ok(c.remaining_ms > 0 && c.remaining_ms <= 7000, String(c.remaining_ms));
    assert.match(c.trace_id, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
    const again = await nimbus.invoke('py-ctx', {});
    assert.notEqual(again.body.trace_id, c.trace_id, 'each call has its own trace id');

    assert.equal(c.request_id, id);
    assert.deepEqual(c.fc_function, {
      name: 'py-ctx',
      handler: 'main.context_fields',
      memory: 256,
      timeout: 7,
      initializer: null,
      version_id: '$LATEST',
      qualifier: '$LATEST',
    });
    assert.deepEqual(c.fc_service, {
      name: 'py-ctx',
      log_project: '',
      log_store: '',
      qualifier: '$LATEST',
      version_id: '$LATEST',
    });
    assert.deepEqual(c.fc_credentials, {
      access_key_id: null,
      access_key_secret: null,
      security_token: null,
    });
    assert.equal(c.region, 'us-east-1');
    assert.equal(c.account_id, '000000000000');
    assert.equal(c.item_function_name, 'py-ctx');
  });
});

for (const sandbox of SANDBOXES) {
  describe(`what a Python function can import (${sandbox} sandbox)`, () => {
    let nimbus: TestServer;
    before(async () => {
      nimbus = await startTestServer({ sandbox });
      await nimbus.deploy('py-import', 'python-handlers', 'python3', 'main.import_module');
      await nimbus.deploy('py-paths', 'python-handlers', 'python3', 'main.paths');
      await nimbus.deploy('py-s3', 'python-handlers', 'python3', 'main.make_s3_client');
      await nimbus.deploy('py-yaml', 'python-handlers', 'python3', 'needs_yaml.handler');
      await nimbus.deploy('py-own-boto3', 'python-own-boto3', 'python3', 'main.handler');
    });
    after(() => nimbus.close());

    it('provides boto3, with its version and metadata, and makes working clients', async () => {
      const res = await nimbus.invoke('py-import', { module: 'boto3' });
      assert.equal(res.status, 200, res.text);
      assert.match(res.body.version, /^\d+\.\d+\.\d+$/);
      assert.equal(res.body.metadataVersion, res.body.version);
      const botocore = await nimbus.invoke('py-import', { module: 'botocore' });
      assert.match(botocore.body.version, /^\d+\.\d+\.\d+$/);
      const s3 = await nimbus.invoke('py-s3', {});
      assert.equal(s3.status, 200, s3.text);
      assert.equal(s3.body.endpoint, 'https://s3.eu-west-1.amazonaws.com');
    });

    it("does not let a function import the host's other packages", async () => {
      for (const module of ['yaml', 'flask']) {
        const res = await nimbus.invoke('py-import', { module });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body, { error: 'ModuleNotFoundError', message: `No module named '${module}'` });
      }
      const res = await nimbus.invoke('py-yaml', {});
      assert.equal(res.status, 502, res.text);
      assert.equal(res.body.error.type, 'Runtime.ImportModuleError');
      const record = await nimbus.executionOf(res);
      assert.equal(record.error.message, "Unable to import module 'needs_yaml': No module named 'yaml'");
    });

    it("puts the function's code first, then the layers, then the provided packages", async () => {
      const res = await nimbus.invoke('py-paths', {});
      assert.equal(res.status, 200, res.text);
      const path: string[] = res.body.path;
      // /opt under bubblewrap; the instance's opt slot (NIMBUS_OPT_DIR) under the process driver.
      const minor = path.find((p) => /\/python\/lib\/python3\.\d+\/site-packages$/.test(p));
      assert.ok(minor, JSON.stringify(path));
      const opt = minor.replace(/\/python\/lib\/python3\.\d+\/site-packages$/, '');
      if (sandbox === 'bubblewrap') assert.equal(opt, '/opt');
      assert.deepEqual(path.slice(1, 3), [minor, `${opt}/python`]);
      assert.match(path[3]!, /\/python-packages$/);
      assert.ok(
        !path.some((p) => p.includes('dist-packages') || p.endsWith('runtime/python')),
        JSON.stringify(path),
      );
    });

    it('lets a function that packs its own boto3 use it', async () => {
      const res = await nimbus.invoke('py-own-boto3', {});
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.version, '0.0.0-packed-by-the-function');
    });
  });
}

describe('the provided Python packages', () => {
  it('links exactly boto3 and its dependencies (and their metadata) from the host, nothing else', () => {
    const work = mkdtempSync(join(tmpdir(), 'nimbus-pkgs-'));
    try {
      const source = join(work, 'dist-packages');
      for (const dir of ['boto3', 'botocore', 'yaml', 'boto3-1.26.27.egg-info', 'PyYAML-6.0.dist-info']) {
        mkdirSync(join(source, dir), { recursive: true });
      }
      writeFileSync(join(source, 'six.py'), '');
      const target = join(work, 'python-packages');
      const result = linkProvidedPythonPackages(target, source);
      assert.deepEqual(result.linked, ['boto3', 'botocore', 'six']);
      assert.deepEqual(result.missing, ['s3transfer', 'jmespath', 'dateutil', 'urllib3']);
      assert.deepEqual(readdirSync(target).sort(), ['boto3', 'boto3-1.26.27.egg-info', 'botocore', 'six.py']);
      assert.equal(readlinkSync(join(target, 'boto3')), join(source, 'boto3'));
      assert.match(
        providedPackagesWarning(result)!,
        /lacks s3transfer, jmespath, dateutil, urllib3 .*python3-boto3/,
      );
      const none = linkProvidedPythonPackages(target, join(work, 'absent'));
      assert.deepEqual(readdirSync(target), []);
      assert.equal(none.missing[0], 'boto3');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
