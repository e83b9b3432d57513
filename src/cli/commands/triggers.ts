/**
 * `nimbus triggers create|list|get|update|delete|next|rotate-key|sign`: HTTP endpoints and timers of
 * functions. Settings are checked by the server, which answers with what to fix; this module only
 * turns flags into the API's JSON. It must never change a trigger the user did not name.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { TriggerView } from '../api/client.js';
import { usageError } from '../cli-error.js';
import { addConnectionOptions, addJsonOption, clientFor, wantsJson } from '../client-options.js';
import { parsePositiveInt } from '../option-parsers.js';
import { renderFields, renderTable } from '../table.js';

interface TriggerOptions {
  type?: string;
  auth?: string;
  style?: string;
  methods?: string[];
  host?: string;
  cors?: string[];
  schedule?: string;
  timezone?: string;
  payload?: unknown;
  missed?: string;
  qualifier?: string;
  enable?: boolean;
}

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(`not valid JSON: ${(err as Error).message}.`);
  }
}

function parseList(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function addTriggerOptions(cmd: Command): Command {
  return cmd
    .option('--auth <mode>', 'HTTP: anonymous, or key (bearer key or signed URL; default)')
    .option('--style <style>', 'HTTP: lambda (default), wsgi (Python) or fetch (Node)')
    .option('--methods <list>', 'HTTP: accepted methods, comma-separated (default all)', (v) =>
      parseList(v.toUpperCase()),
    )
    .option('--host <name>', 'HTTP: a host name the trigger also answers for')
    .option('--cors <origins>', 'HTTP: allow browsers from these origins (comma-separated, or *)', parseList)
    .option(
      '--schedule <expr>',
      'timer: "rate(5 minutes)", "@every 5m", "cron(05 00 * * ? *)" or cron fields',
    )
    .option('--timezone <tz>', 'timer: IANA time zone of the schedule (default UTC)')
    .option('--payload <json>', 'timer: the event of every firing (default {})', parseJson)
    .option('--missed <policy>', 'timer: a tick missed while stopped: fire_once (default) or skip')
    .option('--qualifier <q>', 'the version number or alias to call ($LATEST, the default, goes back to it)')
    .option('--enable', 'enable the trigger')
    .option('--disable', 'disable the trigger (it stays, and can be enabled again)');
}

/** The API's settings object from the flags that were given. */
function settingsFrom(opts: TriggerOptions & { disable?: boolean }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (opts.auth !== undefined) out.auth = opts.auth;
  if (opts.style !== undefined) out.style = opts.style;
  if (opts.methods !== undefined) out.methods = opts.methods;
  if (opts.host !== undefined) out.host = opts.host;
  if (opts.cors !== undefined) out.cors = { allowOrigins: opts.cors };
  if (opts.schedule !== undefined) out.schedule = opts.schedule;
  if (opts.timezone !== undefined) out.timezone = opts.timezone;
  if (opts.payload !== undefined) out.payload = opts.payload;
  if (opts.missed !== undefined) out.missedTicks = opts.missed;
  if (opts.qualifier !== undefined) out.qualifier = opts.qualifier;
  if (opts.enable && opts.disable) throw usageError('give --enable or --disable, not both');
  if (opts.enable) out.enabled = true;
  if (opts.disable) out.enabled = false;
  return out;
}

function summary(t: TriggerView): string {
  const calls = typeof t.qualifier === 'string' ? `, calls ${t.qualifier}` : '';
  if (t.type === 'timer') return `${String(t.schedule)} (${String(t.timezone)})${calls}`;
  return `${String(t.path)} ${String(t.style)}, auth ${String(t.auth)}${calls}`;
}

function triggersTable(triggers: readonly TriggerView[]): string {
  return renderTable(
    ['ID', 'FUNCTION', 'TYPE', 'ENABLED', 'SETTINGS'],
    triggers.map((t) => [t.id, t.functionName, t.type, t.enabled ? 'yes' : 'no', summary(t)]),
  );
}

function triggerDetail(t: TriggerView): string {
  const fields: [string, string][] = [];
  for (const [key, value] of Object.entries(t)) {
    if (value === null || value === undefined) continue;
    fields.push([key, typeof value === 'string' ? value : JSON.stringify(value)]);
  }
  return renderFields(fields);
}

