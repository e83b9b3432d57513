/**
 * Issues, looks up and revokes access keys of the Lambda-compatible API. Keys are cached after
 * their first use so a signed call costs no query; revoking drops the cached key at once. The
 * secret leaves this service only once, in the answer to `create`, and to the signature check.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { assertGrants, type AccessKeyRecord } from '../../core/access-key.js';
import { accessKeyNotFound, validationFailed } from '../../core/errors.js';
import type { AccessKeyStore } from '../../core/ports.js';

/** An access key as shown in listings: everything but the secret. */
type AccessKeyView = Omit<AccessKeyRecord, 'secret'>;

interface CreateAccessKeyInput {
  allow?: string[] | undefined;
  description?: string | undefined;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const DESCRIPTION_CHARS = 256;

/** 20 upper-case characters like AWS's, `NKIA` + 16 random base32 characters (80 bits). */
function newAccessKeyId(): string {
  let id = 'NKIA';
  for (let i = 0; i < 16; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

export function accessKeyView(key: AccessKeyRecord): AccessKeyView {
  const { secret: _secret, ...view } = key;
  return view;
}

export class AccessKeyService {
  private readonly cache = new Map<string, AccessKeyRecord>();

  constructor(private readonly store: AccessKeyStore) {}

  /** Makes a key; the answer is the only place its secret is ever shown. */
  async create(input: CreateAccessKeyInput): Promise<AccessKeyRecord> {
    const allow = input.allow === undefined ? null : [...new Set(input.allow)];
    if (allow !== null) assertGrants(allow);
    const description = input.description ?? '';
    if (description.length > DESCRIPTION_CHARS) {
      throw validationFailed(
        `description is ${description.length} characters; the limit is ${DESCRIPTION_CHARS}`,
        { field: 'description' },
      );
    }
    const key: AccessKeyRecord = {
      id: newAccessKeyId(),
      // 30 random bytes are 40 base64 characters, the length of an AWS secret access key.
      secret: randomBytes(30).toString('base64'),
      allow,
      description,
      createdAt: new Date().toISOString(),
    };
    await this.store.create(key);
    return key;
  }

  async list(): Promise<AccessKeyView[]> {
    return (await this.store.list()).map(accessKeyView);
  }

  /** The key with its secret, for the signature check; undefined when there is none. */
  async find(id: string): Promise<AccessKeyRecord | undefined> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const key = await this.store.get(id);
    if (key) this.cache.set(id, key);
    return key;
  }

  /** Revokes a key: the next request signed with it is refused. */
  async delete(id: string): Promise<void> {
    this.cache.delete(id);
    const existed = await this.store.delete(id);
    // A lookup that read the row before the delete may have cached it meanwhile.
    this.cache.delete(id);
    if (!existed) throw accessKeyNotFound(id);
  }
}
