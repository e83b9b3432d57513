/**
 * Tests of code packaging: unpacking hostile archives, reproducible packing, the deploy-time
 * TypeScript build and its confinement to the package, and the local code store.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import yazl from 'yazl';

import { LocalCodeStore } from '../src/blobs/local-code-store.js';
import { NimbusError } from '../src/core/errors.js';
import { buildNodeHandler } from '../src/packaging/node-build.js';
import { packDirectory } from '../src/packaging/pack-directory.js';
import { sha256, unpackArchive } from '../src/packaging/zip-archive.js';
import { rawZip } from './helpers/raw-zip.js';

let tmp: string;
let counter = 0;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'nimbus-packaging-'));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A fresh path under the test's temp dir, not yet created. */
function fresh(label: string): string {
  counter += 1;
  return path.join(tmp, `${label}-${counter}`);
}

interface ZipItem {
  name: string;
  data?: string | Buffer;
  mode?: number;
  dir?: boolean;
}

function yazlZip(items: ZipItem[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const item of items) {
    if (item.dir) zip.addEmptyDirectory(item.name, item.mode === undefined ? {} : { mode: item.mode });
    else
      zip.addBuffer(
        Buffer.from(item.data ?? ''),
        item.name,
        item.mode === undefined ? {} : { mode: item.mode },
      );
  }
  zip.end();
  return collect(zip.outputStream);
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function isNimbusError(code: string, pattern?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof NimbusError, `expected NimbusError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

/** Asserts a refused unpack left nothing: the destination it created is gone. */
async function assertRefused(zip: Buffer, pattern: RegExp, limits?: Parameters<typeof unpackArchive>[2]) {
  const dest = fresh('refused');
  await assert.rejects(unpackArchive(zip, dest, limits), isNimbusError('INVALID_ARCHIVE', pattern));
  assert.equal(existsSync(dest), false, 'partial output must be removed');
}

async function mode(file: string): Promise<number> {
  return (await stat(file)).mode & 0o7777;
}

describe('unpackArchive', () => {
  it('unpacks a normal package with its contents and normalised modes', async () => {
    const zip = await yazlZip([
      { name: 'index.js', data: 'export const handler = () => 1;\n', mode: 0o100600 },
      { name: 'bin/run.sh', data: '#!/bin/sh\necho hi\n', mode: 0o104775 },
      { name: 'data/a.txt', data: 'alpha', mode: 0o100666 },
      { name: 'empty', dir: true, mode: 0o40777 },
      { name: 'link.js', data: 'index.js', mode: 0o120777 },
    ]);
    const dest = fresh('normal');
    const result = await unpackArchive(zip, dest);
    assert.deepEqual(result, { files: 4, unpackedBytes: 32 + 18 + 5 + 8 });
    assert.equal(await readFile(path.join(dest, 'index.js'), 'utf8'), 'export const handler = () => 1;\n');
    assert.equal(await readFile(path.join(dest, 'data/a.txt'), 'utf8'), 'alpha');
    assert.equal(await mode(path.join(dest, 'index.js')), 0o644);
    assert.equal(
      await mode(path.join(dest, 'bin/run.sh')),
      0o755,
      'exec kept, setuid and group write dropped',
    );
    assert.equal(await mode(path.join(dest, 'data/a.txt')), 0o644);
    assert.equal(await mode(path.join(dest, 'empty')), 0o755);
    assert.equal(await mode(path.join(dest, 'bin')), 0o755);
    assert.ok((await lstat(path.join(dest, 'link.js'))).isSymbolicLink());
    assert.equal(await readlink(path.join(dest, 'link.js')), 'index.js');
  });

  it('unpacks into an existing empty directory but refuses a non-empty one', async () => {
    const zip = await yazlZip([{ name: 'a.txt', data: 'a' }]);
    const dest = fresh('existing');
    await mkdir(dest);
    await unpackArchive(zip, dest);
    assert.deepEqual(await readdir(dest), ['a.txt']);
    await assert.rejects(unpackArchive(zip, dest), /not empty/);
  });

  it("refuses '..' entries", async () => {
    const outside = fresh('outside');
    await assertRefused(rawZip([{ name: '../evil', data: 'x' }]), /'\.\.\/evil'.*'\.\.'/);
    await assertRefused(rawZip([{ name: 'a/../../evil', data: 'x' }]), /'\.\.'/);
    await assertRefused(rawZip([{ name: '..\\..\\evil', data: 'x' }]), /'\.\.'/);
    await assertRefused(
      rawZip([{ name: `ok.txt` }, { name: `../${path.basename(outside)}`, data: 'x' }]),
      /'\.\.'/,
    );
    assert.equal(existsSync(outside), false);
  });

  it('refuses absolute paths and drive letters', async () => {
    // An absolute path under the test dir: a regression would show up here, not in /etc.
    const target = path.join(fresh('abs'), 'evil');
    await assertRefused(rawZip([{ name: target, data: 'x' }]), /absolute path/);
    await assertRefused(rawZip([{ name: '/etc/evil', data: 'x' }]), /absolute path/);
    await assertRefused(rawZip([{ name: 'C:/evil', data: 'x' }]), /absolute path/);
    await assertRefused(rawZip([{ name: '\\etc\\evil', data: 'x' }]), /absolute path/);
    assert.equal(existsSync(target), false);
  });

  it('refuses symlinks that leave the package', async () => {
    const link = 0o120777;
    await assertRefused(rawZip([{ name: 'passwd', data: '/etc/passwd', mode: link }]), /outside the package/);
    await assertRefused(rawZip([{ name: 'a/x', data: '../../x', mode: link }]), /outside the package/);
    await assertRefused(rawZip([{ name: 'up', data: '..', mode: link }]), /outside the package/);
    // Each link is harmless on paper; together `b` is the directory above the package.
    await assertRefused(
      rawZip([
        { name: 'a', data: '.', mode: link },
        { name: 'b', data: 'a/..', mode: link },
      ]),
      /outside the package/,
    );
    // A link planted first must not let a later entry be written through it.
    await assertRefused(
      rawZip([
        { name: 'd', data: '.', mode: link },
        { name: 'd/file.txt', data: 'x' },
      ]),
      /collides/,
    );
    await assertRefused(rawZip([{ name: 'dangling', data: 'nope.js', mode: link }]), /does not exist/);
  });

  it('allows symlinks that stay inside the package', async () => {
    const dest = fresh('inlinks');
    await unpackArchive(
      rawZip([
        { name: 'lib/real.js', data: 'x' },
        { name: 'lib/alias.js', data: 'real.js', mode: 0o120777 },
        { name: 'sub/up.js', data: '../lib/real.js', mode: 0o120777 },
      ]),
      dest,
    );
    assert.equal(await readFile(path.join(dest, 'sub/up.js'), 'utf8'), 'x');
  });

  it('refuses devices, FIFOs and duplicate names', async () => {
    await assertRefused(rawZip([{ name: 'dev', mode: 0o020644 }]), /device, FIFO or socket/);
    await assertRefused(rawZip([{ name: 'fifo', mode: 0o010644 }]), /device, FIFO or socket/);
    await assertRefused(
      rawZip([
        { name: 'a.js', data: '1' },
        { name: './a.js', data: '2' },
      ]),
      /more than one entry named 'a\.js'/,
    );
    await assertRefused(
      rawZip([
        { name: 'a', data: '1' },
        { name: 'a/b', data: '2' },
      ]),
      /collides/,
    );
  });

  it('refuses a zip bomb with honest headers before inflating it', async () => {
    const zip = rawZip([{ name: 'bomb.bin', data: Buffer.alloc(4 * 1024 * 1024), deflate: true }]);
    assert.ok(zip.length < 10_000);
    await assertRefused(zip, /unpacks to more than 1 MB/, { maxUnpackedBytes: 1024 * 1024 });
  });

  it('stops a zip bomb whose headers lie about its size, leaving nothing behind', async () => {
    const data = Buffer.alloc(4 * 1024 * 1024);
    const dest = fresh('lying');
    await mkdir(dest);
    await assert.rejects(
      unpackArchive(
        rawZip([
          { name: 'small.txt', data: 'ok' },
          { name: 'bomb.bin', data, deflate: true, declaredSize: 100 },
        ]),
        dest,
        {
          maxUnpackedBytes: 1024 * 1024,
        },
      ),
      isNimbusError('INVALID_ARCHIVE'),
    );
    assert.deepEqual(await readdir(dest), [], 'a destination that existed is emptied, not removed');

    const longTarget = Buffer.from('a/'.repeat(3000));
    await assertRefused(
      rawZip([{ name: 'l', data: longTarget, mode: 0o120777, deflate: true, declaredSize: 3 }]),
      /corrupt/,
    );
  });

  it('counts real bytes across entries against the unpacked limit', async () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data: Buffer.alloc(300 * 1024) }));
    await assertRefused(await yazlZip(entries), /unpacks to more than 1 MB/, {
      maxUnpackedBytes: 1024 * 1024,
    });
  });

  it('refuses more files than the limit', async () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `f${i}.txt`, data: 'x' }));
    await assertRefused(await yazlZip(entries), /more than 3 files/, { maxFiles: 3 });
    await unpackArchive(await yazlZip(entries), fresh('five'), { maxFiles: 5 });
  });

  it('refuses what is not a zip', async () => {
    await assertRefused(Buffer.from('this is not a zip file'), /not a valid zip/);
    const zip = await yazlZip([{ name: 'a.txt', data: 'hello world' }]);
    await assertRefused(zip.subarray(0, zip.length - 30), /not a valid zip/);
  });

  it('refuses an archive over the zipped limit as PAYLOAD_TOO_LARGE', async () => {
    const zip = await yazlZip([{ name: 'a.txt', data: 'hello' }]);
    await assert.rejects(
      unpackArchive(zip, fresh('big'), { maxZippedBytes: 10 }),
      isNimbusError(
        'PAYLOAD_TOO_LARGE',
        new RegExp(`code archive is ${zip.length} bytes; the limit is 10 bytes zipped`),
      ),
    );
  });

  it('computes hex SHA-256', () => {
    assert.equal(
      sha256(Buffer.from('abc')),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

describe('packDirectory', () => {
  async function makeTree(): Promise<string> {
    const dir = fresh('src');
    await mkdir(path.join(dir, 'lib/deep'), { recursive: true });
    await mkdir(path.join(dir, 'empty'));
    await mkdir(path.join(dir, '.git'));
    await mkdir(path.join(dir, '__pycache__'));
    await mkdir(path.join(dir, '.nimbus'));
    await writeFile(path.join(dir, 'handler.py'), 'def handler(e, c):\n    return e\n');
    await writeFile(path.join(dir, 'lib/deep/data.json'), '{"a":1}');
    await writeFile(path.join(dir, 'run.sh'), '#!/bin/sh\n');
    await chmod(path.join(dir, 'run.sh'), 0o750);
    await writeFile(path.join(dir, '.git/config'), 'secret');
    await writeFile(path.join(dir, '__pycache__/handler.cpython-312.pyc'), 'bytecode');
    await writeFile(path.join(dir, '.nimbus/state'), 'state');
    await symlink('deep/data.json', path.join(dir, 'lib/alias.json'));
    return dir;
  }

  it('round-trips through unpackArchive and is byte-for-byte reproducible', async () => {
    const dir = await makeTree();
    const progress: { files: number; bytes: number; totalFiles: number }[] = [];
    const first = await packDirectory(dir, (p) => progress.push(p));
    const second = await packDirectory(dir);
    assert.equal(sha256(first), sha256(second));
    assert.ok(first.equals(second));
    assert.deepEqual(progress.at(-1), { files: 3, bytes: 32 + 7 + 10, totalFiles: 3 });

    const dest = fresh('roundtrip');
    const result = await unpackArchive(first, dest);
    assert.equal(result.files, 4);
    assert.deepEqual((await readdir(dest)).sort(), ['empty', 'handler.py', 'lib', 'run.sh']);
    assert.equal(await readFile(path.join(dest, 'handler.py'), 'utf8'), 'def handler(e, c):\n    return e\n');
    assert.equal(await readFile(path.join(dest, 'lib/deep/data.json'), 'utf8'), '{"a":1}');
    assert.equal(await readlink(path.join(dest, 'lib/alias.json')), 'deep/data.json');
    assert.equal(await mode(path.join(dest, 'run.sh')), 0o755);
    assert.equal(await mode(path.join(dest, 'handler.py')), 0o644);
    assert.deepEqual(await readdir(path.join(dest, 'empty')), []);

    // Repacking the unpacked tree gives the same bytes: modes and times do not leak into the archive.
    assert.equal(sha256(await packDirectory(dest)), sha256(first));
  });

  it('refuses symlinks that point outside the directory', async () => {
    const dir = fresh('escape');
    await mkdir(dir);
    await writeFile(path.join(dir, 'a.txt'), 'a');
    await symlink('/etc/passwd', path.join(dir, 'passwd'));
    await assert.rejects(packDirectory(dir), /outside/);
    await rm(path.join(dir, 'passwd'));
    await symlink('../../outside', path.join(dir, 'up'));
    await assert.rejects(packDirectory(dir), /outside/);
  });
});

describe('buildNodeHandler', () => {
  async function pkg(files: Record<string, string>): Promise<string> {
    const dir = fresh('pkg');
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), text);
    }
    return dir;
  }

  it('builds a TypeScript handler despite type errors, and the output runs', async () => {
    const dir = await pkg({
      'src/handler.ts': [
        "import { readFileSync } from 'node:fs';",
        "import path from 'path';",
        "import { fileURLToPath } from 'node:url';",
        "import { greet } from './lib/greet.js';",
        '// The usual ESM idiom must not collide with the CommonJS names the build provides.',
        'const __dirname = path.dirname(fileURLToPath(import.meta.url));',
        'const wrong: number = "not a number";',
        'export async function handler(event: { name: string }): Promise<string> {',
        "  const note = readFileSync(path.join(__dirname, 'note.txt'), 'utf8').trim();",
        '  return `${greet(event.name)} ${note} ${typeof require} ${wrong}`;',
        '}',
      ].join('\n'),
      'src/lib/greet.ts': 'export const greet = (name: string): string => `hello ${name}`;\n',
      'src/note.txt': 'from-source-dir\n',
    });
    const result = await buildNodeHandler(dir, 'src/handler.handler');
    assert.deepEqual(result, { entry: '.nimbus-build/src/handler.mjs' });
    const built = path.join(dir, '.nimbus-build/src/handler.mjs');
    assert.equal(await mode(built), 0o644);
    const mod = (await import(pathToFileURL(built).href)) as {
      handler: (e: { name: string }) => Promise<string>;
    };
    assert.equal(await mod.handler({ name: 'ada' }), 'hello ada from-source-dir function not a number');
  });

  it('returns null for JavaScript handlers and for modules it has nothing to build', async () => {
    const dir = await pkg({ 'index.mjs': 'export const handler = () => 1;\n', 'index.ts': 'bad' });
    assert.equal(await buildNodeHandler(dir, 'index.handler'), null);
    // A missing module is the deploy-time check's to report (core/handler.ts), or the runtime's
    // when the module may come from a layer; a handler outside the package is never built.
    assert.equal(await buildNodeHandler(dir, 'nope.handler'), null);
    assert.equal(await buildNodeHandler(dir, '../index.handler'), null);
    assert.equal(await buildNodeHandler(dir, '/opt/nodejs/index.handler'), null);
  });

  it('reports syntax errors as BUILD_FAILED with the file and position', async () => {
    const dir = await pkg({ 'handler.ts': 'export const handler = () => {\n  return 1 +;\n};\n' });
    await assert.rejects(
      buildNodeHandler(dir, 'handler.handler'),
      isNimbusError('BUILD_FAILED', /TypeScript build of handler\.ts failed: handler\.ts:2:\d+: /),
    );
    assert.equal(existsSync(path.join(dir, '.nimbus-build')), false);
  });

  it('refuses imports of files outside the package', async () => {
    const secret = path.join(tmp, 'host-secret.json');
    await writeFile(secret, '{"token":"HOST-SECRET"}');
    const cases = [
      "import x from '../../../etc/hostname';",
      "import x from '../../../etc/passwd';",
      `import x from ${JSON.stringify(secret)};`,
      `import x from '../${path.basename(secret)}';`,
      `const x = require(${JSON.stringify(secret)});`,
    ];
    for (const line of cases) {
      const dir = await pkg({ 'handler.ts': `${line}\nexport const handler = () => x;\n` });
      await assert.rejects(
        buildNodeHandler(dir, 'handler.handler'),
        isNimbusError('BUILD_FAILED', /handler\.ts:1:\d+: cannot import .*outside the package/),
        line,
      );
      assert.equal(existsSync(path.join(dir, '.nimbus-build')), false, line);
    }
  });

  it('refuses bare imports found only in node_modules above the package', async () => {
    const parent = fresh('parent');
    await mkdir(path.join(parent, 'node_modules/leak'), { recursive: true });
    await writeFile(path.join(parent, 'node_modules/leak/index.js'), 'export default "HOST";\n');
    await writeFile(
      path.join(parent, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { paths: { '#s': ['../x'] } } }),
    );
    const dir = path.join(parent, 'pkg');
    await mkdir(dir);
    await writeFile(path.join(dir, 'handler.ts'), "import x from 'leak';\nexport const handler = () => x;\n");
    await assert.rejects(
      buildNodeHandler(dir, 'handler.handler'),
      isNimbusError('BUILD_FAILED', /cannot import 'leak': it is not in the package/),
    );

    // The same dependency inside the package is bundled.
    await mkdir(path.join(dir, 'node_modules/leak'), { recursive: true });
    await writeFile(path.join(dir, 'node_modules/leak/index.js'), 'export default "PKG";\n');
    const result = await buildNodeHandler(dir, 'handler.handler');
    assert.ok(result);
    const mod = (await import(pathToFileURL(path.join(dir, result.entry)).href)) as { handler: () => string };
    assert.equal(mod.handler(), 'PKG');
  });
});

describe('LocalCodeStore', () => {
  it('stores, finds and returns archives by hash, privately and atomically', async () => {
    const root = fresh('store');
    const store = new LocalCodeStore(root);
    const zip = await yazlZip([{ name: 'a.txt', data: 'a' }]);
    const sha = sha256(zip);
    assert.equal(await store.has(sha), false);
    assert.equal(await store.get(sha), undefined);
    await store.put(sha, zip);
    assert.equal(await store.has(sha), true);
    assert.ok((await store.get(sha))?.equals(zip));

    const file = path.join(root, sha.slice(0, 2), `${sha}.zip`);
    assert.equal(await mode(file), 0o600);
    assert.equal(await mode(path.dirname(file)), 0o700);
    assert.equal(await mode(root), 0o700);
    assert.deepEqual(await readdir(path.dirname(file)), [`${sha}.zip`], 'no temp files left');

    const before = await stat(file);
    await store.put(sha, zip);
    const afterPut = await stat(file);
    assert.equal(afterPut.ino, before.ino, 'a second put of the same hash does not rewrite');
    assert.equal(afterPut.mtimeMs, before.mtimeMs);
  });

  it('refuses malformed hashes and content that does not match its hash', async () => {
    const store = new LocalCodeStore(fresh('store'));
    for (const bad of [
      '../../etc/passwd',
      'abc',
      'A'.repeat(64),
      `${'a'.repeat(63)}/`,
      `${'0'.repeat(64)}\n`,
    ]) {
      await assert.rejects(store.put(bad, Buffer.from('x')), /invalid code hash/);
      await assert.rejects(store.get(bad), /invalid code hash/);
      await assert.rejects(store.has(bad), /invalid code hash/);
    }
    await assert.rejects(store.put('0'.repeat(64), Buffer.from('x')), /hashes to/);
  });
});
