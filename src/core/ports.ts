/**
 * The ports: the small interfaces that adapters implement and the engine uses. The core defines
 * them and imports nothing below; only the composition root (server.ts) picks the adapters.
 */
import type { AccessKeyRecord } from './access-key.js';
import type { Execution, ExecutionError, LogLine, Trigger } from './execution.js';
import type { FunctionNetwork, FunctionRecord, Runtime } from './function.js';
import type { LayerVersionRecord } from './layer.js';
import type { TriggerRecord, TriggerType } from './trigger.js';
import type { AliasRecord, VersionRecord } from './version.js';

/** Query filters for execution listings, newest first. */
export interface ExecutionQuery {
  functionName?: string | undefined;
  status?: string | undefined;
  limit: number;
  /** Only executions started before this ISO time (for paging). */
  before?: string | undefined;
}

/** Retention settings: records older than `maxAgeMs`, or beyond the newest `maxPerFunction`, are dropped. */
export interface RetentionPolicy {
  maxAgeMs: number;
  maxPerFunction: number;
  /**
   * Log bytes kept per function and in all (message characters plus 64 per line); past them the
   * logs of the oldest executions go first (their records stay). Absent or infinite: no limit.
   */
  maxLogBytesPerFunction?: number;
  maxLogBytesTotal?: number;
}

/**
 * Metadata and execution records. Implementations: SQLite (embedded default) and PostgreSQL (`--database-url`).
 * The contract is test/contracts/store-contract.ts.
 * Every method is safe to call concurrently; writes are durable when the promise resolves.
 */
export interface Store {
  /** Creates the schema if needed. Called once by the composition root before anything else. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /** Inserts a new function; throws FUNCTION_EXISTS if the name is taken. */
  createFunction(fn: FunctionRecord): Promise<void>;
  /** Replaces a function's stored record (matched by name); throws FUNCTION_NOT_FOUND if absent. */
  updateFunction(fn: FunctionRecord): Promise<void>;
  getFunction(name: string): Promise<FunctionRecord | undefined>;
  listFunctions(): Promise<FunctionRecord[]>;
  /**
   * Removes a function with its versions and aliases (and its version counter, so a new function
   * of that name starts at version 1); its executions and logs stay readable. Returns false if it
   * did not exist.
   */
  deleteFunction(name: string): Promise<boolean>;

  /**
   * Stores a new version of a function under the next number (one more than any number the
   * function ever had, even if that version was deleted) and returns it with its number.
   * `version.version` is ignored. Throws FUNCTION_NOT_FOUND if the function does not exist.
   */
  publishVersion(version: VersionRecord): Promise<VersionRecord>;
  getVersion(functionName: string, version: string): Promise<VersionRecord | undefined>;
  /** A function's versions, oldest (lowest number) first. */
  listVersions(functionName: string): Promise<VersionRecord[]>;
  /**
   * Removes a version unless an alias points at it or routes to it: then it throws VERSION_IN_USE
   * naming the alias, and removes nothing (the check and the delete are one transaction).
   * Returns false if the version did not exist.
   */
  deleteVersion(functionName: string, version: string): Promise<boolean>;

  /**
   * Inserts an alias. Throws ALIAS_EXISTS if the function has one of that name, and
   * VERSION_NOT_FOUND if a numbered version it names does not exist (checked in the same
   * transaction, so a concurrent delete of the version cannot slip in between).
   */
  createAlias(alias: AliasRecord): Promise<void>;
  /** Replaces an alias (matched by function and name), with the same checks; false if it does not exist. */
  updateAlias(alias: AliasRecord): Promise<boolean>;
  getAlias(functionName: string, name: string): Promise<AliasRecord | undefined>;
  /** A function's aliases by name. */
  listAliases(functionName: string): Promise<AliasRecord[]>;
  /** Returns false if it did not exist. */
  deleteAlias(functionName: string, name: string): Promise<boolean>;

