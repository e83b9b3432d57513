/**
 * The CLI's calls on a function's published versions (/v1/functions/NAME/versions) and aliases
 * (/v1/functions/NAME/aliases).
 */
import type { AliasRecord } from '../../core/version.js';
import { functionPath, type FunctionView } from './functions.js';
import type { Transport } from './transport.js';

/** A published version as the API shows it: its frozen settings, flat (listings: `envKeys`). */
export type VersionView = Omit<FunctionView, 'name'> & { functionName: string; functionDescription: string };

export type AliasView = AliasRecord;

function versionPath(name: string, version: string): string {
  return `${functionPath(name)}/versions/${encodeURIComponent(version)}`;
}

function aliasPath(name: string, alias: string): string {
  return `${functionPath(name)}/aliases/${encodeURIComponent(alias)}`;
}

export class VersionsApi {
  constructor(private readonly http: Transport) {}

  /** Publishes `$LATEST`; `created` is false when it had not changed since the newest version. */
  async publish(
    name: string,
    spec: { description?: string; codeSha256?: string },
  ): Promise<{ version: VersionView; created: boolean }> {
    const res = await this.http.call('POST', `${functionPath(name)}/versions`, { json: spec });
    return { version: await this.http.json<VersionView>(res), created: res.status === 201 };
  }

  async list(name: string): Promise<{ versions: VersionView[] }> {
    const body = await this.http.json<{ versions?: unknown }>(
      await this.http.call('GET', `${functionPath(name)}/versions`),
    );
    return { versions: this.http.array(body.versions, 'versions') };
  }

  async get(name: string, version: string): Promise<VersionView> {
    return this.http.json(await this.http.call('GET', versionPath(name, version)));
  }

  async delete(name: string, version: string): Promise<void> {
    await this.http.drain(await this.http.call('DELETE', versionPath(name, version)));
  }
}

export class AliasesApi {
  constructor(private readonly http: Transport) {}

  async create(name: string, spec: Record<string, unknown>): Promise<AliasView> {
    return this.http.json(await this.http.call('POST', `${functionPath(name)}/aliases`, { json: spec }));
  }

  async list(name: string): Promise<{ aliases: AliasView[] }> {
    const body = await this.http.json<{ aliases?: unknown }>(
      await this.http.call('GET', `${functionPath(name)}/aliases`),
    );
    return { aliases: this.http.array(body.aliases, 'aliases') };
  }

  async get(name: string, alias: string): Promise<AliasView> {
    return this.http.json(await this.http.call('GET', aliasPath(name, alias)));
  }

  async update(name: string, alias: string, patch: Record<string, unknown>): Promise<AliasView> {
    return this.http.json(await this.http.call('PATCH', aliasPath(name, alias), { json: patch }));
  }

  async delete(name: string, alias: string): Promise<void> {
    await this.http.drain(await this.http.call('DELETE', aliasPath(name, alias)));
  }
}
