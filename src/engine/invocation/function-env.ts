/**
 * The environment a function's instance gets with `init`: Lambda's variables, Function Compute's
 * and Nimbus's own. How the runtime process itself is started (interpreter, flags, its base
 * environment) is the sandbox driver's business.
 */
import { logGroupName, type ArnScope } from '../../core/arn.js';
import { RUNTIME_BASE_ENV, type FunctionRecord } from '../../core/function.js';

/** Facts about the instance a function is loaded into, for its environment. */
interface InstanceFacts {
  /** The server's region and account id. */
  scope: ArnScope;
  /** The instance's id (`i-<uuid>`): its 32 hex digits name the log stream, as on Lambda. */
  instanceId: string;
  /** Started for the function's minimum instances, ahead of any call. */
  provisioned: boolean;
  /** When the instance is loaded (the log stream's date). */
  now: Date;
  /** What runs the function, as Lambda names it (`python3.11`): the driver's `runtimeVersion`. */
  runtimeVersion: string;
}

/**
 * The environment a function sees on top of the runtime's (which has LAMBDA_TASK_ROOT and
 * LAMBDA_RUNTIME_DIR, since only the sandbox driver knows where code and runtime are mounted):
 * Lambda's documented variables, Function Compute's, and Nimbus's own. The function's variables
 * may replace the unreserved defaults (TZ, LANG, PATH, HOME), as on Lambda; the reserved ones
 * always win. No AWS credentials are set (Nimbus has no roles to take them from). Sent with
 * `init`, since a pre-warmed runtime starts before it has a function.
 */
export function functionEnv(fn: FunctionRecord, facts: InstanceFacts): Record<string, string> {
  const { region, accountId } = facts.scope;
  const memory = String(fn.memoryMb);
  return {
    ...RUNTIME_BASE_ENV,
    ...fn.env,
    _HANDLER: fn.handler,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${facts.runtimeVersion}`,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_VERSION: fn.version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: memory,
    AWS_LAMBDA_INITIALIZATION_TYPE: facts.provisioned ? 'provisioned-concurrency' : 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: logGroupName(fn.name),
    AWS_LAMBDA_LOG_STREAM_NAME: logStreamName(fn.version, facts.instanceId, facts.now),
    FC_FUNCTION_NAME: fn.name,
    FC_FUNCTION_HANDLER: fn.handler,
    FC_FUNCTION_MEMORY_SIZE: memory,
    FC_FUNCTION_VERSION: fn.version,
    FC_REGION: region,
    FC_ACCOUNT_ID: accountId,
    FC_INSTANCE_ID: facts.instanceId,
    NIMBUS_FUNCTION_NAME: fn.name,
    NIMBUS_FUNCTION_VERSION: fn.version,
    NIMBUS_FUNCTION_MEMORY_MB: memory,
  };
}

/**
 * Lambda's log stream name of an instance: `YYYY/MM/DD/[<version>]<32 hex>`, the date in UTC and
 * the hex digits those of the instance id.
 */
function logStreamName(version: string, instanceId: string, now: Date): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  const hex = instanceId.replace(/[^0-9a-f]/g, '').slice(-32);
  return `${day}/[${version}]${hex}`;
}
