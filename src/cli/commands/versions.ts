/**
 * `nimbus versions publish|list|get|delete` and `nimbus aliases create|list|get|update|delete`:
 * immutable versions of a function and the names that point at them. Rules (alias names, weights,
 * versions in use) are checked by the server, which says what to fix; this module turns flags into
 * the API's JSON. It must never change a version or alias the user did not name.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { AliasView, VersionView } from '../api/client.js';
import { usageError } from '../cli-error.js';
import { addConnectionOptions, addJsonOption, clientFor, wantsJson } from '../client-options.js';
import { renderFields, renderTable } from '../table.js';

/** `--routing 3=0.1`: send a tenth of the calls to version 3; `--routing none` removes the routing. */
function parseRouting(value: string): { version: string; weight: number } | 'none' {
  // Commander turns a parser's null into '': 'none' stays a word until the request is made.
  if (value.trim().toLowerCase() === 'none') return 'none';
  const match = /^\s*([^=\s]+)\s*=\s*([^=\s]+)\s*$/.exec(value);
  const weight = match ? Number(match[2]) : NaN;
  if (!match || !Number.isFinite(weight)) {
    throw new InvalidArgumentError(
      `expected VERSION=WEIGHT (e.g. 3=0.1 sends a tenth of the calls to version 3) or none, got '${value}'.`,
    );
  }
  return { version: match[1]!, weight };
}

function versionsTable(versions: readonly VersionView[]): string {
  return renderTable(
    ['VERSION', 'CREATED', 'CODE', 'RUNTIME', 'DESCRIPTION'],
    versions.map((v) => [v.version, v.createdAt, v.codeSha256.slice(0, 12), v.runtime, v.description]),
  );
}

function routingText(a: AliasView): string {
  return a.routing ? `${a.routing.version} (${a.routing.weight})` : '';
}

function aliasesTable(aliases: readonly AliasView[]): string {
  return renderTable(
    ['ALIAS', 'VERSION', 'ROUTING', 'DESCRIPTION'],
    aliases.map((a) => [a.name, a.functionVersion, routingText(a), a.description]),
  );
}

function detail(record: object): string {
  const fields: [string, string][] = [];
  for (const [key, value] of Object.entries(record)) {
    if (value === null || value === undefined) continue;
    fields.push([key, typeof value === 'string' ? value : JSON.stringify(value)]);
  }
  return renderFields(fields);
}

export function registerVersionsCommand(program: Command): void {
  const versions = program
    .command('versions')
    .description("immutable snapshots of a function's code and configuration");

  const publish = versions
    .command('publish')
    .description("freeze the function's current code and configuration as its next version")
    .argument('<function>', 'function name')
    .option('--description <text>', 'describe the version')
    .option('--code-sha256 <hex>', 'publish only if the code still has this SHA-256');
  addJsonOption(addConnectionOptions(publish)).action(
    async (fn: string, opts: { description?: string; codeSha256?: string }, cmd: Command) => {
      const { version, created } = await clientFor(cmd).versions.publish(fn, {
        ...(opts.description === undefined ? {} : { description: opts.description }),
        ...(opts.codeSha256 === undefined ? {} : { codeSha256: opts.codeSha256 }),
      });
      if (wantsJson(cmd)) return console.log(JSON.stringify(version, null, 2));
      console.log(version.version);
      console.error(
        created
          ? `published version ${version.version} of ${fn}`
          : `nothing changed since version ${version.version}; no new version was made`,
      );
    },
  );

  const list = versions
    .command('list')
    .alias('ls')
    .description("list a function's versions")
    .argument('<function>', 'function name');
  addJsonOption(addConnectionOptions(list)).action(async (fn: string, _opts: unknown, cmd: Command) => {
    const body = await clientFor(cmd).versions.list(fn);
    if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
    if (body.versions.length === 0) {
      return console.error(`no versions yet: publish one with \`nimbus versions publish ${fn}\``);
    }
    console.log(versionsTable(body.versions));
  });

  const get = versions
    .command('get')
    .description('show what a version froze')
    .argument('<function>', 'function name')
    .argument('<version>', 'version number');
  addJsonOption(addConnectionOptions(get)).action(
    async (fn: string, version: string, _opts: unknown, cmd: Command) => {
      const v = await clientFor(cmd).versions.get(fn, version);
      console.log(wantsJson(cmd) ? JSON.stringify(v, null, 2) : detail(v));
    },
  );

  const remove = versions
    .command('delete')
    .alias('rm')
    .description('delete a version (not while an alias uses it; its number is not reused)')
    .argument('<function>', 'function name')
    .argument('<version>', 'version number');
  addConnectionOptions(remove).action(async (fn: string, version: string, _opts: unknown, cmd: Command) => {
    await clientFor(cmd).versions.delete(fn, version);
    console.log(`deleted version ${version} of ${fn}`);
  });
}

