/**
 * `nimbus functions list|get|update|delete`: manage deployed functions' settings. Code changes go
 * through `nimbus deploy`. It must never delete or change anything the user did not name.
 */
import type { Command } from 'commander';
import { usageError } from '../cli-error.js';
import { addConnectionOptions, addJsonOption, clientFor, wantsJson } from '../client-options.js';
import {
  addFunctionSettingOptions,
  settingsPatch,
  type FunctionSettingOptions,
} from '../function-settings.js';
import { functionDetail, functionsTable } from '../views.js';

export function registerFunctionsCommand(program: Command): void {
  const functions = program.command('functions').description('list, inspect, update and delete functions');

  const list = functions
    .command('list')
    .alias('ls')
    .description('list functions')
    .action(async (_opts: unknown, cmd: Command) => {
      const body = await clientFor(cmd).functions.list();
      if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
      if (body.functions.length === 0) {
        return console.error(
          'no functions yet: create one with `nimbus deploy <dir> --name NAME --runtime R --handler H`',
        );
      }
      console.log(functionsTable(body.functions));
    });
  addJsonOption(addConnectionOptions(list));

  const get = functions
    .command('get')
    .description("show a function's settings")
    .argument('<name>', 'function name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const fn = await clientFor(cmd).functions.get(name);
      console.log(wantsJson(cmd) ? JSON.stringify(fn, null, 2) : functionDetail(fn));
    });
  addJsonOption(addConnectionOptions(get));

  const update = functions
    .command('update')
    .description("change a function's settings (use `nimbus deploy` for new code)")
    .argument('<name>', 'function name');
  addFunctionSettingOptions(update).action(
    async (name: string, opts: FunctionSettingOptions, cmd: Command) => {
      const patch = settingsPatch(opts);
      if (Object.keys(patch).length === 0) {
        throw usageError(
          'nothing to update: give at least one of --runtime, --handler, --memory, --timeout, --env, --description, --async-retries, --async-max-age, --on-success, --on-failure, --layer, --no-layers',
        );
      }
      const fn = await clientFor(cmd).functions.update(name, patch);
      console.log(`updated ${fn.name}`);
    },
  );
  addConnectionOptions(update);

  const remove = functions
    .command('delete')
    .alias('rm')
    .description('delete a function (its executions and logs stay readable)')
    .argument('<name>', 'function name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await clientFor(cmd).functions.delete(name);
      console.log(`deleted ${name}`);
    });
  addConnectionOptions(remove);
}
