/**
 * `nimbus access-keys create [--allow GRANT...] | list | delete <id>`: key pairs for the
 * Lambda-compatible API (AWS CLI and SDKs sign with them). The secret is printed once, at create.
 */
import type { Command } from 'commander';
import { addConnectionOptions, addJsonOption, clientFor, wantsJson } from '../client-options.js';
import { renderFields, renderTable } from '../table.js';

export function registerAccessKeysCommand(program: Command): void {
  const keys = program
    .command('access-keys')
    .description('access keys for the AWS Lambda-compatible API (SigV4): create, list, delete');

  const create = keys
    .command('create')
    .description('make a key pair; its secret is shown only now')
    .option(
      '--allow <grant...>',
      'what the key may do: invoke:<function>, invoke:*, manage:<function>, manage:* (default: everything)',
    )
    .option('--description <text>', 'what the key is for')
    .action(async (opts: { allow?: string[]; description?: string }, cmd: Command) => {
      const key = await clientFor(cmd).accessKeys.create({
        ...(opts.allow ? { allow: opts.allow } : {}),
        ...(opts.description !== undefined ? { description: opts.description } : {}),
      });
      if (wantsJson(cmd)) return console.log(JSON.stringify(key, null, 2));
      console.log(
        renderFields([
          ['AWS_ACCESS_KEY_ID', key.accessKeyId],
          ['AWS_SECRET_ACCESS_KEY', key.secretAccessKey],
          ['allow', key.allow?.join(' ') ?? 'everything'],
        ]),
      );
      console.error('the secret is shown only once: keep it now');
    });
  addJsonOption(addConnectionOptions(create));

  const list = keys
    .command('list', { isDefault: true })
    .alias('ls')
    .description('list access keys (without their secrets)')
    .action(async (_opts: unknown, cmd: Command) => {
      const body = await clientFor(cmd).accessKeys.list();
      if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
      if (body.accessKeys.length === 0) return console.error('no access keys');
      console.log(
        renderTable(
          ['ID', 'ALLOW', 'CREATED', 'DESCRIPTION'],
          body.accessKeys.map((k) => [k.id, k.allow?.join(' ') ?? '*', k.createdAt, k.description]),
        ),
      );
    });
  addJsonOption(addConnectionOptions(list));

  const remove = keys
    .command('delete')
    .alias('rm')
    .description('revoke an access key; requests signed with it fail at once')
    .argument('<id>', 'access key id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await clientFor(cmd).accessKeys.delete(id);
      console.log(`deleted access key ${id}`);
    });
  addConnectionOptions(remove);
}
