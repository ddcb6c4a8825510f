/**
 * AWS clients for the driver and the mapping of AWS's failures to one-line errors. The endpoint
 * comes from the SDK's own configuration: AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_SSM /
 * AWS_ENDPOINT_URL or the profile's endpoint_url.
 */
import {EC2Client} from '@aws-sdk/client-ec2'
import {SSMClient} from '@aws-sdk/client-ssm'
import {fromNodeProviderChain} from '@aws-sdk/credential-providers'
import {BerthError, ExitCode, oneLine} from '../../src/core/drivers/kit.js'

/**
 * The SDK writes warnings to stderr through console.warn or process.emitWarning (Node 20's end
 * of support, several credential sources, 403s while waiting). Users see berth's output only.
 */
class QuietLogger {
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
}

export interface AwsClients {
  ec2: EC2Client
  ssm: SSMClient
}

export function awsClients(region: string, profile: string): AwsClients {
  // Read by the SDK when a client is made; an explicit setting by the user wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const logger = new QuietLogger()
  const credentials = fromNodeProviderChain({profile: profile || undefined, logger})
  // Throttling and 5xx are retried by the SDK's standard mode (AWS_MAX_ATTEMPTS or the profile's max_attempts, else 3 tries).
  const common = {region, credentials, logger, ...(profile ? {profile} : {})}
  return {ec2: new EC2Client(common), ssm: new SSMClient(common)}
}

/** The region of a profile (shared config file), if it names one. */
export async function profileRegion(profile: string | undefined): Promise<string | undefined> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const client = new EC2Client({profile, logger: new QuietLogger()})
  try {
    return await client.config.region()
  } catch {
    return undefined
  } finally {
    client.destroy()
  }
}

/** AWS's error code, or the SDK's error name for failures before a request (credentials). */
export function errorCode(err: unknown): string {
  return (err as {name?: string; Code?: string}).Code ?? (err as {name?: string}).name ?? ''
}

export interface FailureContext {
  /** The API call, e.g. RunInstances. */
  action: string
  region: string
  instanceType?: string
  zone?: string
  keyPairName?: string
}

/** One line for each of AWS's common failures, with what to do; anything else keeps AWS's code and message. */
export function awsFailure(err: unknown, context: FailureContext): BerthError {
  if (err instanceof BerthError) return err
  const code = errorCode(err)
  const message = oneLine(err)
  const where = context.zone ? `zone ${context.zone}` : `region ${context.region}`
  switch (code) {
    case 'CredentialsProviderError':
      return new BerthError(
        `no AWS credentials found: ${message}`,
        ExitCode.failure,
        'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --amazonec2-profile, or run `aws sso login`',
      )
    case 'AuthFailure':
    case 'InvalidClientTokenId':
    case 'UnrecognizedClientException':
    case 'SignatureDoesNotMatch':
    case 'ExpiredToken':
    case 'RequestExpired':
      return new BerthError(
        `AWS refused the credentials (${code}) for ec2:${context.action} in ${context.region}`,
        ExitCode.failure,
        "check the access key, the session token's expiry and the computer's clock",
      )
    case 'UnauthorizedOperation':
    case 'AccessDeniedException':
      return new BerthError(
        `AWS denied ${context.action === 'GetParameter' ? 'ssm' : 'ec2'}:${context.action} to these credentials (${code})`,
        ExitCode.failure,
        'allow the action in the IAM policy of the user or role berth runs as',
      )
    case 'InsufficientInstanceCapacity':
    case 'InsufficientCapacity':
      return new BerthError(
        `AWS has no capacity for ${context.instanceType ?? 'this instance type'} in ${where} right now (${code})`,
        ExitCode.failure,
        'try again later, or another --amazonec2-zone or --amazonec2-instance-type',
      )
    case 'Unsupported':
    case 'InvalidInstanceType':
      return new BerthError(
        `instance type ${context.instanceType ?? ''} is not available in ${where}: ${message}`,
        ExitCode.failure,
        'pick another --amazonec2-instance-type or --amazonec2-zone',
      )
    case 'VPCIdNotSpecified':
      return noDefaultVpc(context.region)
    case 'InvalidKeyPair.Duplicate':
      return new BerthError(
        `a key pair named ${context.keyPairName ?? ''} already exists in ${context.region}`,
        ExitCode.failure,
        'pass its private key with --amazonec2-ssh-key to use it, or choose another --amazonec2-keypair-name',
      )
    case 'InvalidAMIID.NotFound':
    case 'InvalidAMIID.Malformed':
      return new BerthError(
        `AMI not found in ${context.region}: ${message}`,
        ExitCode.failure,
        'AMIs are per region: check --amazonec2-ami and --amazonec2-region',
      )
    case 'SpotMaxPriceTooLow':
    case 'MaxSpotInstanceCountExceeded':
      return new BerthError(
        `spot request refused (${code}): ${message}`,
        ExitCode.failure,
        'raise --amazonec2-spot-price or drop --amazonec2-spot',
      )
    default:
      return new BerthError(
        `AWS ${context.action} failed in ${context.region}: ${code ? `${code}: ` : ''}${message}`,
      )
  }
}

export function noDefaultVpc(region: string): BerthError {
  return new BerthError(
    `region ${region} has no default VPC`,
    ExitCode.failure,
    'pass --amazonec2-vpc-id and --amazonec2-subnet-id',
  )
}
