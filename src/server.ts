/**
 * The composition root: the only module that knows every adapter. It reads the frozen config,
 * prepares the data dir, builds the store, code store and sandbox driver, hands them to the
 * engine and the API, and owns start-up and shutdown.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { createSecureContext } from 'node:tls';
import { buildApi, type TlsFiles } from './api/app.js';
import { LocalCodeStore } from './blobs/local-code-store.js';
import type { Config } from './config.js';
import type { ArnScope } from './core/arn.js';
import { LIMITS } from './core/function.js';
import { AccessKeyService } from './engine/access-keys/access-key-service.js';
import { AsyncDispatcher } from './engine/async/async-dispatcher.js';
import { CodeCache } from './engine/code/code-cache.js';
import { CodeCollector } from './engine/code/code-collector.js';
import { dataDirBudget } from './engine/code/disk-budget.js';
import { LayerService } from './engine/functions/layer-service.js';
import { ExecutionRecorder } from './engine/executions/execution-recorder.js';
import { RecordedExecutionReader } from './engine/executions/execution-reader.js';
import { FunctionService } from './engine/functions/function-service.js';
import { InstancePool } from './engine/invocation/instance-pool.js';
import { linkProvidedPythonPackages, providedPackagesWarning } from './sandbox/python-packages.js';
import { Invoker } from './engine/invocation/invoker.js';
import { TimerScheduler } from './engine/triggers/timer-scheduler.js';
import { TriggerService } from './engine/triggers/trigger-service.js';
import { VersionService } from './engine/functions/version-service.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { HostPackageBuilder } from './packaging/package-builder.js';
import { createSandboxDriver } from './sandbox/doctor.js';
import { hostRuntimeDirs } from './sandbox/host-runtimes.js';
import { PostgresStore, redactDatabaseUrl } from './store/postgres-store.js';
import { SqliteStore } from './store/sqlite-store.js';

export interface RunningServer {
  url: string;
  adminKey: string;
  adminKeyGenerated: boolean;
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(here, '../../package.json'), 'utf8')) as { version: string })
  .version;

/** Uses the configured admin key, or the one saved in the data dir, or makes and saves a new one. */
function resolveAdminKey(config: Config): { key: string; generated: boolean } {
  if (config.adminKey) return { key: config.adminKey, generated: false };
  const file = join(config.dataDir, 'admin.key');
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), generated: false };
  const key = `nimbus_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return { key, generated: true };
}

/**
 * Copies the runtime bootstraps into the data dir, so sandboxes mount a directory that holds
 * nothing else, whatever the permissions of the place Nimbus is installed in.
 */
function installRuntimes(dataDir: string): string {
  const target = hostRuntimeDirs(dataDir).runtimeDir;
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true, mode: 0o755 });
  const source = join(here, 'runtimes');
  cpSync(source, target, {
    recursive: true,
    filter: (p) => !p.endsWith('.map') && !p.includes('__pycache__'),
  });
  writeFileSync(join(target, 'package.json'), '{"type":"module"}\n', { mode: 0o644 });
  return target;
}

/** Links the packages the Python runtime provides (boto3…) beside its bootstrap; warns once if the host lacks them. */
function installPythonPackages(runtimeDir: string, logger: pino.Logger): void {
  const warning = providedPackagesWarning(linkProvidedPythonPackages(join(runtimeDir, 'python-packages')));
  if (warning) logger.warn(warning);
}

/** What only an embedding (a test) chooses; the operator's settings are all in `Config`. */
interface ServerOptions {
  /** Where the server's log lines go instead of stdout (tests read them). */
  logStream?: pino.DestinationStream;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  // 0711: sandbox users may pass through to what is handed to them, but list and read nothing.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o711 });
  chmodSync(config.dataDir, 0o711);
  // Before anything else touches the data dir: a second server must not clean up the first's slots.
  const lock = lockDataDir(config.dataDir);
  try {
    return await startLockedServer(config, options, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** The certificate and key of --tls-cert/--tls-key, checked to belong together; undefined without TLS. */
function readTlsFiles(config: Config): TlsFiles | undefined {
  if (config.tlsCert === undefined && config.tlsKey === undefined) return undefined;
  if (config.tlsCert === undefined || config.tlsKey === undefined)
    throw new Error(
      '--tls-cert and --tls-key (NIMBUS_TLS_CERT, NIMBUS_TLS_KEY) go together: give both, or neither',
    );
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read ${flag} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  const files = { cert: read('--tls-cert', config.tlsCert), key: read('--tls-key', config.tlsKey) };
  try {
    createSecureContext(files);
  } catch (err) {
    throw new Error(
      `--tls-cert ${config.tlsCert} and --tls-key ${config.tlsKey} are not a PEM certificate and its key: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return files;
}

