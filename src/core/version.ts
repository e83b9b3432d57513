/**
 * Versions and aliases. A version is an immutable snapshot of a function's code and configuration
 * under a number (1, 2, 3 … per function, never reused); `$LATEST` is the editable function
 * itself. An alias is a name that points at one version, and may send a weighted share of calls
 * to a second one. Pure types and rules (names, routing, qualifiers, the weighted pick): no I/O.
 */
import { validationFailed } from './errors.js';
import type { FunctionConfig } from './function.js';

export const LATEST = '$LATEST';

/** A published version as stored: what it froze and when. */
export interface VersionRecord {
  functionName: string;
  /** The number as a string ("1", "2", …), as Lambda and execution records show it. */
  version: string;
  codeSha256: string;
  codeSize: number;
  /** The function's configuration when the version was published. */
  config: FunctionConfig;
  /** The publisher's description of the version (the function's own description if none was given). */
  description: string;
  createdAt: string;
}

/** A second version that gets a share of an alias's calls. */
export interface AliasRouting {
  version: string;
  /** Share of calls, 0 to 1, that go to `version` instead of the alias's main version. */
  weight: number;
}

export interface AliasRecord {
  functionName: string;
  name: string;
  /** A version number, or `$LATEST`. */
  functionVersion: string;
  routing: AliasRouting | null;
  description: string;
  createdAt: string;
  updatedAt: string;
}

const VERSION_LIMITS = { aliasNameChars: 128, descriptionChars: 256 } as const;

const ALIAS_PATTERN = /^[a-zA-Z0-9_-]+$/;
const NUMBER_PATTERN = /^[0-9]+$/;

/** Lambda's alias names: letters, digits, `-` and `_`, 1 to 128 characters, not all digits. */
export function assertAliasName(name: string): void {
  if (
    name.length === 0 ||
    name.length > VERSION_LIMITS.aliasNameChars ||
    !ALIAS_PATTERN.test(name) ||
    NUMBER_PATTERN.test(name)
  ) {
    throw validationFailed(
      `alias name '${name}' is invalid: use 1 to 128 letters, digits, '-' or '_', not only digits (those name versions) and not $LATEST`,
      { field: 'name' },
    );
  }
}

/** Whether `value` names a published version ("1", "2", …; no leading zeros). */
export function isVersionNumber(value: string): boolean {
  return NUMBER_PATTERN.test(value) && !value.startsWith('0') && value.length <= 9;
}

/** What a qualifier names: `$LATEST`, a version number, or an alias. */
type Qualifier = { kind: 'latest' } | { kind: 'version'; version: string } | { kind: 'alias'; alias: string };

/** Reads a caller's qualifier; the message says what a valid one looks like. */
export function parseQualifier(value: string): Qualifier {
  if (value === LATEST) return { kind: 'latest' };
  if (isVersionNumber(value)) return { kind: 'version', version: value };
  if (value.length > 0 && value.length <= VERSION_LIMITS.aliasNameChars && ALIAS_PATTERN.test(value)) {
    if (!NUMBER_PATTERN.test(value)) return { kind: 'alias', alias: value };
  }
  throw validationFailed(
    `qualifier '${value}' is invalid: give $LATEST, a version number (1, 2, …) or an alias name`,
    { field: 'qualifier' },
  );
}

/**
 * Checks an alias's target and routing: the target is `$LATEST` or a version number; a routing
 * version is a number other than the target (which must then be a number too, as Lambda requires),
 * its weight from 0 to 1.
 */
export function assertAliasTarget(functionVersion: string, routing: AliasRouting | null): void {
  if (functionVersion !== LATEST && !isVersionNumber(functionVersion)) {
    throw validationFailed(
      `functionVersion '${functionVersion}' is invalid: give a published version number (1, 2, …) or $LATEST`,
      { field: 'functionVersion' },
    );
  }
  if (routing === null) return;
  if (!isVersionNumber(routing.version)) {
    throw validationFailed(
      `routing.version '${routing.version}' is invalid: give a published version number (1, 2, …)`,
      { field: 'routing.version' },
    );
  }
  if (functionVersion === LATEST) {
    throw validationFailed(
      'an alias that routes calls to a second version must point at a published version, not $LATEST; publish one with `nimbus versions publish`',
      { field: 'functionVersion' },
    );
  }
  if (routing.version === functionVersion) {
    throw validationFailed(
      `routing.version must differ from the alias's version (both are ${functionVersion}); give another version or remove the routing`,
      { field: 'routing.version' },
    );
  }
  if (!Number.isFinite(routing.weight) || routing.weight < 0 || routing.weight > 1) {
    throw validationFailed(
      `routing.weight must be a number from 0 to 1 (got ${routing.weight}); e.g. 0.1 sends a tenth of the calls to version ${routing.version}`,
      { field: 'routing.weight' },
    );
  }
}

export function assertVersionDescription(description: string): void {
  if (description.length > VERSION_LIMITS.descriptionChars) {
    throw validationFailed(
      `description is ${description.length} characters; the limit is ${VERSION_LIMITS.descriptionChars}`,
      { field: 'description' },
    );
  }
}

/** The version an alias sends one call to; `random` is a number in [0, 1) (Math.random). */
export function pickVersion(alias: Pick<AliasRecord, 'functionVersion' | 'routing'>, random: number): string {
  const routing = alias.routing;
  return routing !== null && random < routing.weight ? routing.version : alias.functionVersion;
}
