/**
 * The amazonec2 driver through the real AWS SDK over HTTP, against the EC2 simulator on
 * loopback: EC2's XML and SSM's JSON parsed for real, paging, throttling retries, signing scope,
 * and SDK warnings kept off the user's terminal. No lab: the simulator has no engine here, so
 * its instances fail to boot, which is itself a create failure whose cleanup is checked.
 */
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi} from 'vitest'
import {configureEc2} from '../../drivers/amazonec2/index.js'
import {Ec2Driver} from '../../drivers/amazonec2/driver.js'
import type {DriverContext} from '../../src/core/drivers/contract.js'
import {Ec2Simulator} from '../sim/ec2/simulator.js'

let sim: Ec2Simulator
let dir: string
/** Set before any AWS client exists: the SDK warns once per process, at the first client. */
const emitWarning = vi.spyOn(process, 'emitWarning')
const saved = {...process.env}

function context(name: string): DriverContext {
  return {machineName: name, machineDir: dir, storePath: dir, log: () => {}}
}

async function driver(name = 'wire'): Promise<Ec2Driver> {
  return new Ec2Driver(
    await configureEc2({'amazonec2-allow-cidr': ['198.51.100.7/32']}, context(name)),
    context(name),
  )
}

function calls(action: string) {
  return sim.calls.filter((c) => c.action === action)
}

beforeAll(async () => {
  sim = new Ec2Simulator({pageSize: 1, eniReleaseMs: 300})
  await sim.start()
  dir = await mkdtemp(join(tmpdir(), 'berth-ec2-wire-'))
})

beforeEach(() => {
  sim.calls.length = 0
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIAWIRE',
    AWS_SECRET_ACCESS_KEY: 'wire-secret',
    AWS_REGION: sim.region,
    AWS_ENDPOINT_URL_EC2: sim.endpoint,
    AWS_ENDPOINT_URL_SSM: sim.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(dir, 'none'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
    BERTH_AMAZONEC2_POLL: '0.05',
    BERTH_AMAZONEC2_TIMEOUT: '10',
  })
})

afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key]
  Object.assign(process.env, saved)
})

afterAll(async () => {
  await sim.stop()
  await rm(dir, {recursive: true, force: true})
})

describe('the driver over the wire', () => {
  it("resolves image and network from EC2's XML and SSM's JSON, following NextToken page by page", async () => {
    const d = await driver()
    await d.preCreateCheck()
    expect(d.state).toMatchObject({
      AMI: 'ami-0ubuntu2404amd64',
      RootDeviceName: '/dev/sda1',
      VpcId: 'vpc-0default0000000',
      SubnetId: 'subnet-0defaulta00000',
      Zone: 'eu-west-3a',
    })
    expect(calls('AmazonSSM.GetParameter')[0]!.params).toEqual({
      Name: '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
    })
    // Three default subnets, one per page.
    expect(calls('DescribeSubnets').map((c) => c.params.NextToken)).toEqual([undefined, '1', '2'])
  })

  it('reaches the endpoint through AWS_ENDPOINT_URL alone too', async () => {
    delete process.env.AWS_ENDPOINT_URL_EC2
    delete process.env.AWS_ENDPOINT_URL_SSM
    process.env.AWS_ENDPOINT_URL = sim.endpoint
    const d = await driver()
    await d.preCreateCheck()
    expect(d.state.AMI).toBe('ami-0ubuntu2404amd64')
    expect(calls('AmazonSSM.GetParameter')).toHaveLength(1)
  })

  it('a failed boot is a one-line error, and cleanup leaves nothing in EC2', async () => {
    const d = await driver('noboot')
    await d.preCreateCheck()
    const error = await d.create().catch((err: Error) => err)
    expect((error as Error).message).toMatch(
      /^instance i-[0-9a-f]+ went terminated instead of running: Server\.InternalError: this simulator has no lab engine/,
    )
    const run = calls('RunInstances')[0]!.params
    expect(run).toMatchObject({
      ImageId: 'ami-0ubuntu2404amd64',
      InstanceType: 't3.micro',
      MinCount: '1',
      MaxCount: '1',
      MetadataOptions: {HttpTokens: 'required', HttpPutResponseHopLimit: '2', HttpEndpoint: 'enabled'},
      BlockDeviceMapping: [
        {
          DeviceName: '/dev/sda1',
          Ebs: {VolumeSize: '16', VolumeType: 'gp3', Encrypted: 'true', DeleteOnTermination: 'true'},
        },
      ],
      NetworkInterface: [
        {
          DeviceIndex: '0',
          SubnetId: 'subnet-0defaulta00000',
          SecurityGroupId: [d.state.CreatedSecurityGroupIds[0]],
          AssociatePublicIpAddress: 'true',
        },
      ],
    })
    expect(sim.instances.get(d.state.InstanceId)!.metadataOptions).toMatchObject({
      httpTokens: 'required',
      httpPutResponseHopLimit: '2',
    })
    expect(await sim.leftovers(['noboot'])).not.toEqual(expect.objectContaining({keyPairs: []}))

    await d.remove()
    expect(await sim.leftovers(['noboot'])).toEqual({
      instances: [],
      volumes: [],
      keyPairs: [],
      securityGroups: [],
      spotRequests: [],
      containers: [],
    })
    // The group stayed in use a moment after termination; the driver waited for it.
    expect(calls('DeleteSecurityGroup').length).toBeGreaterThanOrEqual(1)
    expect(calls('TerminateInstances')).toHaveLength(1)
  })

  it('retries throttled calls, and fails in one line when throttling persists', async () => {
    const d = await driver()
    d.state.InstanceId = 'i-0000000000000000'
    sim.throttle('DescribeInstances', 2)
    expect(await d.getState()).toBe('NotFound')
    expect(calls('DescribeInstances')).toHaveLength(3)

    sim.throttle('DescribeInstances', 3)
    const error = await d.getState().catch((err: Error) => err)
    expect((error as Error).message).toBe(
      'AWS DescribeInstances failed in eu-west-3: RequestLimitExceeded: Request limit exceeded.',
    )
    expect(calls('DescribeInstances')).toHaveLength(3 + 3)
    sim.throttle('DescribeInstances', 0)
  })

  it("signs for the machine's region: a machine recorded in another region is refused by this endpoint", async () => {
    const d = await driver()
    d.state.Region = 'us-west-2'
    d.state.InstanceId = 'i-0000000000000000'
    const other = new Ec2Driver(d.state, context('wire'))
    await expect(other.getState()).rejects.toThrow(
      /AWS refused the credentials \(AuthFailure\) for ec2:DescribeInstances in us-west-2/,
    )
  })

  it('lets no SDK warning reach the terminal (Node 20 support notice, console warnings), in any test of this file', async () => {
    const consoleWarn = vi.spyOn(console, 'warn')
    process.env.AWS_PROFILE = 'unused' // with keys in the environment too: the SDK's "multiple credential sources" notice
    const d = await driver()
    d.state.InstanceId = 'i-0000000000000000'
    await expect(d.getState()).rejects.toThrow(/no AWS credentials found/) // profile "unused" does not exist
    expect(consoleWarn).not.toHaveBeenCalled()
    expect(emitWarning).not.toHaveBeenCalled()
  })
})