interface AliasOptions {
  version?: string;
  routing?: { version: string; weight: number } | 'none';
  description?: string;
}

function aliasSpec(opts: AliasOptions): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  if (opts.version !== undefined) spec.functionVersion = opts.version;
  if (opts.routing !== undefined) spec.routing = opts.routing === 'none' ? null : opts.routing;
  if (opts.description !== undefined) spec.description = opts.description;
  return spec;
}

function addAliasOptions(cmd: Command, versionRequired: boolean): Command {
  const versionHelp = 'the version the alias points at (a number, or $LATEST)';
  return (
    versionRequired
      ? cmd.requiredOption('--version <n>', versionHelp)
      : cmd.option('--version <n>', versionHelp)
  )
    .option(
      '--routing <version=weight>',
      'send a share of the calls to a second version, e.g. 3=0.1 (none removes it)',
      parseRouting,
    )
    .option('--description <text>', 'describe the alias');
}

export function registerAliasesCommand(program: Command): void {
  const aliases = program
    .command('aliases')
    .description('names (e.g. production) that point at versions, with optional weighted routing');

  const create = aliases
    .command('create')
    .description('point a new alias at a version')
    .argument('<function>', 'function name')
    .argument('<alias>', 'alias name, e.g. production');
  addJsonOption(addConnectionOptions(addAliasOptions(create, true))).action(
    async (fn: string, alias: string, opts: AliasOptions, cmd: Command) => {
      const a = await clientFor(cmd).aliases.create(fn, { name: alias, ...aliasSpec(opts) });
      console.log(wantsJson(cmd) ? JSON.stringify(a, null, 2) : detail(a));
    },
  );

  const list = aliases
    .command('list')
    .alias('ls')
    .description("list a function's aliases")
    .argument('<function>', 'function name');
  addJsonOption(addConnectionOptions(list)).action(async (fn: string, _opts: unknown, cmd: Command) => {
    const body = await clientFor(cmd).aliases.list(fn);
    if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
    if (body.aliases.length === 0) {
      return console.error(
        `no aliases yet: add one with \`nimbus aliases create ${fn} <alias> --version N\``,
      );
    }
    console.log(aliasesTable(body.aliases));
  });

  const get = aliases
    .command('get')
    .description('show an alias')
    .argument('<function>', 'function name')
    .argument('<alias>', 'alias name');
  addJsonOption(addConnectionOptions(get)).action(
    async (fn: string, alias: string, _opts: unknown, cmd: Command) => {
      const a = await clientFor(cmd).aliases.get(fn, alias);
      console.log(wantsJson(cmd) ? JSON.stringify(a, null, 2) : detail(a));
    },
  );

  const update = aliases
    .command('update')
    .description("change an alias's version, routing or description")
    .argument('<function>', 'function name')
    .argument('<alias>', 'alias name');
  addAliasOptions(update, false);
  addConnectionOptions(update).action(async (fn: string, alias: string, opts: AliasOptions, cmd: Command) => {
    const patch = aliasSpec(opts);
    if (Object.keys(patch).length === 0) {
      throw usageError('nothing to update: give --version, --routing or --description');
    }
    const a = await clientFor(cmd).aliases.update(fn, alias, patch);
    console.log(`updated ${a.name}: version ${a.functionVersion}${a.routing ? `, ${routingText(a)}` : ''}`);
  });

  const remove = aliases
    .command('delete')
    .alias('rm')
    .description('delete an alias')
    .argument('<function>', 'function name')
    .argument('<alias>', 'alias name');
  addConnectionOptions(remove).action(async (fn: string, alias: string, _opts: unknown, cmd: Command) => {
    await clientFor(cmd).aliases.delete(fn, alias);
    console.log(`deleted alias ${alias} of ${fn}`);
  });
}
