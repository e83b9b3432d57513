/**
 * Loads the server's settings for the commands that run server code in this process (`server`,
 * `doctor`). Imported lazily so client commands never load the settings schema. It must never
 * let a ConfigError escape: the user gets every bad setting listed and exit code 2.
 */
import type { Config, ConfigInput } from '../config.js';
import { usageError } from './cli-error.js';

export async function loadServerSettings(
  flags: ConfigInput,
  configFile: string | undefined,
): Promise<Config> {
  const { loadConfig, ConfigError } = await import('../config.js');
  try {
    return loadConfig(flags, process.env, configFile ?? process.env.NIMBUS_CONFIG);
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(err.message, 'see `nimbus settings` for every setting');
    throw err;
  }
}
