/**
 * Hostile fixtures for the TypeScript build: packages whose tsconfig, package.json or imports try to
 * make the deploy-time build read a host file (the server's admin key, /etc/passwd, a package.json
 * above the package) into the bundle or into the deploy error. Each is refused with a 400 that
 * quotes none of the host file's bytes; a package that extends and maps paths inside itself builds.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { zipOfFiles } from '../helpers/raw-zip.js';

const HANDLER_TS = "export const handler = async (): Promise<string> => 'built';\n";

function zipOf(files: Record<string, string>): string {
  return zipOfFiles(files).toString('base64');
}

describe('hostile: the TypeScript build reads nothing outside the package', () => {
  let nimbus: TestServer;
  let secrets: string[];
  before(async () => {
    nimbus = await startTestServer();
    // What must never come back: the admin key, and the tokens of /etc/passwd's first line.
    const adminKey = readFileSync(join(nimbus.dataDir, 'admin.key'), 'utf8').trim();
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n')[0] ?? '';
    secrets = [adminKey, passwd, passwd.split(':')[0] + ':x:'];
    assert.ok(adminKey.length >= 16);
  });
  after(() => nimbus.close());

  async function deployRefused(name: string, files: Record<string, string>, expected: RegExp): Promise<void> {
    const res = await nimbus.request('POST', '/v1/functions', {
      json: { name, runtime: 'nodejs', handler: 'index.handler', code: { zipBase64: zipOf(files) } },
    });
    for (const secret of secrets)
      assert.ok(!res.text.includes(secret), `${name}: the answer quotes a host file: ${res.text}`);
    assert.equal(res.status, 400, `${name}: ${res.text}`);
    assert.equal(res.body.error.code, 'BUILD_FAILED', name);
    assert.match(res.body.error.message, expected, name);
    assert.equal(
      (await nimbus.request('GET', `/v1/functions/${name}`)).status,
      404,
      `${name} was not created`,
    );
  }

  it('refuses a tsconfig that extends the admin key or /etc/passwd, naming the field', async () => {
    await deployRefused(
      'ext-admin-key',
      { 'tsconfig.json': '{"extends": "../../admin.key"}', 'index.ts': HANDLER_TS },
      /"extends": "\.\.\/\.\.\/admin\.key" in tsconfig\.json points outside the package/,
    );
    await deployRefused(
      'ext-passwd',
      { 'tsconfig.json': '{"extends": "/etc/passwd"}', 'index.ts': HANDLER_TS },
      /"extends": "\/etc\/passwd" .*points outside the package/,
    );
    await deployRefused(
      'ext-chain',
      {
        'tsconfig.json': '{"extends": "./configs/base.json"}',
        'configs/base.json': '// a base\n{"extends": ["../../../../../../etc/passwd"],}',
        'index.ts': HANDLER_TS,
      },
      /"extends".* in configs\/base\.json points outside the package/,
    );
  });

  it('ignores a nested tsconfig.json extending a host file (esbuild discovers no tsconfig itself)', async () => {
    const res = await nimbus.request('POST', '/v1/functions', {
      json: {
        name: 'nested-tsconfig',
        runtime: 'nodejs',
        handler: 'index.handler',
        code: {
          zipBase64: zipOf({
            'index.ts': "import { value } from './lib/value';\nexport const handler = async () => value;\n",
            'lib/tsconfig.json': '{"extends": "../../../admin.key"}',
            'lib/jsconfig.json': '{"extends": "/etc/passwd"}',
            'lib/value.ts': "export const value: string = 'nested ok';\n",
          }),
        },
      },
    });
    for (const secret of secrets)
      assert.ok(!res.text.includes(secret), `the answer quotes a host file: ${res.text}`);
    assert.equal(res.status, 201, res.text);
    const call = await nimbus.invoke('nested-tsconfig');
    assert.equal(call.body, 'nested ok');
  });

  it('refuses paths and baseUrl that point outside the package', async () => {
    await deployRefused(
      'paths-out',
      {
        'tsconfig.json': '{"compilerOptions": {"baseUrl": ".", "paths": {"secret": ["../../admin.key"]}}}',
        'index.ts': "import secret from 'secret';\nexport const handler = async () => secret;\n",
      },
      /"compilerOptions\.paths" entry "secret" points outside the package/,
    );
    await deployRefused(
      'baseurl-out',
      {
        'tsconfig.json': '{"compilerOptions": {"baseUrl": "/etc"}}',
        'index.ts': "import secret from 'passwd';\nexport const handler = async () => secret;\n",
      },
      /"compilerOptions\.baseUrl" points outside the package/,
    );
  });

  it('refuses package.json imports and exports that lead outside the package', async () => {
    await deployRefused(
      'pkg-imports',
      {
        'package.json': '{"imports": {"#secret": "./../../admin.key", "#passwd": "/etc/passwd"}}',
        'index.ts':
          "import s from '#secret';\nimport p from '#passwd';\nexport const handler = async () => [s, p];\n",
      },
      /cannot import|could not resolve|invalid/i,
    );
    await deployRefused(
      'pkg-exports',
      {
        'node_modules/evil/package.json':
          '{"name": "evil", "exports": {".": "./../../../../admin.key", "./p": "./../../../../../../../etc/passwd"}}',
        'index.ts':
          "import s from 'evil';\nimport p from 'evil/p';\nexport const handler = async () => [s, p];\n",
      },
      /cannot import|could not resolve|invalid/i,
    );
  });

  it('refuses importing host files from TypeScript source', async () => {
    await deployRefused(
      'import-abs',
      { 'index.ts': "import p from '/etc/passwd';\nexport const handler = async () => p;\n" },
      /cannot import '\/etc\/passwd': it points outside the package/,
    );
    await deployRefused(
      'import-climb',
      { 'index.ts': "import k from '../../admin.key';\nexport const handler = async () => k;\n" },
      /cannot import '\.\.\/\.\.\/admin\.key': it points outside the package/,
    );
    await deployRefused(
      'import-json',
      { 'index.ts': "import k from '../../../../x.json';\nexport const handler = async () => k;\n" },
      /it points outside the package/,
    );
  });

  it('quotes nothing from a broken package.json in a directory above the package', async () => {
    // An operator's (or anyone's) file above the data dir's packages: esbuild reads package.json files
    // up the tree; its parse error would quote the file.
    const above = join(nimbus.dataDir, 'packages', 'package.json');
    writeFileSync(above, `{"name": ${secrets[0]}`);
    try {
      await deployRefused('above-broken', { 'index.ts': HANDLER_TS }, /outside the package/);
    } finally {
      writeFileSync(above, '{}');
    }
  });

  it('builds and runs a package that extends and maps paths inside itself', async () => {
    const res = await nimbus.request('POST', '/v1/functions', {
      json: {
        name: 'ts-legit',
        runtime: 'nodejs',
        handler: 'src/index.handler',
        code: {
          zipBase64: zipOf({
            'tsconfig.json':
              '{\n  // the project config\n  "extends": ["./tsconfig.base.json", "@tsconfig/x/tsconfig.json"],\n  "compilerOptions": {"paths": {"@lib/*": ["./lib/*"]},},\n}',
            'tsconfig.base.json': '{"compilerOptions": {"target": "es2022", "strict": true}}',
            'node_modules/@tsconfig/x/tsconfig.json': '{"compilerOptions": {}}',
            'src/index.ts':
              "import { greet } from '@lib/greet';\nexport const handler = async (e: { name: string }) => greet(e.name);\n",
            'lib/greet.ts': 'export const greet = (name: string): string => `hello ${name}`;\n',
          }),
        },
      },
    });
    assert.equal(res.status, 201, res.text);
    const call = await nimbus.invoke('ts-legit', { name: 'build' });
    assert.equal(call.status, 200, call.text);
    assert.equal(call.body, 'hello build');
    // Nothing of the host ended up in any bundle.
    const packages = join(nimbus.dataDir, 'packages');
    for (const dir of readdirSync(packages)) {
      const buildDir = join(packages, dir, '.nimbus-build');
      if (!existsSync(buildDir)) continue;
      const built = readdirSync(buildDir, { recursive: true }) as string[];
      for (const file of built) {
        if (!file.endsWith('.mjs')) continue;
        const text = readFileSync(join(packages, dir, '.nimbus-build', file), 'utf8');
        for (const secret of secrets) assert.ok(!text.includes(secret), `${file} holds a host file's bytes`);
      }
    }
  });
});
