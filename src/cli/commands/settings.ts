/**
 * `nimbus settings`: prints every server setting (flag, environment variable, default, meaning) as
 * the Markdown table the README embeds. It must never read or show the current values.
 */
import type { Command } from 'commander';

export function registerSettingsCommand(program: Command): void {
  program
    .command('settings')
    .description('list every server setting, its environment variable and default (Markdown)')
    .action(async () => {
      const { settingsTable } = await import('../../config.js');
      console.log(settingsTable());
    });
}