  /** Inserts a new trigger (its id is new). */
  createTrigger(trigger: TriggerRecord): Promise<void>;
  /** Replaces a trigger's stored record (matched by id); returns false if it does not exist. */
  updateTrigger(trigger: TriggerRecord): Promise<boolean>;
  getTrigger(id: string): Promise<TriggerRecord | undefined>;
  /** Triggers, oldest first; of one function and/or one type when given. */
  listTriggers(filter?: { functionName?: string; type?: TriggerType }): Promise<TriggerRecord[]>;
  /** Returns false if it did not exist. */
  deleteTrigger(id: string): Promise<boolean>;
  /** Removes every trigger of a function (when the function is deleted); returns how many. */
  deleteTriggersOf(functionName: string): Promise<number>;
  /**
   * Records that a timer trigger fired the tick at `tick` (ISO time), only if no tick at or after
   * it was recorded: true for exactly one caller per tick, across restarts and servers.
   */
  claimTimerTick(id: string, tick: string): Promise<boolean>;

  /** Inserts or replaces execution records and appends log lines, all in one transaction. */
  writeBatch(executions: Execution[], logs: LogLine[]): Promise<void>;
  getExecution(id: string): Promise<Execution | undefined>;
  listExecutions(query: ExecutionQuery): Promise<Execution[]>;
  /** Log lines of one execution in order, starting after `afterSeq` (exclusive) when given. */
  getLogs(executionId: string, afterSeq?: number): Promise<LogLine[]>;
  /** The newest `limit` log lines of a function, oldest first. */
  getFunctionLogs(functionName: string, limit: number): Promise<LogLine[]>;
  /**
   * Marks synchronous executions still `running` (left by a crash) as failed platform errors; async
   * ones are left alone, since their queued call is run again. Returns how many.
   */
  failOrphanedExecutions(reason: string): Promise<number>;
  /** Applies the retention policy; returns the number of executions removed. */
  pruneExecutions(policy: RetentionPolicy, now: Date): Promise<number>;
}

/**
 * Reads execution records and their logs with read-your-writes: a read sees every record and log
 * line whose write was accepted before the read began (by this server's recorder, or in a cluster
 * by the worker that owns the record), with no flush by the caller. The API reads executions only
 * through it. Implementation: engine/executions/execution-reader.ts over the Store and the recorder.
 */
export interface ExecutionReader {
  get(id: string): Promise<Execution | undefined>;
  list(query: ExecutionQuery): Promise<Execution[]>;
  /** Stored log lines of one execution in order (START, END and REPORT are rendered by the reader's callers). */
  logs(executionId: string): Promise<LogLine[]>;
  /** The newest `limit` stored log lines of a function, oldest first. */
  functionLogs(functionName: string, limit: number): Promise<LogLine[]>;
  /**
   * Calls `listener` with every new log line of the function (of all functions when undefined)
   * as it is printed, rendered as readers see it; returns the function that stops following.
   */
  follow(functionName: string | undefined, listener: (line: LogLine) => void): () => void;
}

/** One asynchronous call waiting in (or being run from) the queue. Its id is its execution's id. */
export interface QueuedCall {
  id: string;
  functionName: string;
  /** The event, as JSON text. */
  payload: string;
  trigger: Trigger;
  /** ISO time the call was accepted; its event age counts from here. */
  enqueuedAt: string;
  /** Attempts started so far: 0 while waiting for the first; each claim adds one. */
  attempts: number;
  /** ISO time before which the call is not claimed (backoff between attempts). */
  runAfter: string;
  /** The last attempt's failure, if any. */
  lastError: ExecutionError | null;
  /** What the caller asked to run (a version number or an alias); absent for `$LATEST`. */
  qualifier?: string | undefined;
  /** The caller's `X-Amzn-Trace-Id`, for the function's `_X_AMZN_TRACE_ID` on every attempt. */
  trace?: string | undefined;
}

/** Why a call ended in the dead-letter list (Lambda's condition names). */
export type DeadLetterCondition = 'RetriesExhausted' | 'EventAgeExceeded';

/** An asynchronous call that finally failed. Its id is the failed execution's id. */
export interface DeadLetter {
  id: string;
  functionName: string;
  payload: string;
  trigger: Trigger;
  condition: DeadLetterCondition;
  error: ExecutionError | null;
  attempts: number;
  enqueuedAt: string;
  failedAt: string;
  /** Set when the dead letter was replayed: when, and the new execution's id. */
  replayedAt: string | null;
  replayExecutionId: string | null;
  /** The call's qualifier, so a replay runs what the call asked for; absent for `$LATEST`. */
  qualifier?: string | undefined;
}

export interface DeadLetterQuery {
  functionName?: string | undefined;
  limit: number;
  /** Only dead letters that failed before this ISO time (for paging). */
  before?: string | undefined;
}

