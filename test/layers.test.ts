/**
 * Layers end to end against a real server and real sandboxes: publishing and numbering, the native
 * API's errors, /opt merged in order and read-only in every sandbox, a real library (@middy/core)
 * served from a layer, a function without layers seeing an empty /opt, published versions keeping
 * their layer versions (also after the layer version is deleted and the server restarted), the
 * limits (5 layers, 250 MB with the code), and the CLI. Python's /opt/python on sys.path comes
 * with the Python bootstrap (the "python" part of issue 11).
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NimbusError } from '../src/core/errors.js';
import { assertLayerList, parseLayerVersionRef } from '../src/core/layer.js';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { runCli } from './helpers/cli.js';
import { REPO_ROOT, SANDBOXES, startTestServer, type TestServer } from './helpers/harness.js';
import { rawZip } from './helpers/raw-zip.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A directory holding `files` (path → content). */
function treeOf(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-layer-fixture-'));
  dirs.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

const zipOf = (files: Record<string, string>) => packDirectory(treeOf(files));

/**
 * A Node function that lists the files under /opt (the host path in NIMBUS_OPT_DIR for the process
 * driver, which has no mount namespace) with their contents, and tries to write there.
 */
const OPT_PROBE = `const fs = require('node:fs');
const path = require('node:path');
const OPT = process.env.NIMBUS_OPT_DIR || '/opt';
function walk(dir, prefix, out) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? prefix + '/' + entry.name : entry.name;
    if (entry.isDirectory()) walk(path.join(dir, entry.name), rel, out);
    else out[rel] = fs.readFileSync(path.join(dir, entry.name), 'utf8');
  }
  return out;
}
function attempt(write) {
  try { write(); return 'written'; } catch (err) { return err.code; }
}
exports.handler = async () => ({
  opt: OPT,
  files: walk(OPT, '', {}),
  writeTop: attempt(() => fs.writeFileSync(path.join(OPT, 'planted.txt'), 'x')),
  writeInside: attempt(() => fs.writeFileSync(path.join(OPT, 'shared.txt'), 'x')),
  mkdir: attempt(() => fs.mkdirSync(path.join(OPT, 'nodejs-evil'))),
});
`;

async function publish(nimbus: TestServer, name: string, zip: Buffer, extra: Record<string, unknown> = {}) {
  const res = await nimbus.request('POST', `/v1/layers/${name}/versions`, {
    json: { zipBase64: zip.toString('base64'), ...extra },
  });
  assert.equal(res.status, 201, res.text);
  return res.body as { arn: string; version: number; layerName: string; codeSha256: string };
}

describe('layer references and lists (core rules)', () => {
  const scope = { region: 'us-east-1', accountId: '000000000000' };
  it('takes this server’s ARNs and name:version, and refuses the rest with what to write', () => {
    assert.deepEqual(parseLayerVersionRef(scope, 'arn:aws:lambda:us-east-1:000000000000:layer:deps:3'), {
      layerName: 'deps',
      version: 3,
    });
    assert.deepEqual(parseLayerVersionRef(scope, 'my_layer-2:12'), { layerName: 'my_layer-2', version: 12 });
    for (const bad of [
      'deps',
      'deps:0',
      'deps:x',
      'de ps:1',
      'arn:aws:lambda:us-east-1:000000000000:layer:deps',
    ]) {
      assert.throws(
        () => parseLayerVersionRef(scope, bad),
        (err: NimbusError) => {
          assert.equal(err.code, 'VALIDATION_FAILED', bad);
          return true;
        },
      );
    }
    assert.throws(
      () => parseLayerVersionRef(scope, 'arn:aws:lambda:eu-west-1:123456789012:layer:deps:1'),
      /belongs to region eu-west-1 and account 123456789012.*publish the layer here first/,
    );
  });

  it('allows five layers, each once', () => {
    const refs = (n: number) => Array.from({ length: n }, (_, i) => ({ layerName: `l${i}`, version: 1 }));
    assertLayerList(refs(5));
    assert.throws(() => assertLayerList(refs(6)), /at most 5 layers \(got 6\)/);
    assert.throws(
      () =>
        assertLayerList([
          { layerName: 'a', version: 1 },
          { layerName: 'a', version: 2 },
        ]),
      /named twice/,
    );
  });
});

for (const sandbox of SANDBOXES) {
  describe(`layers at /opt (${sandbox})`, () => {
    let nimbus: TestServer;
    before(async () => {
      nimbus = await startTestServer({ sandbox });
    });
    after(() => nimbus.close());

    it('merges layers in order (a later file wins), read-only, and shows nothing to a function without layers', async () => {
      const base = await publish(
        nimbus,
        'base',
        await zipOf({ 'shared.txt': 'from base', 'base-only.txt': 'base', 'conf/a.txt': 'base a' }),
      );
      const over = await publish(
        nimbus,
        'override',
        await zipOf({ 'shared.txt': 'from override', 'conf/b.txt': 'override b' }),
      );
      const code = await zipOf({ 'index.js': OPT_PROBE });
      const deploy = await nimbus.request('POST', '/v1/functions', {
        json: {
          name: 'probe',
          runtime: 'nodejs',
          handler: 'index.handler',
          code: { zipBase64: code.toString('base64') },
          layers: [base.arn, 'override:1'],
        },
      });
      assert.equal(deploy.status, 201, deploy.text);
      assert.deepEqual(
        deploy.body.layers.map((l: { layerName: string; version: number }) => `${l.layerName}:${l.version}`),
        ['base:1', 'override:1'],
      );
      assert.equal(over.version, 1);

      const res = await nimbus.invoke('probe');
      assert.equal(res.status, 200, res.text);
      if (sandbox === 'bubblewrap') assert.equal(res.body.opt, '/opt');
      assert.deepEqual(res.body.files, {
        'base-only.txt': 'base',
        'conf/a.txt': 'base a',
        'conf/b.txt': 'override b',
        'shared.txt': 'from override',
      });
      for (const attempt of ['writeTop', 'writeInside', 'mkdir']) {
        assert.ok(['EROFS', 'EACCES'].includes(res.body[attempt]), `${attempt}: ${res.body[attempt]}`);
      }

      // Same code, no layers: an empty /opt (from a sandbox that may have been pre-warmed alike).
      const bareZip = await zipOf({ 'index.js': OPT_PROBE });
      const bare = await nimbus.request('POST', '/v1/functions', {
        json: {
          name: 'bare2',
          runtime: 'nodejs',
          handler: 'index.handler',
          code: { zipBase64: bareZip.toString('base64') },
        },
      });
      assert.equal(bare.status, 201, bare.text);
      const empty = await nimbus.invoke('bare2');
      assert.equal(empty.status, 200, empty.text);
      assert.deepEqual(empty.body.files, {});
      assert.ok(['EROFS', 'EACCES'].includes(empty.body.writeTop), empty.body.writeTop);

      // Swapping the order changes the winner.
      const swapped = await nimbus.request('PATCH', '/v1/functions/probe', {
        json: { layers: ['override:1', 'base:1'] },
      });
      assert.equal(swapped.status, 200, swapped.text);
      assert.equal((await nimbus.invoke('probe')).body.files['shared.txt'], 'from base');
      // [] removes them.
      assert.equal(
        (await nimbus.request('PATCH', '/v1/functions/probe', { json: { layers: [] } })).status,
        200,
      );
      assert.deepEqual((await nimbus.invoke('probe')).body.files, {});
    });

    it('serves a real library (@middy/core) from a layer to a function whose zip lacks it', async () => {
      const layerDir = treeOf({});
      cpSync(join(REPO_ROOT, 'node_modules/@middy/core'), join(layerDir, 'nodejs/node_modules/@middy/core'), {
        recursive: true,
      });
      const middy = await publish(nimbus, 'middy', await packDirectory(layerDir), {
        compatibleRuntimes: ['nodejs20.x'],
        description: '@middy/core',
      });
      // Middy 6 is an ES module: CommonJS code require()s it (found through NODE_PATH) and takes its default.
      const source = `const { default: middy } = require('@middy/core');
exports.handler = middy().before(async (request) => { request.event.touched = true; }).handler(async (event) => ({
  touched: event.touched === true,
  from: require.resolve('@middy/core'),
}));
`;
      const code = await zipOf({ 'index.js': source });
      const create = (name: string, layers?: string[]) =>
        nimbus.request('POST', '/v1/functions', {
          json: {
            name,
            runtime: 'nodejs',
            handler: 'index.handler',
            code: { zipBase64: code.toString('base64') },
            ...(layers ? { layers } : {}),
          },
        });
      assert.equal((await create('with-middy', [middy.arn])).status, 201);
      const res = await nimbus.invoke('with-middy', { x: 1 });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.touched, true);
      const opt = sandbox === 'bubblewrap' ? '/opt' : '';
      assert.ok(
        res.body.from.startsWith(`${opt}`) && res.body.from.includes('/nodejs/node_modules/@middy/core/'),
        res.body.from,
      );

      assert.equal((await create('without-middy')).status, 201);
      const missing = await nimbus.invoke('without-middy');
      assert.notEqual(missing.status, 200);
      assert.match(missing.text, /@middy\/core/);
    });

    if (sandbox === 'bubblewrap') {
      it('runs a layer’s programs from /opt/bin by name, as Lambda’s PATH does', async () => {
        const dir = treeOf({ 'bin/layer-tool': '#!/bin/sh\necho "tool from a layer: $1"\n' });
        chmodSync(join(dir, 'bin/layer-tool'), 0o755);
        await publish(nimbus, 'tools', await packDirectory(dir));
        const source = `const { execFileSync } = require('node:child_process');
exports.handler = async () => ({ out: execFileSync('layer-tool', ['ok']).toString().trim(), path: process.env.PATH });
`;
        const code = await zipOf({ 'index.js': source });
        const res = await nimbus.request('POST', '/v1/functions', {
          json: {
            name: 'tool-user',
            runtime: 'nodejs',
            handler: 'index.handler',
            code: { zipBase64: code.toString('base64') },
            layers: ['tools:1'],
          },
        });
        assert.equal(res.status, 201, res.text);
        const called = await nimbus.invoke('tool-user');
        assert.equal(called.status, 200, called.text);
        assert.equal(called.body.out, 'tool from a layer: ok');
        assert.match(called.body.path, /(^|:)\/opt\/bin(:|$)/);
      });

      it('lets ES modules import a layer’s packages (as on Lambda since Node 18)', async () => {
        const source = `import middy from '@middy/core';
export const handler = middy().handler(async () => ({ ok: typeof middy === 'function' }));
`;
        const code = await zipOf({ 'index.mjs': source });
        const res = await nimbus.request('POST', '/v1/functions', {
          json: {
            name: 'esm-middy',
            runtime: 'nodejs',
            handler: 'index.handler',
            code: { zipBase64: code.toString('base64') },
            layers: ['middy:1'],
          },
        });
        assert.equal(res.status, 201, res.text);
        const called = await nimbus.invoke('esm-middy');
        assert.equal(called.status, 200, called.text);
        assert.deepEqual(called.body, { ok: true });
      });
    }
  });
}

