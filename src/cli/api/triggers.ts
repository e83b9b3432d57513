/**
 * The CLI's calls on triggers (/v1/triggers and a function's /triggers): create, list, get,
 * update, delete, the next firings of a timer, and an HTTP trigger's key and signed URLs.
 */
import { functionPath } from './functions.js';
import type { Transport } from './transport.js';

/** A trigger as the API shows it: its settings flattened; `key` only in the answer that made it. */
export interface TriggerView {
  id: string;
  functionName: string;
  type: 'http' | 'timer';
  enabled: boolean;
  key?: string;
  [setting: string]: unknown;
}

function triggerPath(id: string): string {
  return `/v1/triggers/${encodeURIComponent(id)}`;
}

export class TriggersApi {
  constructor(private readonly http: Transport) {}

  async create(functionName: string, spec: Record<string, unknown>): Promise<TriggerView> {
    return this.http.json(
      await this.http.call('POST', `${functionPath(functionName)}/triggers`, { json: spec }),
    );
  }

  /** The triggers of one function, or of all when no name is given. */
  async list(functionName?: string): Promise<{ triggers: TriggerView[] }> {
    const path = functionName === undefined ? '/v1/triggers' : `${functionPath(functionName)}/triggers`;
    const body = await this.http.json<{ triggers?: unknown }>(await this.http.call('GET', path));
    return { triggers: this.http.array(body.triggers, 'triggers') };
  }

  async get(id: string): Promise<TriggerView> {
    return this.http.json(await this.http.call('GET', triggerPath(id)));
  }

  async update(id: string, patch: Record<string, unknown>): Promise<TriggerView> {
    return this.http.json(await this.http.call('PATCH', triggerPath(id), { json: patch }));
  }

  async delete(id: string): Promise<void> {
    await this.http.drain(await this.http.call('DELETE', triggerPath(id)));
  }

  async nextFirings(id: string, count: number): Promise<{ triggerId: string; next: string[] }> {
    return this.http.json(await this.http.call('GET', `${triggerPath(id)}/next`, { query: { count } }));
  }

  async rotateKey(id: string): Promise<TriggerView> {
    return this.http.json(await this.http.call('POST', `${triggerPath(id)}/rotate-key`));
  }

  async signUrl(
    id: string,
    spec: { method: string; path: string; expiresInSec: number },
  ): Promise<{ url: string; expiresAt: string }> {
    return this.http.json(await this.http.call('POST', `${triggerPath(id)}/sign`, { json: spec }));
  }
}