export function registerTriggersCommand(program: Command): void {
  const triggers = program.command('triggers').description('HTTP endpoints and timers that run functions');

  const create = triggers
    .command('create')
    .description('add a trigger to a function')
    .argument('<function>', 'function name')
    .requiredOption('--type <type>', 'http or timer');
  addJsonOption(addConnectionOptions(addTriggerOptions(create))).action(
    async (fn: string, opts: TriggerOptions, cmd: Command) => {
      const t = await clientFor(cmd).triggers.create(fn, { type: opts.type, ...settingsFrom(opts) });
      if (wantsJson(cmd)) return console.log(JSON.stringify(t, null, 2));
      console.log(triggerDetail(t));
      if (t.key)
        console.error('the key is shown only now: keep it (`nimbus triggers rotate-key ID` makes a new one)');
    },
  );

  const list = triggers
    .command('list')
    .alias('ls')
    .description("list a function's triggers (all triggers without a name)")
    .argument('[function]', 'function name');
  addJsonOption(addConnectionOptions(list)).action(
    async (fn: string | undefined, _opts: unknown, cmd: Command) => {
      const body = await clientFor(cmd).triggers.list(fn);
      if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
      if (body.triggers.length === 0) {
        return console.error(
          'no triggers yet: add one with `nimbus triggers create <function> --type http|timer`',
        );
      }
      console.log(triggersTable(body.triggers));
    },
  );

  const get = triggers.command('get').description("show a trigger's settings").argument('<id>', 'trigger id');
  addJsonOption(addConnectionOptions(get)).action(async (id: string, _opts: unknown, cmd: Command) => {
    const t = await clientFor(cmd).triggers.get(id);
    console.log(wantsJson(cmd) ? JSON.stringify(t, null, 2) : triggerDetail(t));
  });

  const update = triggers
    .command('update')
    .description("change a trigger's settings")
    .argument('<id>', 'trigger id');
  addConnectionOptions(addTriggerOptions(update)).action(
    async (id: string, opts: TriggerOptions, cmd: Command) => {
      const patch = settingsFrom(opts);
      if (Object.keys(patch).length === 0)
        throw usageError('nothing to update: give at least one setting flag');
      const t = await clientFor(cmd).triggers.update(id, patch);
      console.log(`updated ${t.id}`);
    },
  );

  const remove = triggers
    .command('delete')
    .alias('rm')
    .description('delete a trigger')
    .argument('<id>', 'trigger id');
  addConnectionOptions(remove).action(async (id: string, _opts: unknown, cmd: Command) => {
    await clientFor(cmd).triggers.delete(id);
    console.log(`deleted ${id}`);
  });

  const next = triggers
    .command('next')
    .description("a timer's next firing times (check an expression before relying on it)")
    .argument('<id>', 'trigger id')
    .option('--count <n>', 'how many (at most 100)', parsePositiveInt, 5);
  addJsonOption(addConnectionOptions(next)).action(
    async (id: string, opts: { count: number }, cmd: Command) => {
      const body = await clientFor(cmd).triggers.nextFirings(id, opts.count);
      if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
      for (const time of body.next) console.log(time);
    },
  );

  const rotate = triggers
    .command('rotate-key')
    .description('make a new key for a key-auth HTTP trigger (the old one stops working)')
    .argument('<id>', 'trigger id');
  addConnectionOptions(rotate).action(async (id: string, _opts: unknown, cmd: Command) => {
    const t = await clientFor(cmd).triggers.rotateKey(id);
    console.log(t.key);
  });

  const sign = triggers
    .command('sign')
    .description('make a URL that calls a key-auth HTTP trigger without its key, until it expires')
    .argument('<id>', 'trigger id')
    .option('--path <path>', 'path (and query) the function sees', '/')
    .option('--method <method>', 'the method the URL is good for', 'GET')
    .option('--expires <seconds>', 'how long the URL works (at most 7 days)', parsePositiveInt, 3600);
  addJsonOption(addConnectionOptions(sign)).action(
    async (id: string, opts: { path: string; method: string; expires: number }, cmd: Command) => {
      const body = await clientFor(cmd).triggers.signUrl(id, {
        method: opts.method.toUpperCase(),
        path: opts.path,
        expiresInSec: opts.expires,
      });
      if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
      console.log(body.url);
      console.error(`works until ${body.expiresAt}`);
    },
  );
}
