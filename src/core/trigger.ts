/**
 * Triggers: what starts a function besides a direct invoke. An HTTP trigger gives a function a
 * public URL (`/fn/<function>/<any path>`); a timer trigger fires it on a schedule with a constant
 * payload. Pure types and rules: no I/O, no adapters.
 */

export type TriggerType = 'http' | 'timer';

/** `anonymous`: anyone may call; `key`: the trigger's bearer key, or a URL signed with it. */
export const HTTP_AUTH_MODES = ['anonymous', 'key'] as const;
export type HttpAuth = (typeof HTTP_AUTH_MODES)[number];

/**
 * How a request becomes an event: `lambda` (the function-URL payload, version 2.0), `wsgi`
 * (Python `handler(environ, start_response)`), `fetch` (a Web `Request` in, `Response` out, Node).
 */
export const HTTP_STYLES = ['lambda', 'wsgi', 'fetch'] as const;
export type HttpStyle = (typeof HTTP_STYLES)[number];

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface CorsSettings {
  /** Origins allowed to call (`*` for any). */
  allowOrigins: string[];
  /** Methods allowed in a preflight; empty means the trigger's methods. */
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  /** How long browsers may cache a preflight answer. */
  maxAgeSec: number;
  allowCredentials: boolean;
}

export interface HttpTriggerConfig {
  type: 'http';
  auth: HttpAuth;
  style: HttpStyle;
  /** Methods the trigger accepts; others get 405. */
  methods: HttpMethod[];
  /** When set, the trigger also answers requests whose Host is this name, at any path. */
  host: string | null;
  cors: CorsSettings | null;
  /** The version number or alias the trigger calls; null: `$LATEST`. */
  qualifier: string | null;
}

/** What happens to ticks missed while the server was down: fire once on start-up, or skip them. */
export const MISSED_TICK_POLICIES = ['fire_once', 'skip'] as const;
export type MissedTickPolicy = (typeof MISSED_TICK_POLICIES)[number];

export interface TimerTriggerConfig {
  type: 'timer';
  /** cron (5 or 6 fields), AWS `cron(...)`, `rate(5 minutes)` or `@every 5m`. */
  schedule: string;
  /** IANA time zone the schedule is read in. */
  timezone: string;
  /** Delivered as the event of every firing. */
  payload: unknown;
  missedTicks: MissedTickPolicy;
  /** The version number or alias the trigger calls; null: `$LATEST`. */
  qualifier: string | null;
}

export type TriggerConfig = HttpTriggerConfig | TimerTriggerConfig;

export interface TriggerRecord {
  /** `trg-` + random id. */
  id: string;
  functionName: string;
  enabled: boolean;
  config: TriggerConfig;
  /**
   * Secret of a `key` HTTP trigger (the bearer key, and what signed URLs are signed with).
   * Never shown in listings; returned once when made.
   */
  secret: string | null;
  /** Timer triggers: the ISO time of the last tick that fired (claimed exactly once), else null. */
  lastTick: string | null;
  createdAt: string;
  updatedAt: string;
}

export const TIMER_LIMITS = {
  /** Constant payloads are events: the async payload limit applies. */
  payloadBytes: 256 * 1024,
  nextCountMax: 100,
} as const;

/**
 * Why a trigger may not answer for `host`, or undefined when it may. Names that reach the server
 * itself (loopback, IP literals, the machine's own name) are the platform's: a trigger claiming
 * them would catch requests meant for the API and the keys they carry.
 */
export function refusedTriggerHost(host: string, machineName: string): string | undefined {
  const labels = host.split('.');
  if (host === 'localhost' || host.endsWith('.localhost'))
    return `host '${host}' is a loopback name: it reaches this server's own API`;
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '') || /^0x/i.test(host))
    return `host '${host}' is an IP address; a trigger needs a DNS name such as api.example.com`;
  const machine = machineName.toLowerCase();
  if (machine !== '' && (host === machine || host === machine.split('.')[0]))
    return `host '${host}' is this machine's own name: it reaches this server's own API`;
  return undefined;
}
