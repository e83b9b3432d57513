/**
 * `nimbus layers publish|list|versions|get|delete`: layer versions, which functions name with
 * `--layer` on `nimbus deploy` and `nimbus functions update` and see unpacked at /opt.
 * A published version never changes; deleting one leaves the functions using it working.
 */
import type { Command } from 'commander';
import { LIMITS } from '../../core/function.js';
import { CliError } from '../cli-error.js';
import { addConnectionOptions, addJsonOption, clientFor, wantsJson } from '../client-options.js';
import { collectList } from '../option-parsers.js';
import { ProgressLine } from '../progress-line.js';
import { renderFields, renderTable } from '../table.js';
import { formatBytes } from '../views.js';
import { pack, packageKind, readZip } from './deploy.js';

interface PublishOptions {
  description?: string;
  compatibleRuntime?: string[];
  license?: string;
}

export function registerLayersCommand(program: Command): void {
  const layers = program
    .command('layers')
    .description('layers: zips unpacked read-only at /opt of the functions that name them');

  const publish = layers
    .command('publish')
    .description("publish a directory (or a .zip as is) as the layer's next version")
    .argument('<name>', 'layer name: letters, digits, - and _')
    .argument('<path>', 'directory to package (e.g. holding nodejs/node_modules or python/), or a .zip')
    .option('--description <text>', 'what the version holds')
    .option(
      '--compatible-runtime <runtime>',
      'Lambda runtime name the layer suits, e.g. nodejs20.x; repeat for more (informational)',
      collectList,
    )
    .option('--license <text>', 'license of the layer, e.g. MIT')
    .action(async (name: string, path: string, opts: PublishOptions, cmd: Command) => {
      const kind = await packageKind(path);
      const progress = new ProgressLine();
      const zip = kind === 'zip' ? await readZip(path, progress) : await pack(path, progress);
      if (zip.length > LIMITS.zippedBytes) {
        throw new CliError(
          `the layer is ${formatBytes(zip.length)} zipped; the limit is ${formatBytes(LIMITS.zippedBytes)}`,
        );
      }
      progress.update(`uploading ${formatBytes(zip.length)}…`, true);
      let version;
      try {
        version = await clientFor(cmd).layers.publish(name, zip, {
          description: opts.description,
          compatibleRuntimes: opts.compatibleRuntime,
          licenseInfo: opts.license,
        });
      } finally {
        progress.clear();
      }
      if (wantsJson(cmd)) return console.log(JSON.stringify(version, null, 2));
      console.log(`published ${version.arn}`);
      console.error(
        `use it with: nimbus deploy DIR --name FN --layer ${version.layerName}:${version.version}`,
      );
    });
  addJsonOption(addConnectionOptions(publish));

  const list = layers
    .command('list', { isDefault: true })
    .alias('ls')
    .description('list layers with their newest version')
    .action(async (_opts: unknown, cmd: Command) => {
      const body = await clientFor(cmd).layers.list();
      if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
      if (body.layers.length === 0) {
        return console.error('no layers yet: publish one with `nimbus layers publish NAME DIR`');
      }
      console.log(
        renderTable(
          ['NAME', 'LATEST', 'SIZE', 'RUNTIMES', 'DESCRIPTION'],
          body.layers.map((l) => [
            l.layerName,
            String(l.latest.version),
            formatBytes(l.latest.codeSize),
            l.latest.compatibleRuntimes.join(' ') || '-',
            l.latest.description,
          ]),
        ),
      );
    });
  addJsonOption(addConnectionOptions(list));

  const versions = layers
    .command('versions')
    .description("list a layer's versions, newest first")
    .argument('<name>', 'layer name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const body = await clientFor(cmd).layers.listVersions(name);
      if (wantsJson(cmd)) return console.log(JSON.stringify(body, null, 2));
      if (body.versions.length === 0) return console.error(`layer '${name}' has no versions`);
      console.log(
        renderTable(
          ['VERSION', 'SIZE', 'UNPACKED', 'CREATED', 'RUNTIMES', 'DESCRIPTION'],
          body.versions.map((v) => [
            String(v.version),
            formatBytes(v.codeSize),
            formatBytes(v.unpackedBytes),
            v.createdAt,
            v.compatibleRuntimes.join(' ') || '-',
            v.description,
          ]),
        ),
      );
    });
  addJsonOption(addConnectionOptions(versions));

  const get = layers
    .command('get')
    .description('show one layer version')
    .argument('<name>', 'layer name')
    .argument('<version>', 'version number')
    .action(async (name: string, version: string, _opts: unknown, cmd: Command) => {
      const v = await clientFor(cmd).layers.getVersion(name, version);
      if (wantsJson(cmd)) return console.log(JSON.stringify(v, null, 2));
      console.log(
        renderFields([
          ['arn', v.arn],
          ['description', v.description || '-'],
          ['runtimes', v.compatibleRuntimes.join(' ') || '-'],
          ['license', v.licenseInfo || '-'],
          [
            'code',
            `sha256 ${v.codeSha256} (${formatBytes(v.codeSize)}, ${formatBytes(v.unpackedBytes)} unpacked)`,
          ],
          ['created', v.createdAt],
        ]),
      );
    });
  addJsonOption(addConnectionOptions(get));

  const remove = layers
    .command('delete')
    .alias('rm')
    .description('delete a layer version (functions using it keep it; its number is not reused)')
    .argument('<name>', 'layer name')
    .argument('<version>', 'version number')
    .action(async (name: string, version: string, _opts: unknown, cmd: Command) => {
      await clientFor(cmd).layers.deleteVersion(name, version);
      console.log(`deleted layer ${name} version ${version}`);
    });
  addConnectionOptions(remove);
}