/**
 * The durable queue of asynchronous calls and their dead letters. Implementations: SQL over kysely
 * (embedded default), later NATS JetStream. Delivery is at least once: a call is claimed with a
 * lease, and a call whose lease ran out (its server died) is claimed again. Claimers own a call
 * only while their lease lasts; `complete`, `reschedule` and `deadLetter` are the only ways a call
 * leaves the claimed state, and callers must make every other effect durable before them.
 * The contract is test/contracts/async-queue-contract.ts.
 */
export interface AsyncQueue {
  /**
   * Adds a call unless the queue already holds `maxDepth` calls, in which case it throws
   * TOO_MANY_REQUESTS and stores nothing. Durable when the promise resolves.
   */
  enqueue(call: QueuedCall, maxDepth: number): Promise<void>;
  /**
   * Claims up to `limit` calls that are due (`runAfter` <= now) and not leased (or whose lease ran
   * out), oldest due first, leasing them to `owner` until now + `leaseMs` and counting one more
   * attempt. A call is never held by two owners with live leases.
   */
  claim(owner: string, limit: number, now: Date, leaseMs: number): Promise<QueuedCall[]>;
  /** Extends the leases `owner` still holds on `ids` to `until` (a heartbeat while calls run). */
  renewLeases(owner: string, ids: string[], until: Date): Promise<void>;
  /** Drops every lease, so the calls are claimable at once (start-up of the only server of a queue). */
  releaseAllLeases(): Promise<number>;
  /** Removes a finished call. */
  complete(id: string): Promise<void>;
  /** Puts a claimed call back, due again at `runAfter`, with its attempts (started so far) and last error. */
  reschedule(id: string, attempts: number, runAfter: Date, lastError: ExecutionError | null): Promise<void>;
  /** Moves a call to the dead-letter list, in one step (never in both, never in neither). */
  deadLetter(letter: DeadLetter): Promise<void>;
  /** Calls waiting or running. */
  count(): Promise<number>;
  get(id: string): Promise<QueuedCall | undefined>;
  /** Dead letters, newest failure first. */
  listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]>;
  getDeadLetter(id: string): Promise<DeadLetter | undefined>;
  /** Records that a dead letter was replayed as `executionId`; false if it does not exist. */
  markReplayed(id: string, executionId: string, at: Date): Promise<boolean>;
  /** Removes a dead letter; false if it did not exist. */
  deleteDeadLetter(id: string): Promise<boolean>;
}

/**
 * Content-addressed storage of code packages (zip archives), keyed by their SHA-256 as 64
 * lower-case hex characters; every method refuses any other key ("invalid code hash"), so a key
 * can never name something outside the store. Implementations: local file system (embedded
 * default), later S3-compatible. The contract is test/contracts/code-store-contract.ts.
 */
export interface CodeStore {
  /**
   * Stores the archive if no archive with this hash exists; cheap when it does. Refuses bytes that
   * do not hash to `sha256` ("hashes to …"), storing nothing.
   */
  put(sha256: string, zip: Buffer): Promise<void>;
  get(sha256: string): Promise<Buffer | undefined>;
  has(sha256: string): Promise<boolean>;
  /** Hashes of every stored archive (for collecting the ones nothing refers to any more). */
  list(): Promise<string[]>;
  /** Removes an archive; a missing one is not an error. Only the code collector calls it. */
  remove(sha256: string): Promise<void>;
}

/**
 * Turns code archives into trees on the host: unpacking (with the package checks), building
 * TypeScript handlers, merging layers. Implemented in `packaging/`; the engine's CodeCache decides
 * what is prepared when and where, this decides how.
 */
export interface PackageBuilder {
  /**
   * Unpacks a zip archive into `dir` (which must not exist yet); refuses archives that break the
   * package rules (size, file count, paths) with a NimbusError, leaving nothing behind.
   */
  unpack(zip: Buffer, dir: string): Promise<void>;
  /**
   * Builds a Node handler's module if it is TypeScript, into the tree at `dir`. Returns the entry to
   * load instead (relative to `dir`), or undefined when the module runs as it is.
   */
  buildHandler(dir: string, handler: string): Promise<string | undefined>;
  /**
   * Merges trees into the empty directory `dest` in order, as Lambda extracts layers into /opt: a
   * later tree's entry replaces an earlier one's of the same path, and directories merge.
   */
  mergeTrees(sources: string[], dest: string): Promise<void>;
  /** Bytes of the regular files under `dir`. */
  treeBytes(dir: string): number;
}

