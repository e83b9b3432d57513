/**
 * Access keys: AWS-style key pairs (id + secret) for the Lambda-compatible API, which clients sign
 * requests with (SigV4), and what each key may do. Pure: no I/O, no adapters.
 */
import { validationFailed } from './errors.js';

/** An access key as stored. The secret is kept because SigV4 verification needs it. */
export interface AccessKeyRecord {
  id: string;
  secret: string;
  /** Grants such as `invoke:fn`, `invoke:*`, `manage:*`; null means full access. */
  allow: string[] | null;
  description: string;
  createdAt: string;
}

/** What a Lambda API call does to a function: run it, or read or change it. */
export type AccessAction = 'invoke' | 'manage';

const GRANT = /^(invoke|manage):(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;

/** Checks the grants a key is created with; the message says what a grant looks like. */
export function assertGrants(allow: string[]): void {
  if (allow.length === 0) {
    throw validationFailed('allow must name at least one grant (or be left out for full access)', {
      field: 'allow',
    });
  }
  for (const grant of allow) {
    if (!GRANT.test(grant)) {
      throw validationFailed(
        `grant '${grant}' is invalid: use invoke:<function>, invoke:*, manage:<function> or manage:*`,
        { field: 'allow' },
      );
    }
  }
}

/**
 * Whether a key may do `action` on `functionName` (undefined: an action on no one function, such
 * as listing, which needs `<action>:*`). `manage` covers reading, changing, creating and deleting.
 */
export function keyAllows(key: AccessKeyRecord, action: AccessAction, functionName?: string): boolean {
  if (key.allow === null) return true;
  return key.allow.some((grant) => {
    const [grantAction, target] = grant.split(':', 2) as [string, string];
    if (grantAction !== action) return false;
    return target === '*' || (functionName !== undefined && target === functionName);
  });
}
