/**
 * `nimbus deploy`: packs a directory (or takes a .zip as is) and creates the function, or uploads
 * the new code and changed settings of an existing one. Progress goes to stderr, live only on a
 * terminal. It must never upload before it knows whether the function exists, so a typo in the
 * name or a missing --runtime fails before the slow part.
 */
import type { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { LIMITS } from '../../core/function.js';
import { ApiError, type ApiClient, type FunctionPatch, type FunctionView } from '../api/client.js';
import { CliError, usageError } from '../cli-error.js';
import { addConnectionOptions, clientFor } from '../client-options.js';
import {
  addFunctionSettingOptions,
  settingsPatch,
  type FunctionSettingOptions,
} from '../function-settings.js';
import { ProgressLine } from '../progress-line.js';
import { formatBytes } from '../views.js';

interface DeployOptions extends FunctionSettingOptions {
  name: string;
}

export function registerDeployCommand(program: Command): void {
  const cmd = program.command('deploy');
  addFunctionSettingOptions(cmd, ' (required to create)');
  cmd
    .description('create a function, or update the code and settings of an existing one')
    .argument('<path>', 'directory to package, or a .zip file to upload as is')
    .requiredOption('-n, --name <name>', 'function name')
    .action(async (path: string, opts: DeployOptions, command: Command) => {
      const client = clientFor(command);
      const kind = await packageKind(path);
      const existing = await client.functions.find(opts.name);
      const { runtime, handler } = opts;
      if (!existing && (runtime === undefined || handler === undefined)) {
        throw usageError(
          `function '${opts.name}' does not exist yet: --runtime and --handler are required to create it`,
          `e.g. nimbus deploy ${path} --name ${opts.name} --runtime python3 --handler main.handler`,
        );
      }
      const progress = new ProgressLine();
      const zip = kind === 'zip' ? await readZip(path, progress) : await pack(path, progress);
      if (zip.length > LIMITS.zippedBytes) {
        throw new CliError(
          `the package is ${formatBytes(zip.length)} zipped; the limit is ${formatBytes(LIMITS.zippedBytes)}`,
        );
      }

      const settings = settingsPatch(opts);
      progress.update(`uploading ${formatBytes(zip.length)}…`, true);
      let view: FunctionView;
      try {
        if (existing) view = await update(client, existing, settings, zip);
        else view = await create(client, opts.name, settings, zip);
      } finally {
        progress.clear();
      }
      console.log(`deployed ${view.name} (${view.runtime}, code sha256 ${view.codeSha256.slice(0, 12)})`);
    });
  addConnectionOptions(cmd);
}

async function create(
  client: ApiClient,
  name: string,
  settings: FunctionPatch,
  zip: Buffer,
): Promise<FunctionView> {
  const { runtime, handler, ...rest } = settings;
  if (runtime === undefined || handler === undefined)
    throw new Error('runtime and handler are checked by the caller');
  try {
    return await client.functions.create({ name, runtime, handler, ...defined(rest) }, zip);
  } catch (err) {
    // Someone created it since we looked: deploying means "make it so", so update it instead.
    if (!(err instanceof ApiError && err.code === 'FUNCTION_EXISTS')) throw err;
    return update(client, await client.functions.get(name), settings, zip);
  }
}

/** Uploads the code, then sends only the settings that differ, so a re-deploy changes nothing else. */
async function update(
  client: ApiClient,
  existing: FunctionView,
  settings: FunctionPatch,
  zip: Buffer,
): Promise<FunctionView> {
  let view = await client.functions.putCode(existing.name, zip);
  const shown = (key: string): unknown =>
    // Layers are shown as records and given as references: compare them as `name:version`.
    key === 'layers'
      ? existing.layers.map((l) => `${l.layerName}:${l.version}`)
      : existing[key as keyof FunctionView];
  const given = (key: string, value: unknown): unknown =>
    key === 'layers' ? (value as string[]).map((ref) => ref.split(':').slice(-2).join(':')) : value;
  const changed = Object.fromEntries(
    Object.entries(defined(settings)).filter(
      ([key, value]) => JSON.stringify(shown(key)) !== JSON.stringify(given(key, value)),
    ),
  ) as FunctionPatch;
  if (Object.keys(changed).length > 0) view = await client.functions.update(existing.name, changed);
  return view;
}

/** Whether `path` is a directory to pack or a .zip to send as is; a usage error for anything else. */
export async function packageKind(path: string): Promise<'directory' | 'zip'> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw usageError(
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  if (info.isDirectory()) return 'directory';
  if (info.isFile() && path.toLowerCase().endsWith('.zip')) return 'zip';
  throw usageError(
    `${path} is neither a directory nor a .zip file`,
    'deploy takes the folder holding your code',
  );
}

/** Reads a .zip to upload as is. */
export async function readZip(path: string, progress: ProgressLine): Promise<Buffer> {
  const zip = await readFile(path);
  progress.summary(`read ${path} (${formatBytes(zip.length)})`);
  return zip;
}

/** Packs a directory into a zip, showing progress. */
export async function pack(dir: string, progress: ProgressLine): Promise<Buffer> {
  const { packDirectory } = await import('../../packaging/pack-directory.js');
  let files = 0;
  const zip = await packDirectory(dir, (p) => {
    files = p.totalFiles;
    progress.update(`packing ${p.files}/${p.totalFiles} files (${formatBytes(p.bytes)})`);
  });
  progress.summary(
    `packed ${files} ${files === 1 ? 'file' : 'files'} from ${dir} into ${formatBytes(zip.length)}`,
  );
  return zip;
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
