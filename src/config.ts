/**
 * Settings: one zod schema with a default and a description for each, loaded once at start.
 * Precedence: flags > environment (NIMBUS_*) > JSON config file > defaults. This is the only module
 * that reads process.env for settings; everything else is handed the frozen result.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?$/;

/** Comma-separated IPv4 addresses or CIDR ranges (an array in a config file). */
const ipv4CidrList = z
  .union([z.string(), z.array(z.string())])
  .default([])
  .transform((value, ctx) => {
    const items = (typeof value === 'string' ? value.split(',') : value).map((s) => s.trim()).filter(Boolean);
    for (const item of items) {
      if (!IPV4_CIDR.test(item)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `'${item}' is not an IPv4 address or CIDR range: give e.g. 10.1.2.0/24,192.168.5.7`,
        });
      }
    }
    return items;
  });

/** Each setting: schema (with default), environment variable, one-line description. */
const SETTINGS = {
  host: {
    env: 'NIMBUS_HOST',
    schema: z.string().min(1).default('127.0.0.1'),
    doc: 'Address the API listens on.',
  },
  port: {
    env: 'NIMBUS_PORT',
    schema: int(0, 65535).default(8080),
    doc: 'Port the API listens on (0 picks a free one).',
  },
  tlsCert: {
    env: 'NIMBUS_TLS_CERT',
    schema: z.string().min(1).optional(),
    doc: 'PEM certificate file (with its chain): the API, invoke and HTTP triggers are served over HTTPS. Needs --tls-key.',
  },
  tlsKey: {
    env: 'NIMBUS_TLS_KEY',
    schema: z.string().min(1).optional(),
    doc: 'PEM private key file of --tls-cert.',
  },
  dataDir: {
    env: 'NIMBUS_DATA_DIR',
    schema: z.string().min(1).default('.nimbus'),
    doc: 'Where the SQLite database, code packages and admin key live.',
  },
  databaseUrl: {
    env: 'NIMBUS_DATABASE_URL',
    schema: z
      .string()
      .regex(
        /^postgres(ql)?:\/\//,
        'must be a postgres:// URL, e.g. postgres://nimbus@db.example:5432/nimbus',
      )
      .optional(),
    doc: 'PostgreSQL database for all state (postgres://user@host:port/db); unset, SQLite in the data dir. Give a password in the environment (this variable or PGPASSWORD), not on the command line.',
    // Holds a password: an error message must not echo it.
    secret: true,
  },
  adminKey: {
    env: 'NIMBUS_ADMIN_KEY',
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
    doc: 'Admin API key; when unset, one is generated on first start into admin.key in the data dir.',
    // Command lines are visible to every user of the machine: secrets come from the environment or the file.
    noFlag: true,
  },
  logLevel: {
    env: 'NIMBUS_LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    doc: 'Server log level.',
  },
  sandbox: {
    env: 'NIMBUS_SANDBOX',
    schema: z.enum(['auto', 'bubblewrap', 'none', 'process']).default('auto'),
    doc: "Sandbox driver: bubblewrap, auto (bubblewrap; refuses to start without it), or none (plain processes, NOT isolated: only when you trust every function; 'process' is an old name for it).",
  },
  sandboxUids: {
    env: 'NIMBUS_SANDBOX_UIDS',
    schema: z
      .string()
      .regex(/^\d+-\d+$/, 'must be a range of user ids like 200000-265535')
      .default('200000-265535')
      .transform((range) => {
        const [first, last] = range.split('-').map(Number) as [number, number];
        return { first, last };
      })
      .refine((r) => r.first >= 1 && r.first <= r.last && r.last < 2 ** 31, {
        message: 'must be a range first-last with 1 <= first <= last < 2^31',
      }),
    doc: 'User ids given to sandboxes when Nimbus runs as root, one per running instance, so no two instances share a user.',
    shownDefault: '`"200000-265535"`',
  },
  sandboxSubnet: {
    env: 'NIMBUS_SANDBOX_SUBNET',
    schema: z
      .string()
      .regex(IPV4_CIDR, 'must be an IPv4 CIDR range, e.g. 10.231.0.0/16')
      .refine((s) => Number(s.split('/')[1] ?? 32) <= 23, 'must be a /23 or larger, e.g. 10.231.0.0/16')
      .default('10.231.0.0/16'),
    doc: "Private IPv4 range the sandboxes' network namespaces take their addresses from when Nimbus runs as root (each server on the host claims a /23 of it).",
  },
  egressAllow: {
    env: 'NIMBUS_EGRESS_ALLOW',
    schema: ipv4CidrList,
    doc: "IPv4 addresses or CIDR ranges (comma-separated) that functions with network 'internet' may reach although they are denied by default (private, loopback, link-local and the host's own addresses), e.g. 10.1.2.0/24.",
  },
  idleTimeoutSec: {
    env: 'NIMBUS_IDLE_TIMEOUT_SEC',
    schema: int(1, 86_400).default(300),
    doc: 'Seconds an idle instance is kept warm before it is reaped.',
  },
  prewarmPerRuntime: {
    env: 'NIMBUS_PREWARM_PER_RUNTIME',
    schema: int(0, 64).default(2),
    doc: 'Ready generic sandboxes kept per runtime (128 MB) so cold starts skip interpreter start-up; 0 turns pre-warming off.',
  },
  prewarmMax: {
    env: 'NIMBUS_PREWARM_MAX',
    schema: int(0, 256).default(8),
    doc: 'Most ready sandboxes per runtime and memory size when demand grows the pool.',
  },
  queueTimeoutMs: {
    env: 'NIMBUS_QUEUE_TIMEOUT_MS',
    schema: int(0, 900_000).default(10_000),
    doc: 'How long a call waits for an instance when a function is at its maximum before it gets 429.',
  },
  memoryBudgetMb: {
    env: 'NIMBUS_MEMORY_BUDGET_MB',
    // Memory sizes are ceilings (enforced per instance by its cgroup) and most functions use a
    // fraction of theirs, so the budget overcommits RAM, as the pool of idle instances would
    // otherwise be capped far below what the machine can hold.
    schema: int(64, 16 * 1024 * 1024).default(Math.floor((totalmem() / 1024 / 1024) * 2)),
    doc: 'Sum of the memory sizes of all instances; past it, least recently used idle instances are stopped first (sizes are per-instance ceilings, so this overcommits RAM).',
    shownDefault: '2 × RAM',
  },
  maxProcesses: {
    env: 'NIMBUS_MAX_PROCESSES',
    schema: int(4, 4096).default(64),
    doc: 'Processes and threads one instance may run.',
  },
  tmpSizeMb: {
    env: 'NIMBUS_TMP_SIZE_MB',
    schema: int(1, 10_240).default(64),
    doc: "Size of each instance's private /tmp (counts against its memory).",
  },
  logBytesPerExecution: {
    env: 'NIMBUS_LOG_BYTES_PER_EXECUTION',
    schema: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
    doc: 'Log bytes kept per execution; the rest is cut with a visible marker.',
  },
  logBytesPerFunction: {
    env: 'NIMBUS_LOG_BYTES_PER_FUNCTION',
    schema: int(64 * 1024, 1024 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
    doc: "Log bytes kept per function; past it the oldest executions' logs are deleted first (their records stay).",
  },
  logBytesTotal: {
    env: 'NIMBUS_LOG_BYTES_TOTAL',
    schema: int(64 * 1024, 1024 * 1024 * 1024 * 1024).default(4 * 1024 * 1024 * 1024),
    doc: "Log bytes kept over all functions; past it the oldest executions' logs are deleted first.",
  },
  diskBudgetMb: {
    env: 'NIMBUS_DISK_BUDGET_MB',
    schema: int(16, 100 * 1024 * 1024).default(20 * 1024),
    doc: 'Disk the data dir may take (unpacked packages, code archives, database and logs); a deploy or layer publish past it gets 507.',
  },
  recordTextBytes: {
    env: 'NIMBUS_RECORD_TEXT_BYTES',
    schema: int(0, 6 * 1024 * 1024).default(64 * 1024),
    doc: 'Bytes of input and of output kept in each execution record.',
  },
  retentionDays: {
    env: 'NIMBUS_RETENTION_DAYS',
    schema: z.coerce.number().min(0.001).max(3650).default(7),
    doc: 'Execution records and logs older than this are deleted.',
  },
  retentionPerFunction: {
    env: 'NIMBUS_RETENTION_PER_FUNCTION',
    schema: int(1, 10_000_000).default(10_000),
    doc: 'At most this many execution records are kept per function.',
  },
  flushIntervalMs: {
    env: 'NIMBUS_FLUSH_INTERVAL_MS',
    schema: int(1, 10_000).default(50),
    doc: 'How often batched execution records and logs are written.',
  },
  asyncQueueMax: {
    env: 'NIMBUS_ASYNC_QUEUE_MAX',
    schema: int(1, 10_000_000).default(10_000),
    doc: 'Asynchronous calls the durable queue holds at most (waiting or running); past it, async invokes get 429.',
  },
  asyncConcurrency: {
    env: 'NIMBUS_ASYNC_CONCURRENCY',
    schema: int(1, 10_000).default(16),
    doc: 'Asynchronous calls this server runs at once.',
  },
  asyncRetryBaseMs: {
    env: 'NIMBUS_ASYNC_RETRY_BASE_MS',
    schema: int(1, 600_000).default(1000),
    doc: 'Delay before the first retry of a failed async call; it doubles for each further retry (with jitter, capped at 5 minutes).',
  },
  asyncLeaseSec: {
    env: 'NIMBUS_ASYNC_LEASE_SEC',
    schema: int(2, 3600).default(30),
    doc: 'Lease on a running async call, renewed while it runs; a call whose server died runs again once its lease ends (or at the next start).',
  },
  maxInflightBodyMb: {
    env: 'NIMBUS_MAX_INFLIGHT_BODY_MB',
    schema: int(1, 1024 * 1024).default(256),
    doc: 'Request bodies over 1 MB being read at once, in MB, over every route (uploads, invokes, HTTP triggers, the Lambda API); past it such requests get 503 with Retry-After: 1 (one body alone is always admitted).',
  },
  region: {
    env: 'NIMBUS_REGION',
    schema: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, "must look like an AWS region, e.g. 'us-east-1' or 'eu-west-1'")
      .default('us-east-1'),
    doc: "Region in every ARN Nimbus shows and in functions' AWS_REGION; Lambda API requests must be signed for it.",
  },
  accountId: {
    env: 'NIMBUS_ACCOUNT_ID',
    schema: z
      .string()
      .regex(/^\d{12}$/, 'must be 12 digits, e.g. 123456789012')
      .default('000000000000'),
    doc: 'Account id in every ARN Nimbus shows (Lambda API, destination records, context.invokedFunctionArn).',
  },
  rieFunction: {
    env: 'NIMBUS_RIE_FUNCTION',
    schema: z.string().min(1).optional(),
    doc: 'Function served without a signature at POST /2015-03-31/functions/function/invocations, as the Lambda Runtime Interface Emulator serves its one function; unset, that route answers 404.',
  },
} as const;