/**
 * Prepared code a sandbox can be given: a name for its content and a place the driver reads it
 * from. The engine never says how it gets into the sandbox (links into a slot, a bind mount, a
 * layer of an image): that is the driver's choice.
 */
export interface CodeRef {
  /**
   * Names the content: two refs with the same id hold the same files, and a changed tree gets a new
   * id, so a driver may remember what it learnt of a tree (its listing) under its id.
   */
  id: string;
  /** Host directory holding the tree; drivers only read it. */
  path: string;
}

/** What a function's instance runs: its code (seen at `/code`) and its merged layers (at `/opt`). */
export interface FunctionCode {
  code: CodeRef;
  /** The function's layers merged in order; absent when it has none (`/opt` stays empty). */
  layers?: CodeRef | undefined;
}

/** Resource limits of one sandbox besides its memory. */
export interface SandboxLimits {
  /** Maximum number of processes (and threads) inside the sandbox. */
  maxProcesses: number;
  /** Size cap of the private writable /tmp. */
  tmpSizeMb: number;
}

/**
 * What the engine asks a driver for: a generic runtime process of one runtime and memory size,
 * ready to be given a function's code (`SandboxProcess.loadCode`). Which interpreter, file system
 * and mounts make that runtime is the driver's business.
 */
export interface SandboxRequest {
  /** Unique instance id, used for cgroup and directory names. */
  instanceId: string;
  runtime: Runtime;
  memoryMb: number;
  limits: SandboxLimits;
  /** Start with the smallest CPU share: a pre-warmed sandbox must not slow down live calls. */
  background: boolean;
}

/** How a sandboxed process ended. */
export interface SandboxExit {
  code: number | null;
  signal: string | null;
  /** True when the memory limit was hit and the kernel killed the process for it. */
  outOfMemory: boolean;
}

/**
 * A running sandboxed process. fd 3 of the process is a bidirectional channel to the host
 * (`channel`); stdout and stderr are captured separately.
 */
export interface SandboxProcess {
  readonly pid: number;
  readonly channel: import('node:stream').Duplex;
  readonly stdout: import('node:stream').Readable;
  readonly stderr: import('node:stream').Readable;
  /** Resolves once, when the process and everything it started are gone. */
  readonly exited: Promise<SandboxExit>;
  /** Gives the sandbox its full CPU share (after it was started in the background). */
  setForeground(): void;
  /**
   * Caps the sandbox's CPU time at a quota proportional to its memory (as Lambda does) for each of
   * the `concurrentCalls` calls it may serve at once, however many processes it runs. The instance
   * calls it once its function has loaded: starting the runtime and loading the function run at
   * full speed (bounded by the init timeout).
   */
  limitCpu(concurrentCalls: number): void;
  /**
   * Stops every process of the sandbox, so an idle instance (and anything it left running) uses
   * no CPU until `resume`. Called by the instance between calls; cheap (one write, it does not
   * wait for the processes to stop); a no-op when the driver cannot pause. A paused sandbox can
   * still be killed, and its exit is reported as usual.
   */
  pause(): void;
  /** Lets a paused sandbox run again; called before anything is sent to it. Cheap; a no-op when not paused. */
  resume(): void;
  /**
   * Applies the network access of the function the sandbox was assigned to (the instance pool
   * calls it before init, so nothing of the function runs before it resolves; what the sandbox
   * had before is the driver's choice). Resolves once it is enforced.
   */
  connectNetwork(network: FunctionNetwork): Promise<void>;
  /**
   * The most memory the sandbox has used so far, in bytes (its cgroup's peak); undefined when the
   * driver cannot tell (no cgroups). Cheap enough to ask after every call.
   */
  peakMemoryBytes(): number | undefined;
  /**
   * Gives the sandbox the code of the function it is being specialised for; the runtime finds it
   * at `/code` and `/opt` (or where the driver's environment says). Called once, before init.
   */
  loadCode(code: FunctionCode): Promise<void>;
  /** Kills every process of the sandbox and releases its resources. Idempotent. */
  kill(): Promise<void>;
}

