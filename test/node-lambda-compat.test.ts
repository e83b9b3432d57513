/**
 * Node.js functions written for Lambda run unmodified: handler strings resolved as Lambda's Node
 * runtime interface client resolves them (table-driven, CommonJS and ES modules), handler modules
 * checked at deploy for both runtimes, init errors with Lambda's `Runtime.*` types, console and
 * error log lines in Lambda's text format, the context object, and real Lambda libraries
 * (Powertools' logger, middy) packed into the zip as users pack them. Real server, real runtimes.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateFunctionCommand,
  InvalidParameterValueException,
  InvokeCommand,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { missingHandlerModule, type ListPackageDirectory } from '../src/core/handler.js';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { FIXTURES, REPO_ROOT, startTestServer, type TestServer } from './helpers/harness.js';
import { createAccessKey, lambdaClient } from './helpers/lambda-client.js';

const ISO_TIME = '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z';
const TRACE_ID = /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/;

/** A fixture's files plus generated ones and packages copied from this repository's node_modules, zipped. */
async function packageOf(
  fixture: string,
  extra: Record<string, string> = {},
  modules: string[] = [],
): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-package-'));
  try {
    cpSync(join(FIXTURES, fixture), dir, { recursive: true });
    for (const [path, text] of Object.entries(extra)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    for (const name of modules) {
      cpSync(join(REPO_ROOT, 'node_modules', name), join(dir, 'node_modules', name), {
        recursive: true,
        dereference: true,
      });
    }
    return await packDirectory(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a user would have installed for the handler shapes that resolve through node_modules. */
const HANDLER_EXTRAS = {
  'node_modules/from-deps/index.js':
    "exports.handler = async () => ({ file: 'node_modules/from-deps/index.js' });\n",
  'syntax-error.js': 'exports.handler = async () => {\n  return { unbalanced: true ;\n};\n',
};

/** Handler strings and the file each must run, as Lambda's Node runtime resolves them. */
const HANDLER_SHAPES: [string, Record<string, unknown>][] = [
  ['index.handler', { file: 'index.js', export: 'handler' }],
  ['index.handlers.main', { file: 'index.js', export: 'handlers.main' }],
  ['my-func.lambda_handler', { file: 'my-func.js' }],
  ['lib/app.handler', { file: 'lib/app.js' }],
  ['src/app.handler', { file: 'src/app.mjs' }],
  ['src/app.handlers.nested.main', { file: 'src/app.mjs', export: 'handlers.nested.main' }],
  ['only-cjs.handler', { file: 'only-cjs.cjs' }],
  // .js before .mjs before .cjs
  ['both.handler', { file: 'both.js' }],
  ['pair.handler', { file: 'pair.mjs' }],
  // a directory is loaded as a package (its package.json's main)
  ['dir-package.handler', { file: 'dir-package/entry.js' }],
  // .js under a package.json with "type": "module" is an ES module
  ['esm-package/app.handler', { file: 'esm-package/app.js', esm: true }],
  ['esm-default.default', { file: 'esm-default.mjs', export: 'default' }],
  // an extensionless file is CommonJS whatever package.json says
  ['esm-package/extensionless.handler', { file: 'esm-package/extensionless' }],
  // TypeScript, bundled at deploy, whether written as an ES module or CommonJS-style
  ['cjs-style.handler', { file: 'cjs-style.ts' }],
  // Node's own resolution of the bare name, last
  ['from-deps.handler', { file: 'node_modules/from-deps/index.js' }],
];

/** Handlers whose module is there but fails to load or lacks the export: Lambda's init error types. */
const INIT_ERRORS: [string, string, RegExp][] = [
  ['syntax-error.handler', 'Runtime.UserCodeSyntaxError', /^SyntaxError: /],
  [
    'missing-dependency.handler',
    'Runtime.ImportModuleError',
    /^Error: Cannot find module 'not-installed-anywhere'\nRequire stack:\n- \/\S+\/missing-dependency\.js/,
  ],
  ['index.nope', 'Runtime.HandlerNotFound', /^index\.nope is undefined or not exported$/],
  ['index.notAFunction', 'Runtime.HandlerNotFound', /^index\.notAFunction is not a function$/],
  ['throws-at-load.handler', 'TypeError', /^configuration is missing$/],
];

describe('Node.js functions as Lambda runs them', () => {
  let nimbus: TestServer;
  let lambda: LambdaClient;
  let handlersZip: Buffer;

  async function deployZip(name: string, zip: Buffer, handler: string, extra: Record<string, unknown> = {}) {
    return nimbus.request('POST', '/v1/functions', {
      json: { name, runtime: 'nodejs', handler, code: { zipBase64: zip.toString('base64') }, ...extra },
    });
  }

  async function logsOf(res: { headers: Headers }): Promise<string[]> {
    const id = res.headers.get('x-nimbus-execution-id');
    const logs = await nimbus.request('GET', `/v1/executions/${id}/logs`);
    assert.equal(logs.status, 200);
    // What the function printed: not the platform's START / END / REPORT lines around it.
    return (logs.body.lines as { stream: string; message: string }[])
      .filter((l) => l.stream !== 'system')
      .map((l) => l.message);
  }

  before(async () => {
    nimbus = await startTestServer({});
    lambda = lambdaClient(nimbus, await createAccessKey(nimbus));
    handlersZip = await packageOf('node-handlers', HANDLER_EXTRAS);
    const wide = await deployZip(
      'rt-callback-wide',
      await packageOf('node-lambda-runtime'),
      'index.callback',
      {
        concurrency: 2,
      },
    );
    assert.equal(wide.status, 201, wide.text);
    const runtimeZip = await packageOf('node-lambda-runtime');
    for (const handler of [
      'context',
      'console',
      'callback',
      'legacy',
      'neverSettles',
      'callbackString',
      'overlap',
    ]) {
      const res = await deployZip(`rt-${handler.toLowerCase()}`, runtimeZip, `index.${handler}`, {
        concurrency: handler === 'overlap' ? 4 : 1,
      });
      assert.equal(res.status, 201, res.text);
    }
  });
  after(async () => {
    lambda.destroy();
    await nimbus.close();
  });

  describe('handler strings', () => {
    for (const [i, [handler, expected]] of HANDLER_SHAPES.entries()) {
      it(`resolves ${handler} as Lambda does`, async () => {
        const deployed = await deployZip(`shape-${i}`, handlersZip, handler);
        assert.equal(deployed.status, 201, deployed.text);
        const res = await nimbus.invoke(`shape-${i}`, {});
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body, expected);
      });
    }

    it('builds every TypeScript handler of one package, each instance seeing its own build', async () => {
      // Functions with the same code share its unpacked package: the second build adds to it.
      for (const [name, handler] of [
        ['ts-esm-style', 'esm-style.handler'],
        ['ts-cjs-style', 'cjs-style.handler'],
      ] as const) {
        const deployed = await deployZip(name, handlersZip, handler);
        assert.equal(deployed.status, 201, deployed.text);
      }
      for (const [name, file] of [
        ['ts-esm-style', 'esm-style.ts'],
        ['ts-cjs-style', 'cjs-style.ts'],
      ] as const) {
        const res = await nimbus.invoke(name, {});
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body, { file });
      }
    });

    for (const [i, [handler, type, message]] of INIT_ERRORS.entries()) {
      it(`fails the init of ${handler} with ${type}, logged as Lambda logs it`, async () => {
        const deployed = await deployZip(`init-error-${i}`, handlersZip, handler);
        assert.equal(deployed.status, 201, deployed.text);
        const res = await nimbus.invoke(`init-error-${i}`, {});
        assert.equal(res.status, 502, res.text);
        assert.equal(res.body.error.type, type);
        const record = await nimbus.executionOf(res);
        assert.equal(record.outcome, 'developer_error');
        assert.equal(record.error.type, type);
        assert.match(record.error.message, message);
        const logged = (await logsOf(res)).find((line) => line.includes('Uncaught Exception'));
        assert.ok(logged, 'the init error is in the log');
        const match = new RegExp(`^${ISO_TIME}\\tundefined\\tERROR\\tUncaught Exception \\t(\\{.*)$`).exec(
          logged,
        );
        assert.ok(match, logged);
        const json = JSON.parse(match[1]!);
        assert.equal(json.errorType, type);
        assert.match(json.errorMessage, message);
        assert.ok(Array.isArray(json.stack));
        if (type === 'Runtime.UserCodeSyntaxError') {
          assert.match(
            json.stack.join('\n'),
            /syntax-error\.js:2\n.*unbalanced: true ;\n\s*\^/,
            'where to fix it',
          );
        }

        // The Lambda API reports it as Lambda's Node runtime does: errorType, errorMessage, trace.
        const out = await lambda.send(new InvokeCommand({ FunctionName: `init-error-${i}` }));
        assert.equal(out.FunctionError, 'Unhandled');
        const document = JSON.parse(Buffer.from(out.Payload!).toString('utf8'));
        assert.equal(document.errorType, type);
        assert.match(document.errorMessage, message);
        assert.ok(Array.isArray(document.trace));
        for (const line of document.trace as string[]) {
          assert.doesNotMatch(line, /nimbus\/runtime|runtimes\/node\/bootstrap|node:internal/, line);
        }
      });
    }
  });

  describe('deploy-time handler checks', () => {
    const refused: [string, RegExp][] = [
      ['nope.handler', /'nope\.handler'.*nope\.js, nope\.mjs, nope\.cjs, nope\.ts/],
      ['lib/nope.handler', /lib\/nope\.js, lib\/nope\.mjs/],
      ['../index.handler', /not a valid handler name/],
      ['index', /Bad handler 'index'/],
      ['index .handler', /without whitespace/],
    ];
    for (const [handler, message] of refused) {
      it(`refuses the Node handler '${handler}' with 400 naming what was looked for`, async () => {
        const res = await deployZip('refused', handlersZip, handler);
        assert.equal(res.status, 400, res.text);
        assert.equal(res.body.error.code, 'VALIDATION_FAILED');
        assert.match(res.body.error.message, message);
      });
    }

    it('refuses Python handlers whose module is not in the package', async () => {
      const zip = await packDirectory(join(FIXTURES, 'python-lambda'));
      const deploy = (handler: string) =>
        nimbus.request('POST', '/v1/functions', {
          json: {
            name: 'py-refused',
            runtime: 'python3',
            handler,
            code: { zipBase64: zip.toString('base64') },
          },
        });
      const missing = await deploy('nope.handler');
      assert.equal(missing.status, 400, missing.text);
      assert.match(missing.body.error.message, /nope\.py, nope\/__init__\.py and nope\.\*\.so/);
      const nested = await deploy('pkg.sub.mod.handler');
      assert.equal(nested.status, 400, nested.text);
      assert.match(nested.body.error.message, /pkg\/sub\/mod\.py/);
      const slashed = await deploy('src/app.handler');
      assert.match(slashed.body.error.message, /module 'src\.app'.*src\/app\.py/);
      assert.equal((await deploy('main')).status, 400);
      assert.equal((await deploy('main.handler')).status, 201, 'an existing module deploys');
    });

    it('answers CreateFunction with InvalidParameterValueException for a missing module', async () => {
      await assert.rejects(
        lambda.send(
          new CreateFunctionCommand({
            FunctionName: 'lambda-refused',
            Runtime: 'nodejs20.x',
            Role: 'arn:aws:iam::000000000000:role/nimbus',
            Handler: 'app.handler',
            Code: { ZipFile: handlersZip },
          }),
        ),
        (err: unknown) =>
          err instanceof InvalidParameterValueException && /app\.js, app\.mjs, app\.cjs/.test(err.message),
      );
    });

    it('checks both runtimes the same way without a server (table)', () => {
      const files: Record<string, string[]> = {
        '': [
          'index.js',
          'lib/',
          'node_modules/',
          'main.py',
          'my-func.py',
          'pkg/',
          'fast.cpython-312-x86_64-linux-gnu.so',
          'plain.so',
        ],
        lib: ['app.ts'],
        node_modules: ['dep/'],
        pkg: ['__init__.py', 'sub/'],
        'pkg/sub': ['mod.pyc'],
      };
      const list: ListPackageDirectory = (dir) => files[dir];
      const cases: [Parameters<typeof missingHandlerModule>[0], string, boolean][] = [
        ['nodejs', 'index.handler', true],
        ['nodejs', 'index.a.b.c', true],
        ['nodejs', 'lib/app.handler', true],
        ['nodejs', 'dep.handler', true],
        ['nodejs', '/opt/nodejs/x.handler', true],
        ['nodejs', 'lib/other.handler', false],
        ['nodejs', 'lib/app', false],
        ['python3', 'main.handler', true],
        ['python3', 'pkg.handler', true],
        ['python3', 'pkg/sub/mod.handler', true],
        ['python3', 'fast.handler', true],
        ['python3', 'plain.handler', true],
        ['python3', 'my-func.lambda_handler', true],
        ['python3', 'src/app.handler', false],
        ['python3', 'pkg.sub.handler', false],
        ['python3', 'index.handler', false],
        ['python3', '.handler', false],
      ];
      for (const [runtime, handler, found] of cases) {
        const missing = missingHandlerModule(runtime, handler, list);
        assert.equal(missing === undefined, found, `${runtime} ${handler}: ${missing}`);
      }
    });
  });

  describe('console and error lines', () => {
    it("prefixes console output as Lambda's runtime does and leaves raw writes alone", async () => {
      const res = await nimbus.invoke('rt-console', {});
      assert.equal(res.status, 200, res.text);
      const id = res.headers.get('x-nimbus-execution-id')!;
      const lines = await logsOf(res);
      const expected: [string, string][] = [
        ['INFO', 'plain log number 42'],
        ['INFO', 'info line'],
        ['WARN', 'warn line'],
        ['ERROR', 'error line'],
        ['DEBUG', 'debug line'],
        ['TRACE', 'trace line'],
        ['INFO', '{ nested: { a: 1 } }'],
      ];
      for (const [level, message] of expected) {
        const pattern = new RegExp(`^${ISO_TIME}\\t${id}\\t${level}\\t${message.replace(/[{}]/g, '\\$&')}$`);
        assert.ok(
          lines.some((line) => pattern.test(line)),
          `${pattern} in ${JSON.stringify(lines)}`,
        );
      }
      assert.ok(lines.includes('raw stdout line'), 'process.stdout.write is not prefixed');
    });

    it('tags the lines of overlapping calls on one instance with their own request ids', async () => {
      const calls = await Promise.all([1, 2, 3, 4].map((n) => nimbus.invoke('rt-overlap', { n })));
      for (const [i, res] of calls.entries()) {
        assert.equal(res.status, 200, res.text);
        const id = res.headers.get('x-nimbus-execution-id')!;
        const lines = await logsOf(res);
        assert.deepEqual(
          lines.map((line) => line.split('\t').slice(1).join('\t')),
          [`${id}\tINFO\tbefore ${i + 1}`, `${id}\tINFO\tafter ${i + 1}`],
        );
      }
      const instances = new Set(
        await Promise.all(calls.map(async (res) => (await nimbus.executionOf(res)).instanceId)),
      );
      assert.ok(instances.size < calls.length, 'some calls shared an instance');
    });

    for (const fail of ['throw', 'reject'] as const) {
      it(`logs an Invoke Error line for a ${fail === 'throw' ? 'thrown' : 'rejected'} error, with the function's frames only`, async () => {
        const res = await nimbus.invoke('rt-console', { fail });
        assert.equal(res.status, 502, res.text);
        const id = res.headers.get('x-nimbus-execution-id')!;
        const line = (await logsOf(res)).find((l) => l.includes('Invoke Error'));
        assert.ok(line);
        const match = new RegExp(`^${ISO_TIME}\\t${id}\\tERROR\\tInvoke Error \\t(\\{.*)$`).exec(line);
        assert.ok(match, line);
        const json = JSON.parse(match[1]!);
        if (fail === 'throw') {
          assert.equal(json.errorType, 'RangeError');
          assert.equal(json.errorMessage, 'out of range');
          assert.equal(json.code, 'E_RANGE');
          assert.equal(json.detail, 7);
        } else assert.equal(json.errorType, 'Error');
        assert.match(json.stack[0], /Error: (out of range|rejected)/);
        assert.ok(
          json.stack.some((frame: string) => /index\.js:\d+/.test(frame)),
          json.stack.join('\n'),
        );
        for (const frame of json.stack as string[]) assert.doesNotMatch(frame, /bootstrap\.js|node:internal/);
        assert.doesNotMatch(res.body.error.stack, /bootstrap\.js|node:internal/);
      });
    }

    it('shows the Invoke Error line in the Lambda API log tail (LogType Tail)', async () => {
      const out = await lambda.send(
        new InvokeCommand({
          FunctionName: 'rt-console',
          LogType: 'Tail',
          Payload: Buffer.from('{"fail":"throw"}'),
        }),
      );
      assert.equal(out.FunctionError, 'Unhandled');
      const tail = Buffer.from(out.LogResult!, 'base64').toString('utf8');
      assert.match(tail, new RegExp(`\\t${out.$metadata.requestId}\\tINFO\\tplain log number 42\\n`));
      assert.match(
        tail,
        /\tERROR\tInvoke Error \t\{"errorType":"RangeError","errorMessage":"out of range","code":"E_RANGE"/,
      );
      const document = JSON.parse(Buffer.from(out.Payload!).toString('utf8'));
      assert.equal(document.errorType, 'RangeError');
      assert.equal(document.trace[0], 'RangeError: out of range');
      assert.ok(document.trace.some((line: string) => /index\.js:\d+/.test(line)));
    });

    it('logs callback(err) the same way and reports a non-Error as Lambda does', async () => {
      const res = await nimbus.invoke('rt-callback', { fail: true });
      assert.equal(res.status, 502, res.text);
      assert.ok((await logsOf(res)).some((l) => /\tERROR\tInvoke Error \t\{"errorType":"Error"/.test(l)));
      const out = await lambda.send(new InvokeCommand({ FunctionName: 'rt-callbackstring' }));
      const document = JSON.parse(Buffer.from(out.Payload!).toString('utf8'));
      assert.deepEqual(document, { errorType: 'string', errorMessage: 'plain string failure', trace: [] });
    });
  });

  describe('the context object', () => {
    it("has Lambda's fields and Function Compute's", async () => {
      const res = await nimbus.invoke('rt-context', {});
      assert.equal(res.status, 200, res.text);
      const id = res.headers.get('x-nimbus-execution-id');
      const c = res.body;
      for (const key of [
        'functionName',
        'functionVersion',
        'invokedFunctionArn',
        'memoryLimitInMB',
        'awsRequestId',
        'logGroupName',
        'logStreamName',
        'identity',
        'clientContext',
        'callbackWaitsForEmptyEventLoop',
        'getRemainingTimeInMillis',
        'succeed',
        'fail',
        'done',
        'requestId',
        'function',
        'service',
        'region',
        'accountId',
        'credentials',
        'logger',
      ]) {
        assert.ok(c.keys.includes(key), `context.${key}`);
      }
      assert.equal(c.functionName, 'rt-context');
      assert.equal(c.functionVersion, '$LATEST');
      assert.match(c.invokedFunctionArn, /^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:rt-context$/);
      assert.equal(c.memoryLimitInMB, '128');
      assert.equal(c.awsRequestId, id);
      assert.equal(c.logGroupName, c.envLogGroupName, 'from AWS_LAMBDA_LOG_GROUP_NAME');
      assert.equal(c.logStreamName, c.envLogStreamName, 'from AWS_LAMBDA_LOG_STREAM_NAME');
      assert.equal(c.identity, null);
      assert.equal(c.clientContext, null);
      assert.equal(c.callbackWaitsForEmptyEventLoop, true);
      assert.ok(c.remainingMs > 0 && c.remainingMs <= 5000);
      assert.deepEqual(c.methods, ['succeed', 'fail', 'done', 'getRemainingTimeInMillis']);
      assert.match(c.traceId, TRACE_ID);
      const [, , , region, accountId] = (c.invokedFunctionArn as string).split(':');
      assert.deepEqual(c.fc, {
        requestId: id,
        function: { name: 'rt-context', handler: 'index.context', memory: 128, timeout: 5 },
        service: { name: 'rt-context', qualifier: 'LATEST', versionId: '', logProject: '', logStore: '' },
        region,
        accountId,
        credentials: {},
      });
      const next = await nimbus.invoke('rt-context', {});
      assert.match(next.body.traceId, TRACE_ID);
      assert.notEqual(next.body.traceId, c.traceId, 'each call gets its own trace id');
    });

    it('waits for the event loop to empty after callback(null, value) unless told not to', async () => {
      const waited = await nimbus.invoke('rt-callback', {});
      assert.equal(waited.status, 200, waited.text);
      assert.deepEqual(waited.body, { done: true });
      assert.ok(
        (await logsOf(waited)).some((l) => l.endsWith('\tINFO\ttimer ran')),
        'the timer ran first',
      );
      const hurried = await nimbus.invoke('rt-callback', { wait: false });
      assert.deepEqual(hurried.body, { done: true });
      assert.ok(
        !(await logsOf(hurried)).some((l) => l.includes('timer ran')),
        'the result left before the timer',
      );
      const shared = await nimbus.invoke('rt-callback-wide', {});
      assert.deepEqual(shared.body, { done: true });
      assert.ok(
        !(await logsOf(shared)).some((l) => l.includes('timer ran')),
        'an instance that serves several calls at once does not wait for its event loop',
      );
    });

    it('settles calls with the deprecated context.succeed/fail, and fails a promise that never settles', async () => {
      const ok = await nimbus.invoke('rt-legacy', {});
      assert.deepEqual(ok.body, { legacy: true });
      const failed = await nimbus.invoke('rt-legacy', { fail: true });
      assert.equal(failed.status, 502);
      assert.match(failed.body.error.message, /legacy failure/);
      const never = await nimbus.invoke('rt-neversettles', {});
      assert.equal(never.status, 502, never.text);
      assert.equal(never.body.error.type, 'Runtime.NodeJsExit');
    });
  });

  describe('real Lambda libraries in the zip', () => {
    it("Powertools' logger reports cold starts, the function, the request and the trace", async () => {
      const zip = await packageOf('node-powertools', {}, [
        '@aws-lambda-powertools/logger',
        '@aws-lambda-powertools/commons',
        '@aws/lambda-invoke-store',
      ]);
      const deployed = await deployZip('powertools', zip, 'index.handler', { memoryMb: 256 });
      assert.equal(deployed.status, 201, deployed.text);
      for (const coldStart of [true, false]) {
        const res = await nimbus.invoke('powertools', { name: 'Ada' });
        assert.equal(res.status, 200, res.text);
        const line = (await logsOf(res)).find((l) => l.includes('hello from powertools'));
        assert.ok(line, 'Powertools logged');
        const entry = JSON.parse(line);
        assert.equal(entry.level, 'INFO');
        assert.equal(entry.service, 'nimbus-test');
        assert.equal(entry.name, 'Ada');
        assert.equal(entry.cold_start, coldStart);
        assert.equal(entry.function_name, 'powertools');
        assert.match(entry.function_arn, /^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:powertools$/);
        assert.equal(entry.function_request_id, res.headers.get('x-nimbus-execution-id'));
        assert.equal(entry.function_request_id, res.body.requestId);
        assert.equal(Number(entry.function_memory_size), 256);
        assert.equal(`Root=${entry.xray_trace_id}`, res.body.traceId.split(';')[0]);
      }
    });

    it('middy runs its middleware around a handler, on success and on error', async () => {
      const zip = await packageOf('node-middy', {}, ['@middy/core']);
      const deployed = await deployZip('middy', zip, 'index.handler');
      assert.equal(deployed.status, 201, deployed.text);
      const ok = await nimbus.invoke('middy', {});
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.body, {
        stamped: true,
        requestId: ok.headers.get('x-nimbus-execution-id'),
        after: true,
      });
      const failed = await nimbus.invoke('middy', { fail: true });
      assert.equal(failed.status, 502, failed.text);
      assert.match(failed.body.error.message, /asked to fail for middy/);
      const lines = await logsOf(failed);
      assert.ok(
        lines.some((l) => /\tERROR\tmiddy saw asked to fail for middy$/.test(l)),
        JSON.stringify(lines),
      );
      assert.ok(lines.some((l) => l.includes('\tERROR\tInvoke Error \t{"errorType":"Error"')));
    });
  });
});