type Settings = typeof SETTINGS;
export type Config = Readonly<{ [K in keyof Settings]: z.output<Settings[K]['schema']> }>;
export type ConfigInput = Partial<{ [K in keyof Settings]: unknown }>;

/** Thrown when settings are invalid; the message lists every bad setting at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Builds the configuration. `flags` are command-line values (undefined = not given), `env` is the
 * environment, `configFile` an optional JSON file of settings.
 */
export function loadConfig(
  flags: ConfigInput = {},
  env: NodeJS.ProcessEnv = process.env,
  configFile: string | undefined = env.NIMBUS_CONFIG,
): Config {
  let fileValues: Record<string, unknown> = {};
  const problems: string[] = [];
  if (configFile) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(configFile, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        problems.push(`config file ${configFile}: must hold a JSON object of settings`);
      } else {
        fileValues = parsed as Record<string, unknown>;
        for (const key of Object.keys(fileValues)) {
          if (!(key in SETTINGS)) problems.push(`config file ${configFile}: unknown setting '${key}'`);
        }
      }
    } catch (err) {
      problems.push(`config file ${configFile}: ${(err as Error).message}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS)) {
    const flag = (flags as Record<string, unknown>)[key];
    const envValue = env[setting.env];
    const raw =
      flag !== undefined ? flag : envValue !== undefined && envValue !== '' ? envValue : fileValues[key];
    const source = flag !== undefined ? `--${kebab(key)}` : envValue ? setting.env : `setting '${key}'`;
    const result = (setting.schema as z.ZodType).safeParse(raw);
    if (result.success) out[key] = result.data;
    else
      problems.push(
        `${source}: ${result.error.issues.map((i) => i.message).join('; ')} (got ${'secret' in setting ? 'a value not shown here' : JSON.stringify(raw)})`,
      );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  out.dataDir = resolve(out.dataDir as string);
  return Object.freeze(out) as Config;
}

/** The command-line flag of each setting, e.g. `--data-dir` for `dataDir`. */
export function settingFlags(): { key: string; flag: string; doc: string }[] {
  return Object.entries(SETTINGS)
    .filter(([, s]) => !('noFlag' in s))
    .map(([key, s]) => ({ key, flag: `--${kebab(key)}`, doc: s.doc }));
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The settings as a Markdown table, for README (generated so it cannot drift). */
export function settingsTable(): string {
  const rows = Object.entries(SETTINGS).map(([key, s]) => {
    const def = (s.schema as z.ZodType).safeParse(undefined);
    const fixed = 'shownDefault' in s ? s.shownDefault : undefined;
    const shown =
      fixed ?? (def.success && def.data !== undefined ? `\`${JSON.stringify(def.data)}\`` : '(none)');
    const flag = 'noFlag' in s ? '(none)' : `\`--${kebab(key)}\``;
    return `| ${flag} | \`${s.env}\` | ${shown} | ${s.doc} |`;
  });
  return ['| flag | environment | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