/** What isolation a driver enforces, for `nimbus doctor` and the start-up warning. */
export interface IsolationReport {
  driver: string;
  namespaces: boolean;
  readOnlyCode: boolean;
  unprivilegedUser: boolean;
  memoryLimit: 'cgroup-v2' | 'cgroup-v1' | 'rlimit' | 'none';
  processLimit: 'cgroup-v2' | 'cgroup-v1' | 'none';
  cpuShares: 'cgroup-v2' | 'cgroup-v1' | 'none';
  /** System calls the sandbox's seccomp filter denies, in words; empty when there is no filter. */
  seccomp: string[];
  /** Whether a function can create a user namespace of its own (and be root with capabilities in it). */
  nestedUserNamespaces: 'denied' | 'allowed';
  /** The range each running instance gets a user id of its own from, or 'none' when all share one user. */
  uidSeparation: { first: number; last: number } | 'none';
  /** Per-instance CPU quota: 1769 MB = 1 vCPU (at least 1/8) per concurrent call slot. */
  cpuQuota: 'cgroup-v2' | 'cgroup-v1' | 'none';
  /** Idle instances (and pre-warmed sandboxes) are frozen between calls. */
  freezer: 'cgroup-v2' | 'cgroup-v1' | 'none';
  /**
   * Where instances' cgroups are made: `nested` inside the server's own cgroup (so its slice's
   * limits cover them), at the hierarchy `root`, or `none` without cgroups; `parents` per hierarchy.
   */
  cgroupNesting: { placement: 'nested' | 'root' | 'none'; parents: string[] };
  network: NetworkIsolationReport;
  warnings: string[];
}

/** How sandboxes are kept apart on the network. */
export interface NetworkIsolationReport {
  /** Each sandbox has a network namespace of its own (no host loopback, ports or abstract sockets). */
  ownNamespace: boolean;
  /**
   * Egress of functions whose network is `internet`: `filtered` (denied ranges dropped), `none`
   * (loopback only, whatever the function asks), `host` (the host's network, unfiltered).
   */
  egress: 'filtered' | 'none' | 'host';
  /** Destinations dropped. */
  deniedRanges: string[];
  /** Destinations let through although denied by default (operator allow-list, DNS resolvers). */
  allowed: string[];
  /** Why isolation or egress is weaker than it could be, if it is. */
  warning?: string;
}

/**
 * Starts sandboxed runtime processes. Implementations: bubblewrap with cgroups, plain process
 * fallback (both run the host's interpreters, `sandbox/host-runtimes.ts`); later runc.
 */
export interface SandboxDriver {
  readonly name: string;
  /** Starts a generic runtime process; resolves once it runs (its `ready` frame comes later). */
  start(request: SandboxRequest): Promise<SandboxProcess>;
  /**
   * The Lambda-style name of what runs functions of `runtime` under this driver: `python3.11`,
   * `nodejs20.x` (`python3` when the interpreter names no minor version).
   */
  runtimeVersion(runtime: Runtime): string;
  isolation(): IsolationReport;
  /** Releases what the driver holds (helper processes); sandboxes already started are not affected. */
  close(): Promise<void>;
}

/**
 * Stored access keys of the Lambda-compatible API. Implemented beside the Store (same database);
 * the engine's AccessKeyService is its only caller.
 */
export interface AccessKeyStore {
  create(key: AccessKeyRecord): Promise<void>;
  get(id: string): Promise<AccessKeyRecord | undefined>;
  /** Oldest first; records carry their secrets, which callers must not show. */
  list(): Promise<AccessKeyRecord[]>;
  /** Whether the key existed. */
  delete(id: string): Promise<boolean>;
}

/**
 * Published layer versions. Implemented beside the Store (same database); the engine's
 * LayerService is its only caller.
 */
export interface LayerStore {
  /**
   * Stores a new version of a layer under the next number (one more than any number the layer
   * ever had, even if that version was deleted, or 1) and returns it with its number.
   * `version.version` is ignored.
   */
  publish(version: LayerVersionRecord): Promise<LayerVersionRecord>;
  get(layerName: string, version: number): Promise<LayerVersionRecord | undefined>;
  /** A layer's versions, newest (highest number) first; empty for an unknown layer. */
  listVersions(layerName: string): Promise<LayerVersionRecord[]>;
  /** The newest version of every layer that has one, by layer name. */
  listLatest(): Promise<LayerVersionRecord[]>;
  /** Whether the version existed. Its number is never given again. */
  delete(layerName: string, version: number): Promise<boolean>;
}