describe('layers: publishing, versions and limits (bubblewrap)', () => {
  let nimbus: TestServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    nimbus = await startTestServer({ sandbox: 'bubblewrap' });
    env = { ...process.env, NIMBUS_URL: nimbus.url, NIMBUS_KEY: nimbus.key, XDG_CONFIG_HOME: nimbus.dataDir };
  });
  after(() => nimbus.close());

  it('numbers versions per layer, never reusing one, and lists, reads, downloads and deletes them', async () => {
    const zip1 = await zipOf({ 'data/one.txt': '1' });
    const v1 = await publish(nimbus, 'numbers', zip1, {
      description: 'first',
      compatibleRuntimes: ['python3.12', 'nodejs20.x'],
      licenseInfo: 'MIT',
    });
    assert.equal(v1.version, 1);
    assert.equal(v1.arn, 'arn:aws:lambda:us-east-1:000000000000:layer:numbers:1');
    // A zip body, metadata in the query.
    const zip2 = await zipOf({ 'data/two.txt': '22' });
    const v2 = await nimbus.request(
      'POST',
      '/v1/layers/numbers/versions?description=second&compatibleRuntimes=python3.12',
      {
        body: zip2,
        headers: { 'content-type': 'application/zip' },
      },
    );
    assert.equal(v2.status, 201, v2.text);
    assert.equal(v2.body.version, 2);
    assert.deepEqual(v2.body.compatibleRuntimes, ['python3.12']);
    assert.equal(v2.body.unpackedBytes, 2);

    const got = await nimbus.request('GET', '/v1/layers/numbers/versions/1');
    assert.equal(got.status, 200);
    assert.equal(got.body.description, 'first');
    assert.equal(got.body.licenseInfo, 'MIT');
    assert.equal(got.body.codeSize, zip1.length);
    const content = await fetch(`${nimbus.url}/v1/layers/numbers/versions/1/content`, {
      headers: { authorization: `Bearer ${nimbus.key}` },
    });
    assert.equal(content.status, 200);
    assert.deepEqual(Buffer.from(await content.arrayBuffer()), zip1);

    assert.deepEqual(
      (await nimbus.request('GET', '/v1/layers/numbers/versions')).body.versions.map(
        (v: { version: number }) => v.version,
      ),
      [2, 1],
    );
    assert.equal((await nimbus.request('DELETE', '/v1/layers/numbers/versions/2')).status, 204);
    const again = await nimbus.request('DELETE', '/v1/layers/numbers/versions/2');
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, 'LAYER_VERSION_NOT_FOUND');
    assert.equal((await publish(nimbus, 'numbers', zip2)).version, 3);
    const listing = (await nimbus.request('GET', '/v1/layers')).body.layers;
    const numbers = listing.find((l: { layerName: string }) => l.layerName === 'numbers');
    assert.equal(numbers.latest.version, 3);
    assert.equal(numbers.layerArn, 'arn:aws:lambda:us-east-1:000000000000:layer:numbers');
  });

  it('documents the layer routes in the OpenAPI document', async () => {
    const doc = (await nimbus.request('GET', '/v1/openapi.json', { auth: null })).body;
    for (const path of [
      '/v1/layers',
      '/v1/layers/{name}/versions',
      '/v1/layers/{name}/versions/{version}',
      '/v1/layers/{name}/versions/{version}/content',
    ]) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    assert.ok(doc.components.schemas.CreateFunction.properties.layers, 'functions take layers');
  });

  it('refuses bad input with what to fix', async () => {
    const zip = await zipOf({ 'a.txt': 'a' });
    const bad = async (path: string, json: unknown, status: number, code: string, message: RegExp) => {
      const res = await nimbus.request('POST', path, { json });
      assert.equal(res.status, status, res.text);
      assert.equal(res.body.error.code, code);
      assert.match(res.body.error.message, message);
    };
    await bad(
      '/v1/layers/bad%20name/versions',
      { zipBase64: zip.toString('base64') },
      400,
      'VALIDATION_FAILED',
      /layer name/,
    );
    await bad('/v1/layers/ok/versions', { zipBase64: 'bm90IGEgemlw' }, 400, 'INVALID_ARCHIVE', /zip/);
    await bad(
      '/v1/layers/ok/versions',
      { zipBase64: zip.toString('base64'), compatibleRuntimes: ['Not A Runtime'] },
      400,
      'VALIDATION_FAILED',
      /compatible runtime/,
    );
    const hostile = rawZip([{ name: '../escape.txt', data: 'x' }]);
    const res = await nimbus.request('POST', '/v1/layers/ok/versions', {
      json: { zipBase64: hostile.toString('base64') },
    });
    assert.equal(res.status, 400, res.text);
    assert.equal(
      (await nimbus.request('GET', '/v1/layers/ok/versions')).body.versions.length,
      0,
      'nothing was published',
    );
    assert.equal((await nimbus.request('GET', '/v1/layers/ok/versions/x')).status, 400);
    assert.equal((await nimbus.request('GET', '/v1/layers/ok/versions/7')).status, 404);

    const code = (await zipOf({ 'index.js': OPT_PROBE })).toString('base64');
    const create = (layers: string[]) =>
      nimbus.request('POST', '/v1/functions', {
        json: {
          name: 'limited',
          runtime: 'nodejs',
          handler: 'index.handler',
          code: { zipBase64: code },
          layers,
        },
      });
    const unknown = await create(['nope:1']);
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.body.error.code, 'LAYER_VERSION_NOT_FOUND');
    for (let i = 0; i < 6; i++) await publish(nimbus, `many${i}`, zip);
    const six = await create(Array.from({ length: 6 }, (_, i) => `many${i}:1`));
    assert.equal(six.status, 400);
    assert.match(six.body.error.message, /at most 5 layers/);
    assert.equal(
      (await nimbus.request('GET', '/v1/functions/limited')).status,
      404,
      'no function was created',
    );
  });

  it('counts layers against the 250 MB unpacked with the code', async () => {
    // 130 MB of zeros each: small zipped, two of them are over the limit together.
    const big = rawZip([{ name: 'zeros.bin', data: Buffer.alloc(130 * 1024 * 1024), deflate: true }]);
    const a = await publish(nimbus, 'big-a', big);
    const b = await publish(nimbus, 'big-b', big);
    const code = (await zipOf({ 'index.js': OPT_PROBE })).toString('base64');
    const fits = await nimbus.request('POST', '/v1/functions', {
      json: {
        name: 'big',
        runtime: 'nodejs',
        handler: 'index.handler',
        code: { zipBase64: code },
        layers: [a.arn],
      },
    });
    assert.equal(fits.status, 201, fits.text);
    const over = await nimbus.request('PATCH', '/v1/functions/big', { json: { layers: [a.arn, b.arn] } });
    assert.equal(over.status, 400, over.text);
    assert.match(over.body.error.message, /code combined with layers .* the maximum is 262144000 bytes/);
    assert.equal((await nimbus.request('GET', '/v1/functions/big')).body.layers.length, 1, 'unchanged');
    await nimbus.request('DELETE', '/v1/functions/big');
    for (const name of ['big-a', 'big-b']) await nimbus.request('DELETE', `/v1/layers/${name}/versions/1`);
  });

  it('keeps the exact layer versions in published versions, also after the layer version is deleted', async () => {
    const l1 = await publish(nimbus, 'pinned', await zipOf({ 'shared.txt': 'layer v1' }));
    const l2 = await publish(nimbus, 'pinned', await zipOf({ 'shared.txt': 'layer v2' }));
    const code = (await zipOf({ 'index.js': OPT_PROBE })).toString('base64');
    const created = await nimbus.request('POST', '/v1/functions', {
      json: {
        name: 'pins',
        runtime: 'nodejs',
        handler: 'index.handler',
        code: { zipBase64: code },
        layers: [l1.arn],
      },
    });
    assert.equal(created.status, 201, created.text);
    const published = await nimbus.request('POST', '/v1/functions/pins/versions', { json: {} });
    assert.equal(published.status, 201, published.text);
    assert.deepEqual(
      published.body.layers.map((l: { version: number }) => l.version),
      [1],
    );
    const updated = await nimbus.request('PATCH', '/v1/functions/pins', { json: { layers: [l2.arn] } });
    assert.equal(updated.status, 200, updated.text);
    const shared = async (qualifier?: string) => {
      const res = await nimbus.request(
        'POST',
        `/v1/functions/pins/invoke${qualifier ? `?qualifier=${qualifier}` : ''}`,
        {
          json: {},
        },
      );
      assert.equal(res.status, 200, res.text);
      return res.body.files['shared.txt'];
    };
    assert.equal(await shared(), 'layer v2');
    assert.equal(await shared('1'), 'layer v1');

    // Deleting the layer version takes nothing from the function version using it, even once the
    // server restarts with its unpacked trees gone (the zip stays in the code store).
    assert.equal((await nimbus.request('DELETE', '/v1/layers/pinned/versions/1')).status, 204);
    const dataDir = nimbus.dataDir;
    await nimbus.stop();
    rmSync(join(dataDir, 'packages'), { recursive: true, force: true });
    nimbus = await startTestServer({ sandbox: 'bubblewrap', dataDir });
    env = { ...env, NIMBUS_URL: nimbus.url, NIMBUS_KEY: nimbus.key };
    assert.equal(await shared('1'), 'layer v1');
    assert.equal(await shared(), 'layer v2');
    // The deleted version cannot be named any more.
    const late = await nimbus.request('PATCH', '/v1/functions/pins', { json: { layers: [l1.arn] } });
    assert.equal(late.status, 404);
  });

  it('publishes, lists and deletes through the CLI, and deploys with --layer', async () => {
    const run = (...args: string[]) => runCli(env, args);
    const layerDir = treeOf({ 'shared.txt': 'from the cli' });
    const published = await run(
      'layers',
      'publish',
      'cli-layer',
      layerDir,
      '--description',
      'made by the CLI',
      '--compatible-runtime',
      'nodejs20.x',
    );
    assert.equal(published.code, 0, published.stderr);
    assert.match(published.stdout, /arn:aws:lambda:us-east-1:000000000000:layer:cli-layer:1/);
    const listed = await run('layers', 'list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /cli-layer\s+1\s/);
    const versions = await run('layers', 'versions', 'cli-layer');
    assert.equal(versions.code, 0, versions.stderr);
    assert.match(versions.stdout, /made by the CLI/);

    const fnDir = treeOf({ 'index.js': OPT_PROBE });
    const deployed = await run(
      'deploy',
      fnDir,
      '--name',
      'cli-fn',
      '--runtime',
      'nodejs',
      '--handler',
      'index.handler',
      '--layer',
      'cli-layer:1',
    );
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.equal((await nimbus.invoke('cli-fn')).body.files['shared.txt'], 'from the cli');
    const cleared = await run('functions', 'update', 'cli-fn', '--no-layers');
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.deepEqual((await nimbus.invoke('cli-fn')).body.files, {});
    const relayered = await run(
      'functions',
      'update',
      'cli-fn',
      '--layer',
      'arn:aws:lambda:us-east-1:000000000000:layer:cli-layer:1',
    );
    assert.equal(relayered.code, 0, relayered.stderr);
    assert.equal((await nimbus.invoke('cli-fn')).body.files['shared.txt'], 'from the cli');

    const unknown = await run(
      'deploy',
      fnDir,
      '--name',
      'cli-fn2',
      '--runtime',
      'nodejs',
      '--handler',
      'index.handler',
      '--layer',
      'ghost:1',
    );
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /layer 'ghost' has no version 1/);

    const deleted = await run('layers', 'delete', 'cli-layer', '1');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match((await run('layers', 'versions', 'cli-layer')).stderr, /no versions/);
  });
});

