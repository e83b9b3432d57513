/**
 * Manages triggers: validates and completes their settings (defaults, schedule and time zone,
 * style against the function's runtime), stores them, makes the secret of a `key` HTTP trigger,
 * and tells subscribers (the timer scheduler, the HTTP trigger router) about every change.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { NimbusError, functionNotFound, triggerNotFound, validationFailed } from '../../core/errors.js';
import type { FunctionRecord } from '../../core/function.js';
import type { Store } from '../../core/ports.js';
import {
  HTTP_METHODS,
  TIMER_LIMITS,
  refusedTriggerHost,
  type CorsSettings,
  type HttpAuth,
  type HttpMethod,
  type HttpStyle,
  type HttpTriggerConfig,
  type MissedTickPolicy,
  type TimerTriggerConfig,
  type TriggerConfig,
  type TriggerRecord,
  type TriggerType,
} from '../../core/trigger.js';
import { LATEST } from '../../core/version.js';
import { nextFirings, parseSchedule } from './schedule.js';

/** Settings of an HTTP trigger as a caller gives them; omitted ones get defaults. */
interface HttpTriggerInput {
  type: 'http';
  auth?: HttpAuth | undefined;
  style?: HttpStyle | undefined;
  methods?: HttpMethod[] | undefined;
  host?: string | null | undefined;
  cors?: Partial<CorsSettings> | null | undefined;
  enabled?: boolean | undefined;
  /** A version number or alias to call instead of `$LATEST`; null goes back to `$LATEST`. */
  qualifier?: string | null | undefined;
}

interface TimerTriggerInput {
  type: 'timer';
  schedule?: string | undefined;
  timezone?: string | undefined;
  payload?: unknown;
  missedTicks?: MissedTickPolicy | undefined;
  enabled?: boolean | undefined;
  /** A version number or alias to call instead of `$LATEST`; null goes back to `$LATEST`. */
  qualifier?: string | null | undefined;
}

type TriggerInput = HttpTriggerInput | TimerTriggerInput;

export type TriggerChange =
  { kind: 'created' | 'updated'; trigger: TriggerRecord } | { kind: 'deleted'; trigger: TriggerRecord };

const HOST_PATTERN =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const DEFAULT_CORS: CorsSettings = {
  allowOrigins: ['*'],
  allowMethods: [],
  allowHeaders: [],
  exposeHeaders: [],
  maxAgeSec: 0,
  allowCredentials: false,
};

export class TriggerService {
  private readonly listeners = new Set<(change: TriggerChange) => void>();

