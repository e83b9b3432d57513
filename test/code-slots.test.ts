/**
 * Code slots and the host runtimes behind the sandbox port: a slot is filled with hard links to a
 * prepared tree named by its CodeRef, listings are remembered per CodeRef id (a changed tree gets
 * a new id) for a bounded number of trees, and a started runtime's slots go when it exits.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CodeSlots } from '../src/sandbox/code-slots.js';
import { detectCgroups } from '../src/sandbox/cgroups.js';
import { HostRuntimes } from '../src/sandbox/host-runtimes.js';
import { ProcessSandbox } from '../src/sandbox/process-sandbox.js';
import { REPO_ROOT } from './helpers/harness.js';

describe('code slots', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'nimbus-slots-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function tree(name: string, files: Record<string, string>): string {
    const root = join(dir, name);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }

  it('fills a slot with hard links to the tree, keeping symbolic links and directories', async () => {
    const root = tree('pkg', { 'index.js': 'a', 'lib/util.js': 'b' });
    symlinkSync('lib/util.js', join(root, 'alias.js'));
    const slots = new CodeSlots(join(dir, 'slots-1'));
    const slot = await slots.create('i-1');
    await slots.fill({ id: 'pkg.0', path: root }, slot);
    assert.deepEqual(readdirSync(slot).sort(), ['alias.js', 'index.js', 'lib']);
    assert.equal(statSync(join(slot, 'index.js')).ino, statSync(join(root, 'index.js')).ino);
    assert.equal(statSync(join(slot, 'alias.js')).ino, statSync(join(root, 'lib/util.js')).ino);
    await slots.remove(slot);
    assert.equal(existsSync(slot), false);
  });

  it("remembers a tree's listing under its id: a changed tree is seen under its new id", async () => {
    const root = tree('built', { 'index.ts': 'x' });
    const slots = new CodeSlots(join(dir, 'slots-2'));
    const before = await slots.create('i-before');
    await slots.fill({ id: 'built.0', path: root }, before);
    writeFileSync(join(root, 'index.mjs'), 'built');
    const again = await slots.create('i-again');
    await slots.fill({ id: 'built.0', path: root }, again);
    assert.deepEqual(readdirSync(again), ['index.ts'], 'same id: the remembered listing');
    const after = await slots.create('i-after');
    await slots.fill({ id: 'built.1', path: root }, after);
    assert.deepEqual(readdirSync(after).sort(), ['index.mjs', 'index.ts']);
  });

  it('keeps the listings of a bounded number of trees, least recently used going first, and forgets them on close', async () => {
    const slots = new CodeSlots(join(dir, 'slots-3'), 2);
    const refs = ['a', 'b', 'c'].map((name) => ({
      id: name,
      path: tree(`lru-${name}`, { [`${name}.js`]: name }),
    }));
    for (const ref of refs) await slots.fill(ref, await slots.create(`i-${ref.id}`));
    assert.equal(slots.listed, 2);
    // 'a' went first: a changed tree 'a' is listed afresh, not from memory.
    writeFileSync(join(refs[0]!.path, 'new.js'), 'new');
    const slot = await slots.create('i-a2');
    await slots.fill(refs[0]!, slot);
    assert.deepEqual(readdirSync(slot).sort(), ['a.js', 'new.js']);
    assert.equal(slots.listed, 2);
    slots.close();
    assert.equal(slots.listed, 0);
  });
});

describe('host runtimes behind the sandbox port', () => {
  let dir: string;
  let driver: ProcessSandbox;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'nimbus-host-runtimes-'));
    const runtimes = new HostRuntimes(join(REPO_ROOT, 'dist/src/runtimes'), join(dir, 'slots'));
    driver = new ProcessSandbox(
      detectCgroups(),
      { first: 65534, last: 65534 },
      'host runtime test',
      runtimes,
    );
  });
  after(async () => {
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts a runtime from a request in domain terms, loads its code into its slots and removes them when it exits', async () => {
    const code = join(dir, 'code');
    const layers = join(dir, 'layers');
    mkdirSync(code);
    mkdirSync(join(layers, 'bin'), { recursive: true });
    writeFileSync(join(code, 'index.js'), 'exports.handler = async () => 1;');
    writeFileSync(join(layers, 'bin', 'tool'), 'tool');
    const sandbox = await driver.start({
      instanceId: `i-host-runtime-${process.pid}`,
      runtime: 'nodejs',
      memoryMb: 128,
      limits: { maxProcesses: 16, tmpSizeMb: 8 },
      background: false,
    });
    try {
      const slots = join(dir, 'slots');
      assert.deepEqual(readdirSync(slots).sort(), [
        `i-host-runtime-${process.pid}`,
        `i-host-runtime-${process.pid}.opt`,
      ]);
      await sandbox.loadCode({ code: { id: 'code.0', path: code }, layers: { id: 'opt-x', path: layers } });
      assert.ok(existsSync(join(slots, `i-host-runtime-${process.pid}`, 'index.js')));
      assert.ok(existsSync(join(slots, `i-host-runtime-${process.pid}.opt`, 'bin', 'tool')));
    } finally {
      await sandbox.kill();
    }
    // The slots go once the exit has been handled.
    const deadline = Date.now() + 5000;
    while (readdirSync(join(dir, 'slots')).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(readdirSync(join(dir, 'slots')), []);
  });

  it('names the runtimes it runs as Lambda does', () => {
    assert.equal(driver.runtimeVersion('nodejs'), `nodejs${process.versions.node.split('.')[0]}.x`);
    assert.match(driver.runtimeVersion('python3'), /^python3(\.\d+)?$/);
  });
});
