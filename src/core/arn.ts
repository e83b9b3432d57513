/**
 * Lambda's resource names (ARNs). Region and account id are server settings: every ARN Nimbus
 * shows (Lambda API, destination records, a function's context, error messages) is built here, so
 * they are one and the same string everywhere.
 */

/** Where functions live, as their ARNs say: the server's region and account id. */
export interface ArnScope {
  region: string;
  accountId: string;
}

/**
 * `arn:aws:lambda:<region>:<account>:function:<name>`, with `:<qualifier>` (a version, `$LATEST` or
 * an alias) when one is given.
 */
export function lambdaFunctionArn(scope: ArnScope, name: string, qualifier?: string): string {
  const arn = `arn:aws:lambda:${scope.region}:${scope.accountId}:function:${name}`;
  return qualifier === undefined ? arn : `${arn}:${qualifier}`;
}

/** The IAM role every function is shown to run as (Nimbus has no IAM: one fixed role name). */
export function lambdaRoleArn(scope: ArnScope): string {
  return `arn:aws:iam::${scope.accountId}:role/nimbus`;
}

/** Lambda's log group of a function, `/aws/lambda/<name>`. */
export function logGroupName(name: string): string {
  return `/aws/lambda/${name}`;
}