async function startLockedServer(
  config: Config,
  options: ServerOptions,
  lock: DataDirLock,
): Promise<RunningServer> {
  const loggerOptions = { level: config.logLevel, redact: ['req.headers.authorization', '*.env', 'env'] };
  const logger = options.logStream ? pino(loggerOptions, options.logStream) : pino(loggerOptions);
  const tls = readTlsFiles(config);
  const admin = resolveAdminKey(config);

  // PostgreSQL when --database-url is given, else the SQLite file in the data dir.
  const store =
    config.databaseUrl === undefined
      ? SqliteStore.open(join(config.dataDir, 'nimbus.db'))
      : await PostgresStore.open(config.databaseUrl);
  await store.migrate();
  const orphaned = await store.failOrphanedExecutions('the server stopped while this execution was running');
  if (orphaned > 0)
    logger.warn({ orphaned }, 'marked executions left running by a previous server as failed');

  const driver = createSandboxDriver(config);
  const isolation = driver.isolation();
  for (const warning of isolation.warnings) logger.warn(warning);

  const codeStore = new LocalCodeStore(join(config.dataDir, 'code'));
  const codeCache = new CodeCache(codeStore, new HostPackageBuilder(), join(config.dataDir, 'packages'));
  const runtimeDir = installRuntimes(config.dataDir);
  installPythonPackages(runtimeDir, logger);
  // Slots of a previous run's instances.
  rmSync(hostRuntimeDirs(config.dataDir).slotsDir, { recursive: true, force: true });
  const arnScope: ArnScope = { region: config.region, accountId: config.accountId };
  const pool = new InstancePool(driver, {
    arnScope,
    idleTimeoutMs: config.idleTimeoutSec * 1000,
    maxProcesses: config.maxProcesses,
    tmpSizeMb: config.tmpSizeMb,
    queueTimeoutMs: config.queueTimeoutMs,
    memoryBudgetMb: config.memoryBudgetMb,
    prewarmPerRuntime: config.prewarmPerRuntime,
    prewarmMax: config.prewarmMax,
  });
  const recorder = new ExecutionRecorder(store, config, logger);
  const executions = new RecordedExecutionReader(store, recorder);
  const diskBudget = dataDirBudget(config.dataDir, config.diskBudgetMb);
  const codeCollector = new CodeCollector(store, store.layers(), codeStore, codeCache, logger);
  const collectCode = () => void codeCollector.collect();
  const layers = new LayerService(store.layers(), codeStore, codeCache, arnScope, diskBudget, collectCode);
  const functions = new FunctionService(store, codeStore, codeCache, pool, layers, collectCode, diskBudget);
  const versions = new VersionService(store, functions, pool);
  const invoker = new Invoker(functions, codeCache, pool, recorder, versions, arnScope, logger);
  const asyncQueue = store.asyncQueue();
  const dispatcher = new AsyncDispatcher(asyncQueue, executions, versions, invoker, recorder, logger, {
    queueMax: config.asyncQueueMax,
    concurrency: config.asyncConcurrency,
    retryBaseMs: config.asyncRetryBaseMs,
    leaseMs: config.asyncLeaseSec * 1000,
    maxResultBytes: LIMITS.syncPayloadBytes,
    arnScope,
  });
  const triggers = new TriggerService(
    store,
    (name) => store.getFunction(name),
    (name, qualifier) => versions.resolve(name, qualifier),
  );
  const timers = new TimerScheduler(store, asyncQueue, executions, dispatcher, triggers, logger);

  const retention = {
    maxAgeMs: config.retentionDays * 86_400_000,
    maxPerFunction: config.retentionPerFunction,
    maxLogBytesPerFunction: config.logBytesPerFunction,
    maxLogBytesTotal: config.logBytesTotal,
  };
  let pruning = false;
  let loggedAtLastPrune = 0;
  const prune = async () => {
    if (pruning) return;
    pruning = true;
    try {
      loggedAtLastPrune = recorder.loggedBytes;
      await recorder.flush();
      const removed = await store.pruneExecutions(retention, new Date());
      if (removed > 0) logger.info({ removed }, 'pruned old execution records');
    } catch (err) {
      logger.error({ err }, 'pruning execution records failed');
    } finally {
      pruning = false;
    }
  };
  await prune();
  // Packages and archives left by deletes and updates (also those of an earlier run).
  await codeCollector.collect();
  const pruneTimer = setInterval(() => void prune(), 10 * 60_000).unref();
  // Between the regular runs, logs are pruned once a quarter of the smaller log bound was written
  // (and 30 s after anything was), so a function printing a lot cannot fill the disk meanwhile.
  const logPruneStep = Math.min(config.logBytesPerFunction, config.logBytesTotal) / 4;
  let lastLogPruneAt = Date.now();
  const logPruneTimer = setInterval(() => {
    const written = recorder.loggedBytes - loggedAtLastPrune;
    if (written >= logPruneStep || (written > 0 && Date.now() - lastLogPruneAt >= 30_000)) {
      lastLogPruneAt = Date.now();
      void prune();
    }
  }, 1000).unref();

  const app = buildApi(
    {
      functions,
      versions,
      layers,
      invoker,
      triggers,
      executions,
      dispatcher,
      adminKey: admin.key,
      isolation,
      poolStats: () => pool.stats(),
      dataDirUsage: () => diskBudget.usage(),
      version: VERSION,
      accessKeys: new AccessKeyService(store.accessKeys()),
      rieFunction: config.rieFunction,
      maxInflightBodyBytes: config.maxInflightBodyMb * 1024 * 1024,
      arnScope,
      runtimeVersion: (runtime) => driver.runtimeVersion(runtime),
    },
    options.logStream
      ? { loggerInstance: logger }
      : { logger: config.logLevel === 'silent' ? false : { level: config.logLevel } },
    tls,
  );
  const address = await app.listen({ host: config.host, port: config.port });
  pool.warmUp();
  await functions.provisionAll();
  await dispatcher.start();
  await timers.start();
  const database = config.databaseUrl === undefined ? 'sqlite' : redactDatabaseUrl(config.databaseUrl);
  logger.info(
    { address, sandbox: isolation.driver, dataDir: config.dataDir, database },
    'Nimbus is listening',
  );

  // fastify does not know the server it was handed speaks TLS.
  const url = address.replace('[::1]', 'localhost').replace(/^http:/, tls ? 'https:' : 'http:');
  lock.recordUrl(url);

  let closing: Promise<void> | undefined;
  return {
    url,
    adminKey: admin.key,
    adminKeyGenerated: admin.generated,
    close: () =>
      (closing ??= (async () => {
        clearInterval(pruneTimer);
        clearInterval(logPruneTimer);
        await timers.stop();
        // No new async calls start; running ones finish within the invoker's drain, or keep their
        // lease and run again on the next start.
        dispatcher.stopClaiming();
        await app.close();
        await dispatcher.close();
        await pool.close();
        await driver.close();
        await recorder.close();
        await store.close();
        lock.release();
      })()),
  };
}
