/**
 * Versions and aliases through the public API and the CLI, against a real server and real
 * sandboxes: publishing freezes code and configuration, numbering and the unchanged publish, the
 * codeSha256 precondition, aliases and weighted routing, the version recorded on executions, async
 * calls of an alias, bad inputs, and deleting a function with its versions and aliases.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NimbusError } from '../src/core/errors.js';
import { assertAliasName, parseQualifier, pickVersion } from '../src/core/version.js';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { startTestServer, waitFor, type TestServer } from './helpers/harness.js';
import { runCli } from './helpers/cli.js';

/** A Node function that answers with its code's mark, its GREETING and the version serving it. */
function source(mark: string): string {
  return `export const handler = async (event, context) => {
  if (event.sleepMs) await new Promise((resolve) => setTimeout(resolve, event.sleepMs));
  return { mark: ${JSON.stringify(mark)}, greeting: process.env.GREETING ?? null, version: context.functionVersion };
};
`;
}

const dirs: string[] = [];
async function zipOf(mark: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-versions-fixture-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'index.mjs'), source(mark));
  return packDirectory(dir);
}

describe('pickVersion (weighted routing)', () => {
  const alias = { functionVersion: '1', routing: { version: '2', weight: 0.25 } };
  const cases: [number, string][] = [
    [0, '2'],
    [0.2499, '2'],
    [0.25, '1'],
    [0.9999, '1'],
  ];
  for (const [random, expected] of cases) {
    it(`random ${random} with weight 0.25 picks version ${expected}`, () => {
      assert.equal(pickVersion(alias, random), expected);
    });
  }
  it('weight 0 never routes, weight 1 always does, no routing keeps the main version', () => {
    assert.equal(pickVersion({ functionVersion: '1', routing: { version: '2', weight: 0 } }, 0), '1');
    assert.equal(pickVersion({ functionVersion: '1', routing: { version: '2', weight: 1 } }, 0.9999), '2');
    assert.equal(pickVersion({ functionVersion: '$LATEST', routing: null }, 0), '$LATEST');
  });
});

describe('qualifiers and alias names (Lambda rules)', () => {
  const qualifiers: [string, ReturnType<typeof parseQualifier> | 'invalid'][] = [
    ['$LATEST', { kind: 'latest' }],
    ['1', { kind: 'version', version: '1' }],
    ['42', { kind: 'version', version: '42' }],
    ['production', { kind: 'alias', alias: 'production' }],
    ['blue-green_2', { kind: 'alias', alias: 'blue-green_2' }],
    ['0', 'invalid'],
    ['007', 'invalid'],
    ['', 'invalid'],
    ['$latest', 'invalid'],
    ['a b', 'invalid'],
    ['x'.repeat(129), 'invalid'],
  ];
  for (const [value, expected] of qualifiers) {
    it(`qualifier '${value.slice(0, 20)}' is ${expected === 'invalid' ? 'refused' : expected.kind}`, () => {
      if (expected === 'invalid') {
        assert.throws(
          () => parseQualifier(value),
          (err: unknown) => {
            assert.ok(err instanceof NimbusError);
            assert.equal(err.code, 'VALIDATION_FAILED');
            return true;
          },
        );
      } else {
        assert.deepEqual(parseQualifier(value), expected);
      }
    });
  }
  it('alias names: 1 to 128 of [a-zA-Z0-9-_], not all digits, not $LATEST', () => {
    for (const ok of ['prod', 'P-1_x', '1a', 'a'.repeat(128)]) assertAliasName(ok);
    for (const bad of ['', '123', '$LATEST', 'has space', 'dot.ted', 'a'.repeat(129)]) {
      assert.throws(() => assertAliasName(bad), /alias name/);
    }
  });
});

