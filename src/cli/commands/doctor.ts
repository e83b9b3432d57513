/**
 * `nimbus doctor`: probes, on this machine, which sandbox isolation the server would enforce, and
 * whether the packages the Python runtime provides (boto3) are installed, and what the data dir
 * takes on disk (packages, code archives, database and logs) against its budget.
 * Runs locally without a server. It must never fail because isolation is weak: it reports and exits 0.
 */
import type { Command } from 'commander';
import { addJsonOption, wantsJson } from '../client-options.js';
import { loadServerSettings } from '../server-settings.js';
import { dataDirUsageView, isolationReport } from '../views.js';

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
      const { hostProvidedPackagesWarning } = await import('../../sandbox/python-packages.js');
      const packages = hostProvidedPackagesWarning();
      if (packages) report.warnings.push(packages);
      const { dataDirBudget } = await import('../../engine/code/disk-budget.js');
      const dataDir = dataDirBudget(config.dataDir, config.diskBudgetMb).usage();
      console.log(
        wantsJson(command)
          ? JSON.stringify({ ...report, dataDir }, null, 2)
          : `${isolationReport(report)}\n${dataDirUsageView(config.dataDir, dataDir)}`,
      );
    });
  addJsonOption(cmd);
}
