/**
 * The CLI's only way to talk to a Nimbus server: typed calls on the public HTTP API, one client
 * per resource (`client.functions.get(name)`, `client.triggers.list()`, …) over one Transport. It
 * must never import server code and never print: a refusal from the server becomes an ApiError,
 * failing to talk to it a CliError, and main.ts decides how to show either.
 */
import type { Connection } from '../connection.js';
import { AccessKeysApi } from './access-keys.js';
import { DeadLettersApi } from './dead-letters.js';
import { ExecutionsApi } from './executions.js';
import { FunctionLogsApi } from './function-logs.js';
import { FunctionsApi } from './functions.js';
import { LayersApi } from './layers.js';
import { TriggersApi } from './triggers.js';
import { Transport } from './transport.js';
import { AliasesApi, VersionsApi } from './versions.js';

export { ApiError, isAbort } from './transport.js';
export type { FunctionPatch, FunctionView } from './functions.js';
export type { ExecutionLogLine, ExecutionLogs } from './executions.js';
export type { DeadLetterView } from './dead-letters.js';
export type { TriggerView } from './triggers.js';
export type { AliasView, VersionView } from './versions.js';

export class ApiClient {
  private readonly http: Transport;
  readonly functions: FunctionsApi;
  /** A function's log lines, recent and followed. */
  readonly functionLogs: FunctionLogsApi;
  readonly executions: ExecutionsApi;
  readonly deadLetters: DeadLettersApi;
  readonly triggers: TriggersApi;
  readonly versions: VersionsApi;
  readonly aliases: AliasesApi;
  readonly layers: LayersApi;
  readonly accessKeys: AccessKeysApi;

  constructor(readonly connection: Connection) {
    this.http = new Transport(connection);
    this.functions = new FunctionsApi(this.http);
    this.functionLogs = new FunctionLogsApi(this.http);
    this.executions = new ExecutionsApi(this.http);
    this.deadLetters = new DeadLettersApi(this.http);
    this.triggers = new TriggersApi(this.http);
    this.versions = new VersionsApi(this.http);
    this.aliases = new AliasesApi(this.http);
    this.layers = new LayersApi(this.http);
    this.accessKeys = new AccessKeysApi(this.http);
  }

  async health(): Promise<{ status: string; version: string }> {
    return this.http.json(await this.http.call('GET', '/v1/health'));
  }
}