describe('versions and aliases', () => {
  let nimbus: TestServer;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    nimbus = await startTestServer();
    env = { ...process.env, NIMBUS_URL: nimbus.url, NIMBUS_KEY: nimbus.key, XDG_CONFIG_HOME: nimbus.dataDir };
  });
  after(async () => {
    await nimbus.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function create(name: string, mark: string, extra: Record<string, unknown> = {}): Promise<any> {
    const zip = await zipOf(mark);
    const res = await nimbus.request('POST', '/v1/functions', {
      json: {
        name,
        runtime: 'nodejs',
        handler: 'index.handler',
        code: { zipBase64: zip.toString('base64') },
        ...extra,
      },
    });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  async function putCode(name: string, mark: string): Promise<any> {
    const res = await nimbus.request('PUT', `/v1/functions/${name}/code`, {
      body: await zipOf(mark),
      headers: { 'content-type': 'application/zip' },
    });
    assert.equal(res.status, 200, res.text);
    return res.body;
  }

  async function publish(name: string, body?: unknown): Promise<any> {
    return nimbus.request('POST', `/v1/functions/${name}/versions`, body === undefined ? {} : { json: body });
  }

  function invoke(name: string, qualifier?: string, headers: Record<string, string> = {}) {
    const query = qualifier === undefined ? '' : `?qualifier=${encodeURIComponent(qualifier)}`;
    return nimbus.request('POST', `/v1/functions/${name}/invoke${query}`, { json: {}, headers });
  }

  async function alias(name: string, body: Record<string, unknown>): Promise<any> {
    const res = await nimbus.request('POST', `/v1/functions/${name}/aliases`, { json: body });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  const run = (...args: string[]) => runCli(env, args);

  it('publishing freezes code and configuration: version 1 answers the old way, $LATEST the new', async () => {
    const fn = await create('frozen', 'A', { env: { GREETING: 'hello' }, memoryMb: 128 });
    const first = await publish('frozen', { description: 'first cut' });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.version, '1');
    assert.equal(first.body.description, 'first cut');
    assert.equal(first.body.codeSha256, fn.codeSha256);
    assert.deepEqual(first.body.env, { GREETING: 'hello' });

    await putCode('frozen', 'B');
    const patched = await nimbus.request('PATCH', '/v1/functions/frozen', {
      json: { env: { GREETING: 'bonjour' }, memoryMb: 256 },
    });
    assert.equal(patched.status, 200, patched.text);

    const v1 = await invoke('frozen', '1');
    assert.equal(v1.status, 200, v1.text);
    assert.deepEqual(v1.body, { mark: 'A', greeting: 'hello', version: '1' });
    assert.equal(v1.headers.get('x-nimbus-executed-version'), '1');

    const latest = await invoke('frozen');
    assert.equal(latest.status, 200, latest.text);
    assert.deepEqual(latest.body, { mark: 'B', greeting: 'bonjour', version: '$LATEST' });
    assert.equal(latest.headers.get('x-nimbus-executed-version'), '$LATEST');
    const explicit = await invoke('frozen', '$LATEST');
    assert.equal(explicit.body.mark, 'B');

    // Version 1 keeps its frozen settings as well.
    const got = await nimbus.request('GET', '/v1/functions/frozen/versions/1');
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.memoryMb, 128);
    assert.equal(got.body.codeSha256, fn.codeSha256);

    // Executions record the version that served, and the qualifier asked for.
    const r1 = await nimbus.executionOf(v1);
    assert.equal(r1.version, '1');
    assert.equal(r1.qualifier, '1');
    const rl = await nimbus.executionOf(latest);
    assert.equal(rl.version, '$LATEST');
    assert.equal(rl.qualifier, undefined);

    // Changing $LATEST again does not disturb version 1's instance: it still answers as before.
    await putCode('frozen', 'C');
    assert.deepEqual((await invoke('frozen', '1')).body, { mark: 'A', greeting: 'hello', version: '1' });
    assert.equal((await invoke('frozen')).body.mark, 'C');
  });

  it('numbers versions 1, 2, 3 and never reuses one; an unchanged $LATEST returns the newest version', async () => {
    await create('numbered', 'A');
    assert.equal((await publish('numbered')).body.version, '1');
    const again = await publish('numbered');
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.version, '1');

    await putCode('numbered', 'B');
    assert.equal((await publish('numbered')).body.version, '2');
    const patched = await nimbus.request('PATCH', '/v1/functions/numbered', { json: { timeoutSec: 9 } });
    assert.equal(patched.status, 200, patched.text);
    const third = await publish('numbered');
    assert.equal(third.status, 201);
    assert.equal(third.body.version, '3');

    const del = await nimbus.request('DELETE', '/v1/functions/numbered/versions/3');
    assert.equal(del.status, 204, del.text);
    await putCode('numbered', 'C');
    const fourth = await publish('numbered');
    assert.equal(fourth.body.version, '4', 'a deleted version number is not given again');

    const list = await nimbus.request('GET', '/v1/functions/numbered/versions');
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(
      list.body.versions.map((v: any) => v.version),
      ['1', '2', '4'],
    );
    assert.equal(list.body.versions[0].env, undefined, 'listings hide variable values');
    assert.deepEqual(list.body.versions[0].envKeys, []);
  });

  it('codeSha256 precondition: a mismatch is 409 CODE_CHANGED, a match publishes', async () => {
    const fn = await create('precond', 'A');
    const wrong = await publish('precond', { codeSha256: 'f'.repeat(64) });
    assert.equal(wrong.status, 409, wrong.text);
    assert.equal(wrong.body.error.code, 'CODE_CHANGED');
    assert.match(wrong.body.error.message, new RegExp(fn.codeSha256));
    const right = await publish('precond', { codeSha256: fn.codeSha256 });
    assert.equal(right.status, 201, right.text);
    assert.equal(right.body.version, '1');
    // Lambda's form of the same hash (base64) is accepted too.
    await putCode('precond', 'B');
    const current = (await nimbus.request('GET', '/v1/functions/precond')).body.codeSha256 as string;
    const base64 = Buffer.from(current, 'hex').toString('base64');
    const lambdaStyle = await publish('precond', { codeSha256: base64 });
    assert.equal(lambdaStyle.status, 201, lambdaStyle.text);
    assert.equal(lambdaStyle.body.version, '2');
  });

  it('an alias serves its version; moving it changes what callers get', async () => {
    await create('aliased', 'A');
    await publish('aliased');
    await putCode('aliased', 'B');
    await publish('aliased');
    const created = await alias('aliased', { name: 'production', functionVersion: '1', description: 'live' });
    assert.equal(created.functionVersion, '1');
    assert.equal(created.routing, null);

    const res = await invoke('aliased', 'production');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { mark: 'A', greeting: null, version: '1' });
    assert.equal(res.headers.get('x-nimbus-executed-version'), '1');
    const record = await nimbus.executionOf(res);
    assert.equal(record.version, '1');
    assert.equal(record.qualifier, 'production');

    const moved = await nimbus.request('PATCH', '/v1/functions/aliased/aliases/production', {
      json: { functionVersion: 2 },
    });
    assert.equal(moved.status, 200, moved.text);
    assert.equal(moved.body.functionVersion, '2');
    assert.equal(moved.body.description, 'live');
    assert.equal((await invoke('aliased', 'production')).body.mark, 'B');

    const latestAlias = await alias('aliased', { name: 'edge', functionVersion: '$LATEST' });
    assert.equal(latestAlias.functionVersion, '$LATEST');
    await putCode('aliased', 'C');
    const edge = await invoke('aliased', 'edge');
    assert.equal(edge.body.mark, 'C');
    assert.equal(edge.headers.get('x-nimbus-executed-version'), '$LATEST');

    const list = await nimbus.request('GET', '/v1/functions/aliased/aliases');
    assert.deepEqual(
      list.body.aliases.map((a: any) => a.name),
      ['edge', 'production'],
    );
    const one = await nimbus.request('GET', '/v1/functions/aliased/aliases/production');
    assert.equal(one.status, 200);
    assert.equal(one.body.functionVersion, '2');

    const deleted = await nimbus.request('DELETE', '/v1/functions/aliased/aliases/edge');
    assert.equal(deleted.status, 204);
    const gone = await invoke('aliased', 'edge');
    assert.equal(gone.status, 404, gone.text);
    assert.equal(gone.body.error.code, 'ALIAS_NOT_FOUND');
  });

  it('weighted routing: weight 0.5 over 200 calls serves both versions, each at least 30 times', async () => {
    await create('weighted', 'A', { concurrency: 10 });
    await publish('weighted');
    await putCode('weighted', 'B');
    await publish('weighted');
    await alias('weighted', { name: 'canary', functionVersion: '1', routing: { version: '2', weight: 0.5 } });

    const counts = new Map<string, number>();
    const versions = new Map<string, number>();
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => invoke('weighted', 'canary')));
      for (const res of answers) {
        assert.equal(res.status, 200, res.text);
        counts.set(res.body.mark, (counts.get(res.body.mark) ?? 0) + 1);
        // The code that answered is the version the header names: never version 2 with version 1's code.
        const header = res.headers.get('x-nimbus-executed-version') ?? '';
        assert.equal(res.body.version, header);
        assert.equal(res.body.mark, header === '1' ? 'A' : 'B');
        versions.set(header, (versions.get(header) ?? 0) + 1);
      }
    }
    // Binomial(200, 0.5): fewer than 30 of either happens with probability below 1e-20.
    assert.ok((counts.get('A') ?? 0) >= 30, `version 1 served ${counts.get('A') ?? 0} of 200`);
    assert.ok((counts.get('B') ?? 0) >= 30, `version 2 served ${counts.get('B') ?? 0} of 200`);
    assert.equal((versions.get('1') ?? 0) + (versions.get('2') ?? 0), 200);

    // Weight 0 sends nothing to the routing version; removing the routing keeps the main version.
    await nimbus.request('PATCH', '/v1/functions/weighted/aliases/canary', {
      json: { routing: { version: '2', weight: 0 } },
    });
    for (let i = 0; i < 20; i++) assert.equal((await invoke('weighted', 'canary')).body.mark, 'A');
    const cleared = await nimbus.request('PATCH', '/v1/functions/weighted/aliases/canary', {
      json: { routing: null },
    });
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(cleared.body.routing, null);
  });

  it('an async call of an alias runs the alias version and records it', async () => {
    await create('queued', 'A');
    await publish('queued');
    await putCode('queued', 'B');
    await alias('queued', { name: 'stable', functionVersion: '1' });

    const res = await invoke('queued', 'stable', { 'x-nimbus-invocation-type': 'async' });
    assert.equal(res.status, 202, res.text);
    const id = res.body.executionId as string;
    let record: any;
    await waitFor(async () => {
      record = (await nimbus.request('GET', `/v1/executions/${id}`)).body;
      return record.status === 'succeeded';
    }, 'the async call to succeed');
    assert.equal(record.version, '1');
    assert.equal(record.qualifier, 'stable');
    assert.equal(record.invocationType, 'async');
    assert.deepEqual(JSON.parse(record.output), { mark: 'A', greeting: null, version: '1' });

    const unknown = await invoke('queued', 'nope', { 'x-nimbus-invocation-type': 'async' });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.body.error.code, 'ALIAS_NOT_FOUND');
  });

  it('bad inputs get the right status and say what to fix', async () => {
    await create('strict', 'A');
    await publish('strict');
    await putCode('strict', 'B');
    await publish('strict');

    const expect = async (res: any, status: number, code: string, message?: RegExp) => {
      assert.equal(res.status, status, res.text);
      assert.equal(res.body.error.code, code, res.text);
      if (message) assert.match(res.body.error.message, message);
    };
    await expect(await invoke('strict', '9'), 404, 'VERSION_NOT_FOUND', /no version 9/);
    await expect(await invoke('strict', 'missing'), 404, 'ALIAS_NOT_FOUND', /nimbus aliases list strict/);
    await expect(await invoke('strict', 'bad name!'), 400, 'VALIDATION_FAILED', /qualifier/);
    await expect(await invoke('strict', ''), 400, 'VALIDATION_FAILED', /qualifier is empty/);
    await expect(await invoke('nofunction', '1'), 404, 'FUNCTION_NOT_FOUND');
    await expect(await nimbus.request('GET', '/v1/functions/strict/versions/7'), 404, 'VERSION_NOT_FOUND');
    await expect(await nimbus.request('GET', '/v1/functions/strict/aliases/none'), 404, 'ALIAS_NOT_FOUND');
    await expect(await publish('nofunction'), 404, 'FUNCTION_NOT_FOUND');

    const post = (body: unknown) => nimbus.request('POST', '/v1/functions/strict/aliases', { json: body });
    await expect(
      await post({ name: '123', functionVersion: '1' }),
      400,
      'VALIDATION_FAILED',
      /not only digits/,
    );
    await expect(
      await post({ name: 'has space', functionVersion: '1' }),
      400,
      'VALIDATION_FAILED',
      /alias name/,
    );
    await expect(await post({ name: '$LATEST', functionVersion: '1' }), 400, 'VALIDATION_FAILED');
    await expect(await post({ name: 'x'.repeat(129), functionVersion: '1' }), 400, 'VALIDATION_FAILED');
    await expect(
      await post({ name: 'ok', functionVersion: 'latest' }),
      400,
      'VALIDATION_FAILED',
      /functionVersion/,
    );
    await expect(await post({ name: 'ok', functionVersion: '5' }), 404, 'VERSION_NOT_FOUND');
    await expect(
      await post({ name: 'ok', functionVersion: '1', routing: { version: '2', weight: 1.5 } }),
      400,
      'VALIDATION_FAILED',
      /weight must be a number from 0 to 1/,
    );
    await expect(
      await post({ name: 'ok', functionVersion: '1', routing: { version: '2', weight: -0.1 } }),
      400,
      'VALIDATION_FAILED',
      /weight/,
    );
    await expect(
      await post({ name: 'ok', functionVersion: '1', routing: { version: '1', weight: 0.5 } }),
      400,
      'VALIDATION_FAILED',
      /must differ/,
    );
    await expect(
      await post({ name: 'ok', functionVersion: '$LATEST', routing: { version: '2', weight: 0.5 } }),
      400,
      'VALIDATION_FAILED',
      /not \$LATEST/,
    );
    await expect(
      await post({ name: 'ok', functionVersion: '1', routing: { version: '8', weight: 0.5 } }),
      404,
      'VERSION_NOT_FOUND',
    );
    await expect(await post({ name: 'ok', functionVersion: '1', extra: true }), 400, 'VALIDATION_FAILED');
    assert.equal((await post({ name: 'ok', functionVersion: '1' })).status, 201);
    await expect(await post({ name: 'ok', functionVersion: '2' }), 409, 'ALIAS_EXISTS');
    await expect(
      await nimbus.request('PATCH', '/v1/functions/strict/aliases/none', { json: { functionVersion: '1' } }),
      404,
      'ALIAS_NOT_FOUND',
    );

    // A version an alias uses (or routes to) cannot be deleted; the error names the alias.
    await expect(
      await nimbus.request('DELETE', '/v1/functions/strict/versions/1'),
      409,
      'VERSION_IN_USE',
      /alias 'ok'/,
    );
    await nimbus.request('PATCH', '/v1/functions/strict/aliases/ok', {
      json: { functionVersion: '2', routing: { version: '1', weight: 0.2 } },
    });
    await expect(await nimbus.request('DELETE', '/v1/functions/strict/versions/1'), 409, 'VERSION_IN_USE');
    await expect(await nimbus.request('DELETE', '/v1/functions/strict/versions/9'), 404, 'VERSION_NOT_FOUND');
    await expect(await nimbus.request('DELETE', '/v1/functions/strict/aliases/none'), 404, 'ALIAS_NOT_FOUND');
    await expect(await publish('strict', { codeSha256: 5 }), 400, 'VALIDATION_FAILED');
    // Both versions are still there and served.
    assert.equal((await invoke('strict', '1')).body.mark, 'A');
  });

  it('deleting a function removes its versions and aliases; a new function of that name starts at 1', async () => {
    await create('doomed', 'A');
    await publish('doomed');
    await putCode('doomed', 'B');
    await publish('doomed');
    await alias('doomed', { name: 'live', functionVersion: '2' });
    const served = await invoke('doomed', 'live');
    assert.equal(served.status, 200);

    assert.equal((await nimbus.request('DELETE', '/v1/functions/doomed')).status, 204);
    assert.equal((await invoke('doomed', 'live')).status, 404);
    // Its executions stay readable, with the version that served.
    assert.equal((await nimbus.executionOf(served)).version, '2');

    await create('doomed', 'C');
    const versions = await nimbus.request('GET', '/v1/functions/doomed/versions');
    assert.deepEqual(versions.body.versions, []);
    const aliases = await nimbus.request('GET', '/v1/functions/doomed/aliases');
    assert.deepEqual(aliases.body.aliases, []);
    assert.equal((await invoke('doomed', 'live')).body.error.code, 'ALIAS_NOT_FOUND');
    assert.equal((await invoke('doomed', '2')).body.error.code, 'VERSION_NOT_FOUND');
    assert.equal((await publish('doomed')).body.version, '1');
    assert.equal((await invoke('doomed', '1')).body.mark, 'C');
  });

  it('CLI: versions publish/list/get/delete, aliases create/list/get/update/delete, invoke --qualifier', async () => {
    await create('clifn', 'A', { env: { GREETING: 'hi' } });
    const pub = await run('versions', 'publish', 'clifn', '--description', 'from the CLI');
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(pub.stdout.trim(), '1');
    assert.match(pub.stderr, /published version 1 of clifn/);
    const same = await run('versions', 'publish', 'clifn');
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stderr, /nothing changed since version 1/);
    await putCode('clifn', 'B');
    assert.equal((await run('versions', 'publish', 'clifn')).stdout.trim(), '2');

    const list = await run('versions', 'list', 'clifn');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /VERSION\s+CREATED\s+CODE/);
    assert.match(list.stdout, /^1\s+.*from the CLI$/m);
    const get = await run('versions', 'get', 'clifn', '1', '--json');
    assert.equal(get.code, 0, get.stderr);
    assert.equal(JSON.parse(get.stdout).description, 'from the CLI');

    const created = await run('aliases', 'create', 'clifn', 'prod', '--version', '1', '--routing', '2=0.25');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /functionVersion\s+1/);
    const aliases = await run('aliases', 'list', 'clifn');
    assert.match(aliases.stdout, /^prod\s+1\s+2 \(0\.25\)/m);
    const badRouting = await run('aliases', 'update', 'clifn', 'prod', '--routing', '2:half');
    assert.equal(badRouting.code, 2, badRouting.stderr);
    assert.match(badRouting.stderr, /VERSION=WEIGHT/);
    const updated = await run('aliases', 'update', 'clifn', 'prod', '--version', '2', '--routing', 'none');
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, /updated prod: version 2/);
    const shown = await run('aliases', 'get', 'clifn', 'prod', '--json');
    assert.deepEqual(
      { v: JSON.parse(shown.stdout).functionVersion, r: JSON.parse(shown.stdout).routing },
      { v: '2', r: null },
    );

    const inv = await run('invoke', 'clifn', '--qualifier', 'prod');
    assert.equal(inv.code, 0, inv.stderr);
    assert.equal(JSON.parse(inv.stdout).mark, 'B');
    assert.match(inv.stderr, /\(version 2\)/);
    const v1 = await run('invoke', 'clifn', '-q', '1');
    assert.equal(JSON.parse(v1.stdout).greeting, 'hi');
    assert.equal(JSON.parse(v1.stdout).mark, 'A');
    const queued = await run('invoke', 'clifn', '--qualifier', '1', '--async');
    assert.equal(queued.code, 0, queued.stderr);
    const id = queued.stdout.trim();
    await waitFor(
      async () => (await nimbus.request('GET', `/v1/executions/${id}`)).body.status === 'succeeded',
      'the CLI async call',
    );
    assert.equal((await nimbus.request('GET', `/v1/executions/${id}`)).body.version, '1');
    const missing = await run('invoke', 'clifn', '--qualifier', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no alias 'nope'.*ALIAS_NOT_FOUND/);

    const inUse = await run('versions', 'delete', 'clifn', '2');
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /used by alias 'prod'.*VERSION_IN_USE/);
    assert.equal((await run('aliases', 'delete', 'clifn', 'prod')).code, 0);
    const del = await run('versions', 'delete', 'clifn', '2');
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /deleted version 2 of clifn/);
    const none = await run('aliases', 'list', 'clifn');
    assert.match(none.stderr, /no aliases yet/);
  });

  it('the OpenAPI document lists the version and alias routes', async () => {
    const doc = (await nimbus.request('GET', '/v1/openapi.json')).body;
    for (const path of [
      '/v1/functions/{name}/versions',
      '/v1/functions/{name}/versions/{version}',
      '/v1/functions/{name}/aliases',
      '/v1/functions/{name}/aliases/{alias}',
    ]) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    assert.ok(
      doc.paths['/v1/functions/{name}/invoke'].parameters.some((p: any) => p.name === 'qualifier'),
      'invoke documents ?qualifier',
    );
  });
});

