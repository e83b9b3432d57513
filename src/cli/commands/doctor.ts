/**
 * `nimbus doctor`: probes, on this machine, which sandbox isolation the server would enforce, and
 * whether the packages the Python runtime provides (boto3) are installed.
 * Runs locally without a server. It must never fail because isolation is weak: it reports and exits 0.
 */
import type { Command } from 'commander';
import { addJsonOption, wantsJson } from '../client-options.js';
import { loadServerSettings } from '../server-settings.js';
import { isolationReport } from '../views.js';

export function registerDoctorCommand(program: Command): void {
  const cmd = program
    .command('doctor')
    .description('show which sandbox isolation and limits this machine can enforce, and what it lacks')
    .option('--sandbox <driver>', 'driver to probe: auto, bubblewrap or none')
    .option('--config <file>', 'JSON file of settings (default: $NIMBUS_CONFIG)')
    .action(async (opts: { sandbox?: string; config?: string }, command: Command) => {
      const config = await loadServerSettings({ sandbox: opts.sandbox }, opts.config);
      const { probeIsolation } = await import('../../sandbox/doctor.js');
      const report = await probeIsolation(config);
      const { hostProvidedPackagesWarning } = await import('../../engine/python-packages.js');
      const packages = hostProvidedPackagesWarning();
      if (packages) report.warnings.push(packages);
      console.log(wantsJson(command) ? JSON.stringify(report, null, 2) : isolationReport(report));
    });
  addJsonOption(cmd);
}
