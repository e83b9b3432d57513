/**
 * Request bodies of the Lambda API, in Lambda's field names. Lenient like Lambda's own parsers:
 * fields Nimbus does not use (Role, Tags…) are accepted and ignored.
 */
import { z } from 'zod';

const environment = z.object({ Variables: z.record(z.string(), z.string()).optional() }).loose();

export const createFunctionBody = z
  .object({
    FunctionName: z.string().min(1),
    Runtime: z.string().optional(),
    Handler: z.string().min(1).optional(),
    Code: z
      .object({
        ZipFile: z.string().optional(),
        S3Bucket: z.string().optional(),
        ImageUri: z.string().optional(),
      })
      .loose(),
    Description: z.string().optional(),
    Timeout: z.number().int().optional(),
    MemorySize: z.number().int().optional(),
    Environment: environment.optional(),
    Publish: z.boolean().optional(),
    PackageType: z.string().optional(),
    Architectures: z.array(z.string()).optional(),
    Layers: z.array(z.string()).optional(),
  })
  .loose();

export const updateConfigurationBody = z
  .object({
    Runtime: z.string().optional(),
    Handler: z.string().min(1).optional(),
    Description: z.string().optional(),
    Timeout: z.number().int().optional(),
    MemorySize: z.number().int().optional(),
    Environment: environment.optional(),
    Layers: z.array(z.string()).optional(),
  })
  .loose();

export const updateCodeBody = z
  .object({
    ZipFile: z.string().optional(),
    S3Bucket: z.string().optional(),
    ImageUri: z.string().optional(),
    Publish: z.boolean().optional(),
    DryRun: z.boolean().optional(),
    Architectures: z.array(z.string()).optional(),
  })
  .loose();

export const publishVersionBody = z
  .object({
    CodeSha256: z.string().optional(),
    Description: z.string().optional(),
    RevisionId: z.string().optional(),
  })
  .loose();

const routingConfig = z
  .object({ AdditionalVersionWeights: z.record(z.string(), z.number()).optional() })
  .loose();

export const createAliasBody = z
  .object({
    Name: z.string().min(1),
    FunctionVersion: z.string().min(1),
    Description: z.string().optional(),
    RoutingConfig: routingConfig.optional(),
  })
  .loose();

export const updateAliasBody = z
  .object({
    FunctionVersion: z.string().min(1).optional(),
    Description: z.string().optional(),
    RoutingConfig: routingConfig.optional(),
    RevisionId: z.string().optional(),
  })
  .loose();

export const publishLayerVersionBody = z
  .object({
    Content: z
      .object({
        ZipFile: z.string().optional(),
        S3Bucket: z.string().optional(),
        S3Key: z.string().optional(),
      })
      .loose(),
    Description: z.string().optional(),
    CompatibleRuntimes: z.array(z.string()).optional(),
    CompatibleArchitectures: z.array(z.string()).optional(),
    LicenseInfo: z.string().optional(),
  })
  .loose();
