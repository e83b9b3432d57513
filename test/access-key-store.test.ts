/** The access-key store over SQLite, and the key service's grants and revocation. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyAllows } from '../src/core/access-key.js';
import { AccessKeyService } from '../src/engine/access-keys/access-key-service.js';
import { SqliteStore } from '../src/store/sqlite-store.js';

test('access keys round-trip, list oldest first, and delete once', async () => {
  const store = SqliteStore.open(':memory:');
  try {
    await store.migrate();
    const keys = store.accessKeys();
    const full = {
      id: 'NKIA0000000000000001',
      secret: 's'.repeat(40),
      allow: null,
      description: 'all',
      createdAt: '2026-01-01T00:00:00.000Z',
    };
    const limited = {
      ...full,
      id: 'NKIA0000000000000002',
      allow: ['invoke:a'],
      description: '',
      createdAt: '2026-01-02T00:00:00.000Z',
    };
    await keys.create(limited);
    await keys.create(full);
    assert.deepEqual(await keys.get(full.id), full);
    assert.deepEqual(await keys.get(limited.id), limited);
    assert.deepEqual(
      (await keys.list()).map((k) => k.id),
      [full.id, limited.id],
    );
    assert.equal(await keys.delete(full.id), true);
    assert.equal(await keys.delete(full.id), false);
    assert.equal(await keys.get(full.id), undefined);
  } finally {
    await store.close();
  }
});

test('the service makes AWS-shaped keys, checks grants, and forgets revoked keys at once', async () => {
  const store = SqliteStore.open(':memory:');
  try {
    await store.migrate();
    const service = new AccessKeyService(store.accessKeys());
    const key = await service.create({ allow: ['invoke:a', 'manage:b', 'invoke:a'] });
    assert.match(key.id, /^NKIA[A-Z2-7]{16}$/);
    assert.match(key.secret, /^[A-Za-z0-9+/]{40}$/);
    assert.deepEqual(key.allow, ['invoke:a', 'manage:b']);
    assert.equal((await service.list())[0] && 'secret' in (await service.list())[0]!, false);
    assert.equal(keyAllows(key, 'invoke', 'a'), true);
    assert.equal(keyAllows(key, 'invoke', 'b'), false);
    assert.equal(keyAllows(key, 'manage', 'b'), true);
    assert.equal(keyAllows(key, 'manage', undefined), false);
    assert.equal((await service.find(key.id))?.secret, key.secret); // now cached
    await service.delete(key.id);
    assert.equal(await service.find(key.id), undefined);
    await assert.rejects(service.delete(key.id), { code: 'ACCESS_KEY_NOT_FOUND' });
    await assert.rejects(service.create({ allow: ['invoke:Bad_Name'] }), { code: 'VALIDATION_FAILED' });
    await assert.rejects(service.create({ allow: [] }), { code: 'VALIDATION_FAILED' });
  } finally {
    await store.close();
  }
});
