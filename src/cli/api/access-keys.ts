/** The CLI's calls on access keys of the Lambda API (/v1/access-keys): create, list, delete. */
import type { Transport } from './transport.js';

/** An access key as listed: never with its secret. */
interface AccessKeyView {
  id: string;
  allow: string[] | null;
  description: string;
  createdAt: string;
}

type AccessKeyCreated = AccessKeyView & { accessKeyId: string; secretAccessKey: string };

export class AccessKeysApi {
  constructor(private readonly http: Transport) {}

  /** Makes an access key for the Lambda API; the answer is the only one that shows its secret. */
  async create(spec: { allow?: string[]; description?: string }): Promise<AccessKeyCreated> {
    return this.http.json(await this.http.call('POST', '/v1/access-keys', { json: spec }));
  }

  async list(): Promise<{ accessKeys: AccessKeyView[] }> {
    const body = await this.http.json<{ accessKeys?: unknown }>(
      await this.http.call('GET', '/v1/access-keys'),
    );
    return { accessKeys: this.http.array(body.accessKeys, 'accessKeys') };
  }

  async delete(id: string): Promise<void> {
    await this.http.drain(await this.http.call('DELETE', `/v1/access-keys/${encodeURIComponent(id)}`));
  }
}
