/**
 * Layers: zip archives published under a name in numbered, immutable versions, which functions
 * name in order and see unpacked read-only at /opt (a later layer's file wins), as on Lambda.
 * Pure types and rules (names, version numbers, ARNs, references, limits): no I/O.
 */
import type { ArnScope } from './arn.js';
import { NimbusError, validationFailed } from './errors.js';

/** A published layer version as stored. */
export interface LayerVersionRecord {
  layerName: string;
  /** 1, 2, 3 … per layer name, never reused (even after a delete). */
  version: number;
  description: string;
  /** Lambda runtime names (`python3.12`, `nodejs20.x` …) the publisher says the layer suits; informational. */
  compatibleRuntimes: string[];
  licenseInfo: string;
  codeSha256: string;
  /** Zipped size in bytes. */
  codeSize: number;
  /** Size of the unpacked files in bytes (counted against a function's 250 MB with its code). */
  unpackedBytes: number;
  createdAt: string;
}

/**
 * A layer version as a function keeps it: enough to mount it even after the layer version is
 * deleted (its zip stays in the content-addressed code store), and to show it.
 */
export interface FunctionLayer {
  layerName: string;
  version: number;
  codeSha256: string;
  codeSize: number;
  unpackedBytes: number;
}

const LAYER_LIMITS = {
  /** Layers one function may use. */
  perFunction: 5,
  nameChars: 140,
  descriptionChars: 256,
  licenseChars: 512,
  compatibleRuntimes: 15,
} as const;

const NAME_PATTERN = /^[a-zA-Z0-9_-]+$/;
const VERSION_PATTERN = /^[1-9][0-9]{0,15}$/;
const RUNTIME_NAME = /^[a-z0-9.]{1,32}$/;

/** Lambda's layer names: letters, digits, `-` and `_`, 1 to 140 characters. */
export function assertLayerName(name: string): void {
  if (name.length === 0 || name.length > LAYER_LIMITS.nameChars || !NAME_PATTERN.test(name)) {
    throw validationFailed(
      `layer name '${name}' is invalid: use 1 to ${LAYER_LIMITS.nameChars} letters, digits, '-' or '_'`,
      { field: 'name' },
    );
  }
}

/** A layer version number as given in a path or reference; VALIDATION_FAILED when it is not one. */
export function parseLayerVersionNumber(given: string): number {
  if (!VERSION_PATTERN.test(given) || !Number.isSafeInteger(Number(given))) {
    throw validationFailed(`layer version '${given}' is invalid: use a version number (1, 2, …)`, {
      field: 'version',
    });
  }
  return Number(given);
}

/** Checks what a publisher says about a layer version; the message names the field to fix. */
export function assertLayerMetadata(meta: {
  description: string;
  licenseInfo: string;
  compatibleRuntimes: string[];
}): void {
  if (meta.description.length > LAYER_LIMITS.descriptionChars) {
    throw validationFailed(
      `description is ${meta.description.length} characters; the limit is ${LAYER_LIMITS.descriptionChars}`,
      { field: 'description' },
    );
  }
  if (meta.licenseInfo.length > LAYER_LIMITS.licenseChars) {
    throw validationFailed(
      `licenseInfo is ${meta.licenseInfo.length} characters; the limit is ${LAYER_LIMITS.licenseChars}`,
      { field: 'licenseInfo' },
    );
  }
  if (meta.compatibleRuntimes.length > LAYER_LIMITS.compatibleRuntimes) {
    throw validationFailed(
      `compatibleRuntimes names ${meta.compatibleRuntimes.length} runtimes; the limit is ${LAYER_LIMITS.compatibleRuntimes}`,
      { field: 'compatibleRuntimes' },
    );
  }
  for (const runtime of meta.compatibleRuntimes) {
    if (!RUNTIME_NAME.test(runtime)) {
      throw validationFailed(
        `compatible runtime '${runtime}' is invalid: use a Lambda runtime name such as python3.12 or nodejs20.x`,
        { field: 'compatibleRuntimes' },
      );
    }
  }
}

/** `arn:aws:lambda:<region>:<account>:layer:<name>`. */
export function layerArn(scope: ArnScope, name: string): string {
  return `arn:aws:lambda:${scope.region}:${scope.accountId}:layer:${name}`;
}

/** `arn:aws:lambda:<region>:<account>:layer:<name>:<version>`. */
export function layerVersionArn(scope: ArnScope, name: string, version: number): string {
  return `${layerArn(scope, name)}:${version}`;
}

/** A layer version a function names. */
interface LayerVersionRef {
  layerName: string;
  version: number;
}

const LAYER_VERSION_ARN = /^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):layer:([^:]+):([^:]+)$/;
const NAME_AND_VERSION = /^([^:]+):([^:]+)$/;

/**
 * Parses a layer version reference: a layer version ARN of this server's region and account, or
 * `name:version`. The message says what a reference looks like.
 */
export function parseLayerVersionRef(scope: ArnScope, given: string): LayerVersionRef {
  const arn = LAYER_VERSION_ARN.exec(given);
  const match = arn ? [arn[0], arn[3], arn[4]] : NAME_AND_VERSION.exec(given);
  if (!match || given.startsWith('arn:') !== Boolean(arn)) {
    throw validationFailed(
      `layer '${given}' is not a layer version: use ${layerVersionArn(scope, 'NAME', 1).replace(/1$/, 'VERSION')} or NAME:VERSION`,
      { field: 'layers' },
    );
  }
  if (arn && (arn[1] !== scope.region || arn[2] !== scope.accountId)) {
    throw validationFailed(
      `layer '${given}' belongs to region ${arn[1]} and account ${arn[2]}; this server's layers are ${layerArn(scope, 'NAME')}:VERSION (publish the layer here first)`,
      { field: 'layers' },
    );
  }
  assertLayerName(match[1]!);
  return { layerName: match[1]!, version: parseLayerVersionNumber(match[2]!) };
}

/**
 * Checks a function's layer list: at most five, and no layer twice (Lambda refuses two versions of
 * one layer on one function).
 */
export function assertLayerList(refs: LayerVersionRef[]): void {
  assertLayerCount(refs.length);
  const seen = new Set<string>();
  for (const ref of refs) {
    if (seen.has(ref.layerName)) {
      throw validationFailed(
        `layer '${ref.layerName}' is named twice: a function may use only one version of each layer`,
        { field: 'layers' },
      );
    }
    seen.add(ref.layerName);
  }
}

/** At most five layers per function (checked before the references are even parsed). */
export function assertLayerCount(count: number): void {
  if (count > LAYER_LIMITS.perFunction) {
    throw validationFailed(`a function may use at most ${LAYER_LIMITS.perFunction} layers (got ${count})`, {
      field: 'layers',
    });
  }
}

export function layerVersionNotFound(name: string, version: number): NimbusError {
  return new NimbusError(
    'LAYER_VERSION_NOT_FOUND',
    `layer '${name}' has no version ${version}; list its versions with \`nimbus layers versions ${name}\``,
  );
}
