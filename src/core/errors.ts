/**
 * The one error family of Nimbus: every failure a caller can see carries a stable machine code,
 * the HTTP status it maps to at the API boundary, and a message that tells the user what to fix.
 * The engine and adapters throw these; only the API layer turns them into HTTP responses.
 */

/** Stable machine codes and the HTTP status each maps to. */
const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  INVALID_ARCHIVE: 400,
  BUILD_FAILED: 400,
  UNAUTHORIZED: 401,
  /** A signed trigger URL past its expiry. */
  SIGNED_URL_EXPIRED: 403,
  FUNCTION_NOT_FOUND: 404,
  EXECUTION_NOT_FOUND: 404,
  TRIGGER_NOT_FOUND: 404,
  DEAD_LETTER_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  ALIAS_NOT_FOUND: 404,
  ACCESS_KEY_NOT_FOUND: 404,
  LAYER_VERSION_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  FUNCTION_EXISTS: 409,
  TRIGGER_EXISTS: 409,
  ALIAS_EXISTS: 409,
  /** A version an alias points at (or routes to) cannot be deleted. */
  VERSION_IN_USE: 409,
  /** A publish's codeSha256 precondition did not match `$LATEST`. */
  CODE_CHANGED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_REQUESTS: 429,
  /** A deploy or publish would take the data dir past its disk budget (`diskBudgetMb`). */
  INSUFFICIENT_STORAGE: 507,
  INTERNAL: 500,
  /** The function threw or returned an error. */
  FUNCTION_ERROR: 502,
  /** The function's process died: crash, exit, segfault, init failure. */
  FUNCTION_CRASHED: 502,
  FUNCTION_OUT_OF_MEMORY: 502,
  FUNCTION_TIMEOUT: 504,
  /** The function was redeployed while the call waited for an instance, again and again. */
  FUNCTION_CHANGED: 503,
  SANDBOX_UNAVAILABLE: 503,
  /** Too many large request bodies are being read at once (`--max-inflight-body-mb`); retry soon. */
  SERVER_BUSY: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class NimbusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra machine-readable facts (e.g. the field that failed validation). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'NimbusError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = details;
  }
}

export function functionNotFound(name: string): NimbusError {
  return new NimbusError(
    'FUNCTION_NOT_FOUND',
    `no function named '${name}'; list them with \`nimbus functions list\``,
    { function: name },
  );
}

export function triggerNotFound(id: string): NimbusError {
  return new NimbusError(
    'TRIGGER_NOT_FOUND',
    `no trigger with id '${id}'; list them with \`nimbus triggers list <function>\``,
  );
}

export function executionNotFound(id: string): NimbusError {
  return new NimbusError(
    'EXECUTION_NOT_FOUND',
    `no execution with id '${id}'; list them with \`nimbus executions <function>\``,
  );
}

export function validationFailed(message: string, details?: Record<string, unknown>): NimbusError {
  return new NimbusError('VALIDATION_FAILED', message, details);
}

export function deadLetterNotFound(id: string): NimbusError {
  return new NimbusError(
    'DEAD_LETTER_NOT_FOUND',
    `no dead letter with id '${id}'; list them with \`nimbus dead-letters list\``,
  );
}

export function versionNotFound(functionName: string, version: string): NimbusError {
  return new NimbusError(
    'VERSION_NOT_FOUND',
    `function '${functionName}' has no version ${version}; list them with \`nimbus versions list ${functionName}\``,
    { function: functionName, qualifier: version },
  );
}

export function aliasNotFound(functionName: string, alias: string): NimbusError {
  return new NimbusError(
    'ALIAS_NOT_FOUND',
    `function '${functionName}' has no alias '${alias}'; list them with \`nimbus aliases list ${functionName}\``,
    { function: functionName, qualifier: alias },
  );
}

export function accessKeyNotFound(id: string): NimbusError {
  return new NimbusError(
    'ACCESS_KEY_NOT_FOUND',
    `no access key with id '${id}'; list them with \`nimbus access-keys list\``,
  );
}

/**
 * An error's message followed by its causes' (`a: b (caused by: c)`), for records and logs that keep
 * only text: a platform failure's real reason is often in `cause`.
 */
export function messageWithCauses(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(' (caused by: ') + ')'.repeat(Math.max(0, parts.length - 1));
}
