/**
 * `nimbus login`: saves a server URL and its API key in the CLI config file (mode 0600) so later
 * commands need neither flag. It checks the pair against the server first unless told not to, and
 * must never write the key anywhere else or print it.
 */
import type { Command } from 'commander';
import { text } from 'node:stream/consumers';
import { ApiClient } from '../api/client.js';
import { CliError, usageError } from '../cli-error.js';
import { clientOptions } from '../client-options.js';
import { cliConfigPath, normalizeUrl, writeCliConfig } from '../connection.js';

export function registerLoginCommand(program: Command): void {
  program
    .command('login')
    .description('save the server URL and API key for later commands')
    .option('--url <url>', 'Nimbus API URL, e.g. http://127.0.0.1:8080')
    .option('--key <key>', 'API key; "-" reads it from stdin (keeps it out of shell history)')
    .option('--no-verify', 'save without checking the key against the server')
    .action(async (opts: { verify: boolean }, cmd: Command) => {
      const { url: rawUrl, key: rawKey } = clientOptions(cmd);
      if (rawUrl === undefined || rawKey === undefined) {
        throw usageError(
          'login needs both --url and --key',
          'e.g. nimbus login --url http://127.0.0.1:8080 --key - < .nimbus/admin.key',
        );
      }
      const url = normalizeUrl(rawUrl, '--url');
      const key = (rawKey === '-' ? await text(process.stdin) : rawKey).trim();
      if (!key) throw usageError('the key is empty');
      if (opts.verify) {
        // Any authenticated call will do; it proves both the URL and the key.
        await new ApiClient({ url, key, keySource: '--key' }).functions.list().catch((err: unknown) => {
          // Could not reach the server (as opposed to a rejected key): the user may be configuring ahead.
          if (err instanceof CliError) {
            throw new CliError(err.message, err.exitCode, 'to save the key anyway, add --no-verify');
          }
          throw err;
        });
      }
      const path = cliConfigPath();
      writeCliConfig(path, { url, key });
      console.log(`saved ${url} and its key to ${path}`);
    });
}
