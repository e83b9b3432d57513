/**
 * `nimbus dead-letters list [function] | get <id> | replay <id> | delete <id>`: asynchronous calls
 * that finally failed. It must never replay or delete anything the user did not name.
 */
import type { Command } from 'commander';
import { addConnectionOptions, addJsonOption, clientFor, wantsJson } from '../client-options.js';
import { parsePositiveInt } from '../option-parsers.js';
import { deadLetterDetail, deadLettersTable } from '../views.js';

export function registerDeadLettersCommand(program: Command): void {
  const letters = program
    .command('dead-letters')
    .description('asynchronous calls that failed after their retries or expired: list, get, replay, delete');

  const list = letters
    .command('list', { isDefault: true })
    .alias('ls')
    .description('list dead letters, newest first, of one function or all')
    .argument('[function]', 'only dead letters of this function')
    .option('--limit <n>', 'at most this many', parsePositiveInt)
    .action(async (functionName: string | undefined, opts: { limit?: number }, cmd: Command) => {
      const body = await clientFor(cmd).deadLetters.list({ functionName, limit: opts.limit });
      if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
      if (body.deadLetters.length === 0) return console.error('no dead letters');
      console.log(deadLettersTable(body.deadLetters));
    });
  addJsonOption(addConnectionOptions(list));

  const get = letters
    .command('get')
    .description('show one dead letter: its event, error, attempts and times')
    .argument('<id>', 'dead letter id (the failed execution id)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const letter = await clientFor(cmd).deadLetters.get(id);
      console.log(wantsJson(cmd) ? JSON.stringify(letter, null, 2) : deadLetterDetail(letter));
    });
  addJsonOption(addConnectionOptions(get));

  const replay = letters
    .command('replay')
    .description('queue the dead letter’s event again as a new asynchronous call; prints its execution id')
    .argument('<id>', 'dead letter id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const { executionId } = await clientFor(cmd).deadLetters.replay(id);
      console.log(executionId);
    });
  addConnectionOptions(replay);

  const remove = letters
    .command('delete')
    .alias('rm')
    .description('delete a dead letter')
    .argument('<id>', 'dead letter id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await clientFor(cmd).deadLetters.delete(id);
      console.log(`deleted dead letter ${id}`);
    });
  addConnectionOptions(remove);
}