describe('versions across a restart, and a queued call whose version is deleted', () => {
  let nimbus: TestServer;
  before(async () => {
    // One async call at a time, so a slow call holds back the next one deterministically.
    nimbus = await startTestServer({ asyncConcurrency: 1 });
  });
  after(() => nimbus.close());

  it('a version is served after a restart; a queued call of a deleted version becomes a dead letter', async () => {
    for (const [mark, first] of [
      ['A', true],
      ['B', false],
    ] as const) {
      const zip = (await zipOf(mark)).toString('base64');
      const res = first
        ? await nimbus.request('POST', '/v1/functions', {
            json: { name: 'kept', runtime: 'nodejs', handler: 'index.handler', code: { zipBase64: zip } },
          })
        : await nimbus.request('PUT', '/v1/functions/kept/code', {
            body: Buffer.from(zip, 'base64'),
            headers: { 'content-type': 'application/zip' },
          });
      assert.ok(res.status === 201 || res.status === 200, res.text);
      assert.equal((await nimbus.request('POST', '/v1/functions/kept/versions')).status, 201);
    }
    nimbus = await nimbus.restart();
    const v1 = await nimbus.request('POST', '/v1/functions/kept/invoke?qualifier=1', { json: {} });
    assert.equal(v1.status, 200, v1.text);
    assert.equal(v1.body.mark, 'A');

    const async = { 'x-nimbus-invocation-type': 'async' };
    const slow = await nimbus.request('POST', '/v1/functions/kept/invoke', {
      json: { sleepMs: 1500 },
      headers: async,
    });
    assert.equal(slow.status, 202, slow.text);
    const doomed = await nimbus.request('POST', '/v1/functions/kept/invoke?qualifier=2', {
      json: {},
      headers: async,
    });
    assert.equal(doomed.status, 202, doomed.text);
    assert.equal((await nimbus.request('DELETE', '/v1/functions/kept/versions/2')).status, 204);

    const id = doomed.body.executionId as string;
    let record: any;
    await waitFor(async () => {
      record = (await nimbus.request('GET', `/v1/executions/${id}`)).body;
      return record.status === 'failed';
    }, 'the queued call of the deleted version to fail');
    assert.equal(record.error.type, 'VersionNotFound');
    assert.equal(record.qualifier, '2');
    const letter = await nimbus.request('GET', `/v1/dead-letters/${id}`);
    assert.equal(letter.status, 200, letter.text);
    assert.equal(letter.body.qualifier, '2');
  });
});