describe('Python finds packages of a layer under /opt/python (with the Python bootstrap of issue 11)', () => {
  let nimbus: TestServer;
  before(async () => {
    nimbus = await startTestServer({ sandbox: 'bubblewrap' });
  });
  after(() => nimbus.close());

  it('imports a module and a package from a layer, as on Lambda', async () => {
    const layer = await publish(
      nimbus,
      'py-helpers',
      await zipOf({
        'python/layer_greeting.py': 'def greet(name):\n    return "hello " + name + " from a layer"\n',
        'python/layer_pkg/__init__.py': 'VALUE = 42\n',
      }),
      { compatibleRuntimes: ['python3.12'] },
    );
    const code = await zipOf({
      'main.py':
        'import layer_greeting\nimport layer_pkg\n\ndef handler(event, context):\n    return {"greeting": layer_greeting.greet(event["name"]), "value": layer_pkg.VALUE, "file": layer_greeting.__file__}\n',
    });
    const created = await nimbus.request('POST', '/v1/functions', {
      json: {
        name: 'py-layered',
        runtime: 'python3',
        handler: 'main.handler',
        code: { zipBase64: code.toString('base64') },
        layers: [layer.arn],
      },
    });
    assert.equal(created.status, 201, created.text);
    const res = await nimbus.invoke('py-layered', { name: 'ada' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, {
      greeting: 'hello ada from a layer',
      value: 42,
      file: '/opt/python/layer_greeting.py',
    });
  });
});
