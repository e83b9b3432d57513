/**
 * The options every client command shares (--url, --key and, on read commands, --json) and the
 * client built from them. They are declared on each command as well as on the program so they
 * work before or after the command name. It must never read settings meant for the server.
 */
import type { Command } from 'commander';
import { ApiClient } from './api/client.js';
import { resolveConnection } from './connection.js';

interface ClientOptions {
  url?: string;
  key?: string;
  json?: boolean;
}

export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option(
      '--url <url>',
      'Nimbus API URL (default: $NIMBUS_URL, the CLI config file, or http://127.0.0.1:8080)',
    )
    .option('--key <key>', 'API key (default: $NIMBUS_KEY, the CLI config file, or .nimbus/admin.key)');
}

export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print the raw JSON the API returned instead of a table');
}

/** Options of `cmd` merged with the program's; the command's own win. */
export function clientOptions(cmd: Command): ClientOptions {
  return cmd.optsWithGlobals<ClientOptions>();
}

export function clientFor(cmd: Command): ApiClient {
  const { url, key } = clientOptions(cmd);
  return new ApiClient(resolveConnection({ url, key }));
}

export function wantsJson(cmd: Command): boolean {
  return clientOptions(cmd).json === true;
}