  constructor(
    private readonly store: Store,
    /** The function, or undefined when it does not exist. */
    private readonly getFunction: (name: string) => Promise<FunctionRecord | undefined>,
    /** The function as a version or alias names it; throws when there is no such version or alias. */
    private readonly resolveQualifier: (name: string, qualifier: string) => Promise<FunctionRecord>,
  ) {}

  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe(listener: (change: TriggerChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async create(functionName: string, input: TriggerInput): Promise<TriggerRecord> {
    const fn = await this.getFunction(functionName);
    if (!fn) throw functionNotFound(functionName);
    const now = new Date().toISOString();
    const qualifier = qualifierOf(input.qualifier, undefined);
    const config =
      input.type === 'http'
        ? completeHttp(input, undefined, qualifier)
        : completeTimer(input, undefined, qualifier);
    if (config.type === 'http') await this.assertHttpFree(fn, config, undefined);
    const trigger: TriggerRecord = {
      id: `trg-${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').toLowerCase()}`,
      functionName,
      enabled: input.enabled ?? true,
      config,
      secret: config.type === 'http' && config.auth === 'key' ? newSecret() : null,
      // Ticks before a timer existed are not missed ticks.
      lastTick: config.type === 'timer' ? now : null,
      createdAt: now,
      updatedAt: now,
    };
    checkStyle(await this.target(fn, qualifier), trigger);
    await this.store.createTrigger(trigger);
    this.emit({ kind: 'created', trigger });
    return trigger;
  }

  async get(id: string): Promise<TriggerRecord> {
    const trigger = await this.store.getTrigger(id);
    if (!trigger) throw triggerNotFound(id);
    return trigger;
  }

  /** Triggers of one function (which must exist), or of all functions. */
  async list(functionName?: string, type?: TriggerType): Promise<TriggerRecord[]> {
    if (functionName !== undefined && !(await this.getFunction(functionName))) {
      throw functionNotFound(functionName);
    }
    return this.store.listTriggers({
      ...(functionName !== undefined ? { functionName } : {}),
      ...(type !== undefined ? { type } : {}),
    });
  }

  /** Changes settings; the type cannot change. */
  async update(id: string, patch: TriggerInput): Promise<TriggerRecord> {
    const current = await this.get(id);
    if (patch.type !== current.config.type) {
      throw validationFailed(
        `trigger ${id} is a ${current.config.type} trigger; its type cannot change (delete it and create a new one)`,
        { field: 'type' },
      );
    }
    const now = new Date().toISOString();
    const next: TriggerRecord = { ...current, updatedAt: now, enabled: patch.enabled ?? current.enabled };
    const qualifier = qualifierOf(patch.qualifier, current.config);
    // A newly named version or alias must exist (resolved once, and reused for the style check).
    const newTarget =
      qualifier !== null && qualifier !== (current.config.qualifier ?? null)
        ? await this.resolveQualifier(current.functionName, qualifier)
        : undefined;
    if (patch.type === 'http' && current.config.type === 'http') {
      next.config = completeHttp(patch, current.config, qualifier);
      if (next.config.type === 'http' && next.config.auth === 'key') next.secret ??= newSecret();
      const fn = await this.getFunction(current.functionName);
      if (fn) {
        await this.assertHttpFree(fn, next.config as HttpTriggerConfig, id);
        checkStyle(newTarget ?? (await this.target(fn, qualifier)), next);
      }
    } else if (patch.type === 'timer' && current.config.type === 'timer') {
      next.config = completeTimer(patch, current.config, qualifier);
      const rescheduled =
        next.config.schedule !== current.config.schedule || next.config.timezone !== current.config.timezone;
      // A new schedule, or a timer switched back on, starts from now: what passed meanwhile was not missed.
      if (rescheduled || (next.enabled && !current.enabled)) next.lastTick = now;
    }
    if (!(await this.store.updateTrigger(next))) throw triggerNotFound(id);
    this.emit({ kind: 'updated', trigger: next });
    return next;
  }

  /** Makes a new secret for a `key` HTTP trigger; the old one stops working at once. */
  async rotateSecret(id: string): Promise<TriggerRecord> {
    const current = await this.get(id);
    if (current.config.type !== 'http' || current.config.auth !== 'key') {
      throw validationFailed(`trigger ${id} has no key: only HTTP triggers with auth 'key' do`);
    }
    const next: TriggerRecord = { ...current, secret: newSecret(), updatedAt: new Date().toISOString() };
    if (!(await this.store.updateTrigger(next))) throw triggerNotFound(id);
    this.emit({ kind: 'updated', trigger: next });
    return next;
  }

  async delete(id: string): Promise<void> {
    const trigger = await this.get(id);
    if (!(await this.store.deleteTrigger(id))) throw triggerNotFound(id);
    this.emit({ kind: 'deleted', trigger });
  }

  /** Removes a deleted function's triggers. */
  async deleteAllOf(functionName: string): Promise<void> {
    const triggers = await this.store.listTriggers({ functionName });
    await this.store.deleteTriggersOf(functionName);
    for (const trigger of triggers) this.emit({ kind: 'deleted', trigger });
  }

  /** The next `count` firing times of a timer trigger. */
  async next(id: string, count: number, after = new Date()): Promise<Date[]> {
    const trigger = await this.get(id);
    if (trigger.config.type !== 'timer') {
      throw validationFailed(`trigger ${id} is an HTTP trigger: only timer triggers have firing times`);
    }
    return nextFirings(parseSchedule(trigger.config.schedule, trigger.config.timezone), count, after);
  }

  private async assertHttpFree(fn: FunctionRecord, config: HttpTriggerConfig, self: string | undefined) {
    const http = await this.store.listTriggers({ type: 'http' });
    for (const other of http) {
      if (other.id === self || other.config.type !== 'http') continue;
      if (other.functionName === fn.name) {
        throw new NimbusError(
          'TRIGGER_EXISTS',
          `function '${fn.name}' already has HTTP trigger ${other.id} (one per function: it owns /fn/${fn.name}/); change it with PATCH /v1/triggers/${other.id}`,
        );
      }
      if (config.host !== null && other.config.host === config.host) {
        throw new NimbusError(
          'TRIGGER_EXISTS',
          `host '${config.host}' is already served by trigger ${other.id} of function '${other.functionName}'`,
        );
      }
    }
  }

  /** The function record a trigger with this qualifier calls (throws when the qualifier names nothing). */
  private target(fn: FunctionRecord, qualifier: string | null): Promise<FunctionRecord> {
    return qualifier === null ? Promise.resolve(fn) : this.resolveQualifier(fn.name, qualifier);
  }

  private emit(change: TriggerChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

function newSecret(): string {
  return `nhk_${randomBytes(24).toString('base64url')}`;
}

/** The qualifier a trigger keeps: the one given (`$LATEST` stored as null), else the current one. */
function qualifierOf(given: string | null | undefined, current: TriggerConfig | undefined): string | null {
  if (given === undefined) return current?.qualifier ?? null;
  return given === null || given === LATEST ? null : given;
}

function completeHttp(
  input: HttpTriggerInput,
  current: HttpTriggerConfig | undefined,
  qualifier: string | null,
): HttpTriggerConfig {
  const methods = input.methods ?? current?.methods ?? [...HTTP_METHODS];
  if (methods.length === 0)
    throw validationFailed('methods must name at least one HTTP method', { field: 'methods' });
  const host = input.host === undefined ? (current?.host ?? null) : input.host;
  if (host !== null && !HOST_PATTERN.test(host)) {
    throw validationFailed(`host '${host}' is not a valid lower-case host name such as api.example.com`, {
      field: 'host',
    });
  }
  const refused = host === null ? undefined : refusedTriggerHost(host, hostname());
  if (refused) throw validationFailed(refused, { field: 'host' });
  let cors: CorsSettings | null = current?.cors ?? null;
  if (input.cors === null) cors = null;
  else if (input.cors !== undefined) cors = { ...DEFAULT_CORS, ...(current?.cors ?? {}), ...input.cors };
  if (cors) {
    if (cors.allowCredentials && cors.allowOrigins.includes('*')) {
      throw validationFailed(
        'cors.allowCredentials needs explicit origins: browsers refuse credentials with origin *',
        {
          field: 'cors',
        },
      );
    }
    for (const origin of cors.allowOrigins) {
      if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
        throw validationFailed(`cors origin '${origin}' must be * or scheme://host[:port], with no path`, {
          field: 'cors',
        });
      }
    }
  }
  return {
    type: 'http',
    auth: input.auth ?? current?.auth ?? 'key',
    style: input.style ?? current?.style ?? 'lambda',
    methods: [...new Set(methods)],
    host,
    cors,
    qualifier,
  };
}

function completeTimer(
  input: TimerTriggerInput,
  current: TimerTriggerConfig | undefined,
  qualifier: string | null,
): TimerTriggerConfig {
  const schedule = input.schedule ?? current?.schedule;
  if (schedule === undefined) {
    throw validationFailed(
      'a timer trigger needs a schedule, e.g. "rate(5 minutes)" or "cron(05 00 * * ? *)"',
      {
        field: 'schedule',
      },
    );
  }
  const timezone = input.timezone ?? current?.timezone ?? 'UTC';
  parseSchedule(schedule, timezone);
  const payload = input.payload === undefined ? (current?.payload ?? {}) : input.payload;
  const size = Buffer.byteLength(JSON.stringify(payload) ?? '');
  if (size > TIMER_LIMITS.payloadBytes) {
    throw validationFailed(
      `payload is ${size} bytes; a timer's constant payload may be at most ${TIMER_LIMITS.payloadBytes} bytes`,
      { field: 'payload' },
    );
  }
  return {
    type: 'timer',
    schedule,
    timezone,
    payload,
    missedTicks: input.missedTicks ?? current?.missedTicks ?? 'fire_once',
    qualifier,
  };
}

/** WSGI is a Python interface and `fetch` a JavaScript one. */
function checkStyle(fn: FunctionRecord, trigger: TriggerRecord): void {
  if (trigger.config.type !== 'http') return;
  const { style } = trigger.config;
  if (style === 'wsgi' && fn.runtime !== 'python3') {
    throw validationFailed(
      `style 'wsgi' needs a python3 function; '${fn.name}' runs ${fn.runtime} (use 'lambda' or 'fetch')`,
      {
        field: 'style',
      },
    );
  }
  if (style === 'fetch' && fn.runtime !== 'nodejs') {
    throw validationFailed(
      `style 'fetch' needs a nodejs function; '${fn.name}' runs ${fn.runtime} (use 'lambda' or 'wsgi')`,
      {
        field: 'style',
      },
    );
  }
}
