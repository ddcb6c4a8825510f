/**
 * An EC2 Query API simulator on loopback, for the amazonec2 driver's end-to-end tests. It speaks
 * EC2's form-encoded requests and XML responses (and SSM's JSON GetParameter) for the calls the
 * driver makes, keeps state (instances, volumes, key pairs, security groups, spot requests,
 * tags) and exposes it, and backs instances with real lab hosts (see hosts.ts). Without a lab
 * engine it still answers everything but RunInstances' boot, which unit tests never reach.
 */
import {createHash, randomBytes} from 'node:crypto'
import {createServer, IncomingMessage, Server, ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {LabHosts} from './hosts.js'
import {
  ApiError,
  applyFilters,
  errorXml,
  listOf,
  page,
  parseQuery,
  responseXml,
  str,
  type Params,
} from './wire.js'

type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped'
const STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
}

export interface SimImage {
  imageId: string
  name: string
  ownerId: string
  architecture: 'x86_64' | 'arm64'
  rootDeviceName: string
  creationDate: string
  /** The login user the image's cloud-init creates. */
  defaultUser: string
}

export interface SimInstance {
  instanceId: string
  reservationId: string
  imageId: string
  instanceType: string
  keyName?: string
  subnetId: string
  vpcId: string
  zone: string
  groupIds: string[]
  state: InstanceStateName
  /** Every state the instance was in, in order (tests assert transitions too quick to poll). */
  history: InstanceStateName[]
  stateReason?: {code: string; message: string}
  privateIp?: string
  publicIp?: string
  associatePublicIp: boolean
  launchTime: string
  clientToken?: string
  tags: Record<string, string>
  metadataOptions: Record<string, string>
  iamInstanceProfile?: string
  spotRequestId?: string
  userData?: string
  volumeIds: string[]
  terminatedAt?: number
  /** Operations on one instance's host run one after another. */
  busy: Promise<void>
}

export interface SimVolume {
  volumeId: string
  instanceId: string
  deviceName: string
  size: number
  volumeType: string
  encrypted: boolean
  deleteOnTermination: boolean
  state: 'in-use' | 'deleted'
  tags: Record<string, string>
}

export interface SimKeyPair {
  keyPairId: string
  keyName: string
  keyType: string
  fingerprint: string
  publicKey: string
  tags: Record<string, string>
  createTime: string
}

export interface SimRule {
  protocol: string
  fromPort: number
  toPort: number
  cidrs: string[]
  cidrsV6: string[]
  groupIds: string[]
}

export interface SimSecurityGroup {
  groupId: string
  groupName: string
  description: string
  vpcId: string
  ingress: SimRule[]
  tags: Record<string, string>
}

export interface SimSubnet {
  subnetId: string
  vpcId: string
  zone: string
  cidrBlock: string
  defaultForAz: boolean
}

export interface SimSpotRequest {
  spotInstanceRequestId: string
  instanceId: string
  state: 'active' | 'closed' | 'cancelled'
  maxPrice?: string
  tags: Record<string, string>
}

/** Faults for one machine, keyed by the Name tag its RunInstances carries. */
export interface SimFault {
  runInstances?: {code: string; message: string; status?: number}
  /** The instance stays pending and never boots. */
  neverRunning?: boolean
  /** The instance runs but sshd never starts. */
  sshDead?: boolean
}

export interface SimOptions {
  region?: string
  /** The lab engine hosting instances; unit tests leave it out. */
  engineUrl?: string
  /** Whether the region has a default VPC. */
  defaultVpc?: boolean
  /** Largest page any Describe call returns, so clients must follow NextToken. */
  pageSize?: number
  /** What `GET /checkip` answers: the caller's public address as AWS would see it. */
  callerIp?: string
  /** How long a terminated instance's network interface keeps its groups in use. */
  eniReleaseMs?: number
  /** How long after RebootInstances the host goes down. */
  rebootDelayMs?: number
}

export const OWNER_ID = '123456789012'
/** The tags the amazonec2 driver puts on what it makes. */
const TAG_OWNER = 'berth:machine-id'
const TAG_MACHINE = 'berth:machine'
const UBUNTU_OWNER = '099720109477'
const DEBIAN_OWNER = '136693071363'
const INSTANCE_TYPES: Record<string, 'x86_64' | 'arm64'> = {
  't3.micro': 'x86_64',
  't3.small': 'x86_64',
  't3.medium': 'x86_64',
  'm6i.large': 'x86_64',
  't4g.small': 'arm64',
}

function id(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`
}

function tagSet(tags: Record<string, string>): {key: string; value: string}[] {
  return Object.entries(tags).map(([key, value]) => ({key, value}))
}

function tagValues(tags: Record<string, string>, name: string): (string | undefined)[] {
  return name.startsWith('tag:') ? [tags[name.slice(4)]] : name === 'tag-key' ? Object.keys(tags) : []
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export class Ec2Simulator {
  readonly region: string
  readonly callerIp: string
  readonly images: SimImage[]
  readonly ssmParameters = new Map<string, string>()
  readonly instances = new Map<string, SimInstance>()
  readonly volumes = new Map<string, SimVolume>()
  readonly keyPairs = new Map<string, SimKeyPair>()
  readonly securityGroups = new Map<string, SimSecurityGroup>()
  readonly subnets: SimSubnet[] = []
  readonly vpcs: {vpcId: string; cidrBlock: string; isDefault: boolean}[] = []
  readonly spotRequests = new Map<string, SimSpotRequest>()
  /** Every call as received: action and decoded parameters. */
  readonly calls: {action: string; params: Params; region: string}[] = []
  readonly faults = new Map<string, SimFault>()
  private readonly throttles = new Map<string, number>()
  private readonly hosts?: LabHosts
  private readonly pageSize: number
  private readonly eniReleaseMs: number
  private readonly rebootDelayMs: number
  private server?: Server
  endpoint = ''

  constructor(options: SimOptions = {}) {
    this.region = options.region ?? 'eu-west-3'
    this.callerIp = options.callerIp ?? '203.0.113.10'
    this.pageSize = options.pageSize ?? 1000
    this.eniReleaseMs = options.eniReleaseMs ?? 1500
    this.rebootDelayMs = options.rebootDelayMs ?? 1500
    const simulatorId = randomBytes(4).toString('hex')
    if (options.engineUrl) this.hosts = new LabHosts(options.engineUrl, simulatorId)
    this.images = [
      {
        imageId: 'ami-0ubuntu2404amd64',
        name: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261115',
        ownerId: UBUNTU_OWNER,
        architecture: 'x86_64',
        rootDeviceName: '/dev/sda1',
        creationDate: '2026-11-15T00:00:00.000Z',
        defaultUser: 'ubuntu',
      },
      {
        imageId: 'ami-0ubuntu2404old',
        name: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20260101',
        ownerId: UBUNTU_OWNER,
        architecture: 'x86_64',
        rootDeviceName: '/dev/sda1',
        creationDate: '2026-01-01T00:00:00.000Z',
        defaultUser: 'ubuntu',
      },
      {
        imageId: 'ami-0ubuntu2404arm64',
        name: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20261115',
        ownerId: UBUNTU_OWNER,
        architecture: 'arm64',
        rootDeviceName: '/dev/sda1',
        creationDate: '2026-11-15T00:00:00.000Z',
        defaultUser: 'ubuntu',
      },
      {
        imageId: 'ami-0debian12amd64',
        name: 'debian-12-amd64-20261110-1234',
        ownerId: DEBIAN_OWNER,
        architecture: 'x86_64',
        rootDeviceName: '/dev/xvda',
        creationDate: '2026-11-10T00:00:00.000Z',
        defaultUser: 'admin',
      },
    ]
    this.ssmParameters.set(
      '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
      'ami-0ubuntu2404amd64',
    )
    this.ssmParameters.set(
      '/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id',
      'ami-0ubuntu2404arm64',
    )
    this.ssmParameters.set('/aws/service/debian/release/12/latest/amd64', 'ami-0debian12amd64')
    if (options.defaultVpc ?? true) {
      const vpcId = 'vpc-0default0000000'
      this.vpcs.push({vpcId, cidrBlock: '172.31.0.0/16', isDefault: true})
      for (const [i, zone] of ['a', 'b', 'c'].entries()) {
        this.subnets.push({
          subnetId: `subnet-0default${zone}00000`,
          vpcId,
          zone: `${this.region}${zone}`,
          cidrBlock: `172.31.${i * 16}.0/20`,
          defaultForAz: true,
        })
      }
    }
    const customVpc = 'vpc-0custom00000000'
    this.vpcs.push({vpcId: customVpc, cidrBlock: '10.20.0.0/16', isDefault: false})
    this.subnets.push({
      subnetId: 'subnet-0custom0b0000',
      vpcId: customVpc,
      zone: `${this.region}b`,
      cidrBlock: '10.20.1.0/24',
      defaultForAz: false,
    })
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this.endpoint
  }

  /** Stops the server and removes every container this simulator started (a safety net; tests check they were gone before). */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    if (this.hosts)
      for (const name of await this.hosts.leftovers())
        await this.hosts.destroy(name.replace('berth-ec2sim-', ''))
  }

  /** The next `times` calls of `action` fail with RequestLimitExceeded, as EC2 throttles. */
  throttle(action: string, times: number): void {
    this.throttles.set(action, times)
  }

  fault(machineName: string, fault: SimFault): void {
    this.faults.set(machineName, fault)
  }

  /** Waits until pending host operations (boots, stops, terminations) are done. */
  async settle(): Promise<void> {
    await Promise.all([...this.instances.values()].map((i) => i.busy))
  }

  /**
   * What is left that carries berth's ownership tag (only of the named machines, when given),
   * and lab containers still running an instance.
   */
  async leftovers(machines?: string[]): Promise<Record<string, string[]>> {
    await this.settle()
    const owned = (tags: Record<string, string>) =>
      TAG_OWNER in tags && (!machines || machines.includes(tags[TAG_MACHINE] ?? ''))
    const ofMachines = (instanceId: string) => {
      const instance = this.instances.get(instanceId)
      return instance !== undefined && (!machines || owned(instance.tags))
    }
    return {
      instances: [...this.instances.values()]
        .filter((i) => i.state !== 'terminated' && owned(i.tags))
        .map((i) => i.instanceId),
      volumes: [...this.volumes.values()]
        .filter((v) => v.state !== 'deleted' && owned(v.tags))
        .map((v) => v.volumeId),
      keyPairs: [...this.keyPairs.values()].filter((k) => owned(k.tags)).map((k) => k.keyName),
      securityGroups: [...this.securityGroups.values()].filter((g) => owned(g.tags)).map((g) => g.groupName),
      spotRequests: [...this.spotRequests.values()]
        .filter((s) => s.state === 'active' && ofMachines(s.instanceId))
        .map((s) => s.spotInstanceRequestId),
      containers: this.hosts
        ? (await this.hosts.leftovers()).filter((c) => ofMachines(c.replace('berth-ec2sim-', '')))
        : [],
    }
  }

  instanceByName(name: string): SimInstance | undefined {
    return [...this.instances.values()]
      .filter((i) => i.tags.Name === name)
      .sort((x, y) => y.launchTime.localeCompare(x.launchTime))[0]
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    if (req.method === 'GET' && req.url === '/checkip') {
      res.writeHead(200, {'content-type': 'text/plain'}).end(`${this.callerIp}\n`)
      return
    }
    const target = req.headers['x-amz-target']
    if (typeof target === 'string') return this.handleSsm(req, res, target, body)
    const params = parseQuery(body)
    const action = str(params.Action) ?? ''
    const send = (status: number, xml: string) =>
      res.writeHead(status, {'content-type': 'text/xml;charset=UTF-8'}).end(xml)
    try {
      const region = this.authenticate(req, 'ec2')
      this.calls.push({action, params, region})
      if (str(params.Version) !== '2016-11-15')
        throw new ApiError('InvalidParameterValue', `unsupported API version ${str(params.Version)}`)
      const left = this.throttles.get(action) ?? 0
      if (left > 0) {
        this.throttles.set(action, left - 1)
        throw new ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503)
      }
      const handler = (
        this.actions as Record<string, ((p: Params) => Promise<Record<string, unknown>>) | undefined>
      )[action]
      if (!handler)
        throw new ApiError('InvalidAction', `The action ${action} is not valid for this web service.`)
      send(200, responseXml(action, await handler(params)))
    } catch (err) {
      const apiError =
        err instanceof ApiError ? err : new ApiError('InternalError', (err as Error).message, 500)
      send(apiError.status, errorXml(apiError.code, apiError.message))
    }
  }

  /** SigV4 as far as a simulator needs: signed, scoped to this region and the right service. */
  private authenticate(req: IncomingMessage, service: string): string {
    const auth = req.headers.authorization ?? ''
    const scope = /Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth)
    if (!auth.startsWith('AWS4-HMAC-SHA256 ') || !scope)
      throw new ApiError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401)
    if (scope[3] !== this.region)
      throw new ApiError(
        'AuthFailure',
        `Credential should be scoped to a valid region, not '${scope[3]}'.`,
        401,
      )
    if (scope[4] !== service)
      throw new ApiError('AuthFailure', `Credential should be scoped to correct service: '${service}'.`, 401)
    return scope[3]
  }

  private async handleSsm(
    req: IncomingMessage,
    res: ServerResponse,
    target: string,
    body: string,
  ): Promise<void> {
    const send = (status: number, payload: unknown) =>
      res.writeHead(status, {'content-type': 'application/x-amz-json-1.1'}).end(JSON.stringify(payload))
    try {
      this.authenticate(req, 'ssm')
      const input = JSON.parse(body || '{}') as {Name?: string}
      this.calls.push({action: target, params: input as Params, region: this.region})
      if (target !== 'AmazonSSM.GetParameter')
        throw new ApiError('UnknownOperationException', `unknown operation ${target}`)
      const value = this.ssmParameters.get(input.Name ?? '')
      if (!value) throw new ApiError('ParameterNotFound', '')
      send(200, {
        Parameter: {
          Name: input.Name,
          Type: 'String',
          Value: value,
          Version: 1,
          LastModifiedDate: Date.now() / 1000,
          ARN: `arn:aws:ssm:${this.region}::parameter${input.Name}`,
          DataType: 'aws:ec2:image',
        },
      })
    } catch (err) {
      const apiError =
        err instanceof ApiError ? err : new ApiError('InternalServerError', (err as Error).message, 500)
      send(apiError.status, {__type: apiError.code, message: apiError.message})
    }
  }

  // ---- shapes ----

  private instanceXml(i: SimInstance): Record<string, unknown> {
    const image = this.images.find((img) => img.imageId === i.imageId)
    return {
      instanceId: i.instanceId,
      imageId: i.imageId,
      instanceState: {code: STATE_CODES[i.state], name: i.state},
      privateDnsName: i.privateIp
        ? `ip-${i.privateIp.replace(/\./g, '-')}.${this.region}.compute.internal`
        : '',
      dnsName: i.publicIp ? `ec2-${i.publicIp.replace(/\./g, '-')}.${this.region}.compute.amazonaws.com` : '',
      reason: i.stateReason?.message ?? '',
      keyName: i.keyName,
      amiLaunchIndex: 0,
      productCodes: [],
      instanceType: i.instanceType,
      launchTime: i.launchTime,
      placement: {availabilityZone: i.zone, groupName: '', tenancy: 'default'},
      monitoring: {state: 'disabled'},
      subnetId: i.subnetId,
      vpcId: i.vpcId,
      privateIpAddress: i.privateIp,
      ipAddress: i.publicIp,
      sourceDestCheck: true,
      groupSet: i.groupIds.map((groupId) => ({
        groupId,
        groupName: this.securityGroups.get(groupId)?.groupName,
      })),
      stateReason: i.stateReason,
      architecture: image?.architecture ?? 'x86_64',
      rootDeviceType: 'ebs',
      rootDeviceName: image?.rootDeviceName,
      blockDeviceMapping: i.volumeIds.map((volumeId) => {
        const v = this.volumes.get(volumeId)!
        return {
          deviceName: v.deviceName,
          ebs: {
            volumeId,
            status: 'attached',
            attachTime: i.launchTime,
            deleteOnTermination: v.deleteOnTermination,
          },
        }
      }),
      instanceLifecycle: i.spotRequestId ? 'spot' : undefined,
      spotInstanceRequestId: i.spotRequestId,
      virtualizationType: 'hvm',
      clientToken: i.clientToken ?? '',
      tagSet: tagSet(i.tags),
      hypervisor: 'xen',
      iamInstanceProfile: i.iamInstanceProfile
        ? {arn: `arn:aws:iam::${OWNER_ID}:instance-profile/${i.iamInstanceProfile}`, id: 'AIPAEXAMPLE'}
        : undefined,
      ebsOptimized: false,
      enaSupport: true,
      metadataOptions: {state: 'applied', ...i.metadataOptions},
    }
  }

  private groupXml(g: SimSecurityGroup): Record<string, unknown> {
    return {
      ownerId: OWNER_ID,
      groupId: g.groupId,
      groupName: g.groupName,
      groupDescription: g.description,
      vpcId: g.vpcId,
      ipPermissions: g.ingress.map((r) => ({
        ipProtocol: r.protocol,
        fromPort: r.fromPort,
        toPort: r.toPort,
        groups: r.groupIds.map((groupId) => ({userId: OWNER_ID, groupId})),
        ipRanges: r.cidrs.map((cidrIp) => ({cidrIp})),
        ipv6Ranges: r.cidrsV6.map((cidrIpv6) => ({cidrIpv6})),
        prefixListIds: [],
      })),
      ipPermissionsEgress: [
        {ipProtocol: '-1', groups: [], ipRanges: [{cidrIp: '0.0.0.0/0'}], ipv6Ranges: [], prefixListIds: []},
      ],
      tagSet: tagSet(g.tags),
    }
  }

  /** Tags from `TagSpecification.N` for one resource type. */
  private tagsFor(params: Params, resourceType: string): Record<string, string> {
    const tags: Record<string, string> = {}
    for (const spec of listOf(params.TagSpecification)) {
      if (str(spec.ResourceType) !== resourceType) continue
      for (const tag of listOf(spec.Tag)) tags[str(tag.Key) ?? ''] = str(tag.Value) ?? ''
    }
    return tags
  }

  private groupInUse(groupId: string): boolean {
    const now = Date.now()
    return [...this.instances.values()].some(
      (i) =>
        i.groupIds.includes(groupId) &&
        (i.state !== 'terminated' || now - (i.terminatedAt ?? 0) < this.eniReleaseMs),
    )
  }

  private requireInstances(params: Params): SimInstance[] {
    return listOf<string>(params.InstanceId).map((instanceId) => {
      const instance = this.instances.get(instanceId)
      if (!instance)
        throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`)
      return instance
    })
  }

  private setState(instance: SimInstance, state: InstanceStateName): void {
    if (instance.history.at(-1) !== state) instance.history.push(state)
    instance.state = state
  }

  private transition(
    instance: SimInstance,
    to: InstanceStateName,
    work: () => Promise<void>,
  ): {instanceId: string; currentState: unknown; previousState: unknown} {
    const previous = instance.state
    this.setState(instance, to)
    instance.busy = instance.busy.then(work).catch(() => {})
    return {
      instanceId: instance.instanceId,
      currentState: {code: STATE_CODES[to], name: to},
      previousState: {code: STATE_CODES[previous], name: previous},
    }
  }

  private boot(instance: SimInstance, publicKey: string, fault: SimFault): void {
    if (fault.neverRunning) return
    const image = this.images.find((i) => i.imageId === instance.imageId)!
    instance.busy = instance.busy
      .then(async () => {
        if (!this.hosts) throw new Error('this simulator has no lab engine to boot instances on')
        const address = await this.hosts.launch({
          instanceId: instance.instanceId,
          user: image.defaultUser,
          publicKey,
          userData: instance.userData ? Buffer.from(instance.userData, 'base64') : undefined,
          sshDead: fault.sshDead,
        })
        if (instance.state !== 'pending') return
        instance.privateIp = address
        instance.publicIp = instance.associatePublicIp ? address : undefined
        this.setState(instance, 'running')
      })
      .catch(async (err: Error) => {
        instance.stateReason = {code: 'Server.InternalError', message: `Server.InternalError: ${err.message}`}
        await this.terminate(instance)
      })
  }

  /** The host goes, and with it the volumes marked DeleteOnTermination; a one-time spot request closes. */
  private async terminate(instance: SimInstance): Promise<void> {
    await this.hosts?.destroy(instance.instanceId)
    this.setState(instance, 'terminated')
    instance.terminatedAt = Date.now()
    instance.privateIp = undefined
    instance.publicIp = undefined
    for (const volumeId of instance.volumeIds) {
      const volume = this.volumes.get(volumeId)
      if (volume?.deleteOnTermination) volume.state = 'deleted'
    }
    const spot = instance.spotRequestId ? this.spotRequests.get(instance.spotRequestId) : undefined
    if (spot?.state === 'active') spot.state = 'closed'
  }

  // ---- actions ----

  private readonly actions = {
    DescribeInstanceTypes: async (p: Params) => {
      const wanted = listOf<string>(p.InstanceType)
      const unknown = wanted.filter((t) => !INSTANCE_TYPES[t])
      if (unknown.length > 0)
        throw new ApiError(
          'InvalidInstanceType',
          `The following supplied instance types do not exist: [${unknown.join(', ')}]`,
        )
      return {
        instanceTypeSet: wanted.map((t) => ({
          instanceType: t,
          currentGeneration: true,
          processorInfo: {supportedArchitectures: [INSTANCE_TYPES[t]]},
        })),
      }
    },

    DescribeImages: async (p: Params) => {
      const ids = listOf<string>(p.ImageId)
      const missing = ids.filter((i) => !this.images.some((img) => img.imageId === i))
      if (missing.length > 0)
        throw new ApiError('InvalidAMIID.NotFound', `The image id '[${missing.join(', ')}]' does not exist`)
      const owners = listOf<string>(p.Owner)
      let images = this.images.filter(
        (img) =>
          (ids.length === 0 || ids.includes(img.imageId)) &&
          (owners.length === 0 || owners.includes(img.ownerId)),
      )
      images = applyFilters(images, p, (img, name) =>
        name === 'name'
          ? [img.name]
          : name === 'state'
            ? ['available']
            : name === 'architecture'
              ? [img.architecture]
              : [],
      )
      const {items, nextToken} = page(images, p, this.pageSize)
      return {
        imagesSet: items.map((img) => ({
          imageId: img.imageId,
          imageLocation: `${img.ownerId}/${img.name}`,
          imageState: 'available',
          imageOwnerId: img.ownerId,
          creationDate: img.creationDate,
          isPublic: true,
          architecture: img.architecture,
          imageType: 'machine',
          name: img.name,
          rootDeviceType: 'ebs',
          rootDeviceName: img.rootDeviceName,
          blockDeviceMapping: [
            {
              deviceName: img.rootDeviceName,
              ebs: {
                snapshotId: 'snap-0sim',
                volumeSize: 8,
                deleteOnTermination: true,
                volumeType: 'gp3',
                encrypted: false,
              },
            },
          ],
          virtualizationType: 'hvm',
          hypervisor: 'xen',
          enaSupport: true,
          bootMode: 'uefi-preferred',
        })),
        nextToken,
      }
    },

    DescribeVpcs: async (p: Params) => {
      const vpcs = applyFilters(this.vpcs, p, (v, name) =>
        name === 'is-default' ? [String(v.isDefault)] : name === 'vpc-id' ? [v.vpcId] : [],
      )
      return {
        vpcSet: vpcs.map((v) => ({
          vpcId: v.vpcId,
          ownerId: OWNER_ID,
          state: 'available',
          cidrBlock: v.cidrBlock,
          dhcpOptionsId: 'dopt-0sim',
          instanceTenancy: 'default',
          isDefault: v.isDefault,
        })),
      }
    },

    DescribeSubnets: async (p: Params) => {
      const ids = listOf<string>(p.SubnetId)
      for (const subnetId of ids)
        if (!this.subnets.some((s) => s.subnetId === subnetId))
          throw new ApiError('InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`)
      let subnets = this.subnets.filter((s) => ids.length === 0 || ids.includes(s.subnetId))
      subnets = applyFilters(
        subnets,
        p,
        (s, name) =>
          (
            ({
              'vpc-id': [s.vpcId],
              'availability-zone': [s.zone],
              'default-for-az': [String(s.defaultForAz)],
              state: ['available'],
              'subnet-id': [s.subnetId],
            }) as Record<string, string[]>
          )[name] ?? [],
      )
      const {items, nextToken} = page(subnets, p, this.pageSize)
      return {
        subnetSet: items.map((s) => ({
          subnetId: s.subnetId,
          state: 'available',
          vpcId: s.vpcId,
          cidrBlock: s.cidrBlock,
          availableIpAddressCount: 4091,
          availabilityZone: s.zone,
          availabilityZoneId: `euw3-az${s.zone.slice(-1)}`,
          defaultForAz: s.defaultForAz,
          mapPublicIpOnLaunch: s.defaultForAz,
          ownerId: OWNER_ID,
        })),
        nextToken,
      }
    },

    DescribeSecurityGroups: async (p: Params) => {
      const ids = listOf<string>(p.GroupId)
      for (const groupId of ids)
        if (!this.securityGroups.has(groupId))
          throw new ApiError('InvalidGroup.NotFound', `The security group '${groupId}' does not exist`)
      let groups = [...this.securityGroups.values()].filter(
        (g) => ids.length === 0 || ids.includes(g.groupId),
      )
      groups = applyFilters(
        groups,
        p,
        (g, name) =>
          (
            ({'group-name': [g.groupName], 'group-id': [g.groupId], 'vpc-id': [g.vpcId]}) as Record<
              string,
              string[]
            >
          )[name] ?? tagValues(g.tags, name),
      )
      const {items, nextToken} = page(groups, p, this.pageSize)
      return {securityGroupInfo: items.map((g) => this.groupXml(g)), nextToken}
    },

    CreateSecurityGroup: async (p: Params) => {
      const name = str(p.GroupName) ?? ''
      const vpcId = str(p.VpcId) ?? this.vpcs.find((v) => v.isDefault)?.vpcId
      if (!vpcId) throw new ApiError('VPCIdNotSpecified', 'No default VPC for this user')
      if (!this.vpcs.some((v) => v.vpcId === vpcId))
        throw new ApiError('InvalidVpcID.NotFound', `The vpc ID '${vpcId}' does not exist`)
      if ([...this.securityGroups.values()].some((g) => g.groupName === name && g.vpcId === vpcId)) {
        throw new ApiError(
          'InvalidGroup.Duplicate',
          `The security group '${name}' already exists for VPC '${vpcId}'`,
        )
      }
      const group: SimSecurityGroup = {
        groupId: id('sg'),
        groupName: name,
        description: str(p.GroupDescription) ?? '',
        vpcId,
        ingress: [],
        tags: this.tagsFor(p, 'security-group'),
      }
      this.securityGroups.set(group.groupId, group)
      return {return: true, groupId: group.groupId, tagSet: tagSet(group.tags)}
    },

    AuthorizeSecurityGroupIngress: async (p: Params) => {
      const group = this.securityGroups.get(str(p.GroupId) ?? '')
      if (!group)
        throw new ApiError('InvalidGroup.NotFound', `The security group '${str(p.GroupId)}' does not exist`)
      const rules: SimRule[] = listOf(p.IpPermissions).map((perm) => ({
        protocol: str(perm.IpProtocol) ?? '',
        fromPort: Number(str(perm.FromPort)),
        toPort: Number(str(perm.ToPort)),
        cidrs: listOf(perm.IpRanges).map((r) => str(r.CidrIp) ?? ''),
        cidrsV6: listOf(perm.Ipv6Ranges).map((r) => str(r.CidrIpv6) ?? ''),
        groupIds: listOf(perm.Groups).map((g) => str(g.GroupId) ?? ''),
      }))
      for (const rule of rules) {
        for (const ref of rule.groupIds)
          if (!this.securityGroups.has(ref))
            throw new ApiError('InvalidGroup.NotFound', `The security group '${ref}' does not exist`)
        const same = group.ingress.find(
          (r) =>
            r.protocol === rule.protocol &&
            r.fromPort === rule.fromPort &&
            r.toPort === rule.toPort &&
            (rule.cidrs.some((c) => r.cidrs.includes(c)) ||
              rule.groupIds.some((g) => r.groupIds.includes(g))),
        )
        if (same)
          throw new ApiError(
            'InvalidPermission.Duplicate',
            `the specified rule "peer: ..., ${rule.protocol.toUpperCase()}, from port: ${rule.fromPort}, to port: ${rule.toPort}, ALLOW" already exists`,
          )
      }
      group.ingress.push(...rules)
      return {
        return: true,
        securityGroupRuleSet: rules.map((r) => ({
          securityGroupRuleId: id('sgr'),
          groupId: group.groupId,
          groupOwnerId: OWNER_ID,
          isEgress: false,
          ipProtocol: r.protocol,
          fromPort: r.fromPort,
          toPort: r.toPort,
        })),
      }
    },

    DeleteSecurityGroup: async (p: Params) => {
      const groupId = str(p.GroupId) ?? ''
      if (!this.securityGroups.has(groupId))
        throw new ApiError('InvalidGroup.NotFound', `The security group '${groupId}' does not exist`)
      if (this.groupInUse(groupId))
        throw new ApiError('DependencyViolation', `resource ${groupId} has a dependent object`)
      this.securityGroups.delete(groupId)
      return {return: true, groupId}
    },

    ImportKeyPair: async (p: Params) => {
      const keyName = str(p.KeyName) ?? ''
      if ([...this.keyPairs.values()].some((k) => k.keyName === keyName))
        throw new ApiError('InvalidKeyPair.Duplicate', `The keypair '${keyName}' already exists.`)
      const publicKey = Buffer.from(str(p.PublicKeyMaterial) ?? '', 'base64')
        .toString('utf8')
        .trim()
      const [type, blob] = publicKey.split(' ')
      if (!type || !blob || !['ssh-ed25519', 'ssh-rsa'].includes(type))
        throw new ApiError('InvalidKey.Format', 'Key is not in valid OpenSSH public key format')
      const fingerprint = createHash('sha256')
        .update(Buffer.from(blob, 'base64'))
        .digest('base64')
        .replace(/=+$/, '')
      const key: SimKeyPair = {
        keyPairId: id('key'),
        keyName,
        keyType: type === 'ssh-ed25519' ? 'ed25519' : 'rsa',
        fingerprint,
        publicKey,
        tags: this.tagsFor(p, 'key-pair'),
        createTime: new Date().toISOString(),
      }
      this.keyPairs.set(key.keyPairId, key)
      return {keyFingerprint: fingerprint, keyName, keyPairId: key.keyPairId, tagSet: tagSet(key.tags)}
    },

    DescribeKeyPairs: async (p: Params) => {
      const names = listOf<string>(p.KeyName)
      for (const name of names)
        if (![...this.keyPairs.values()].some((k) => k.keyName === name))
          throw new ApiError('InvalidKeyPair.NotFound', `The key pair '${name}' does not exist`)
      let keys = [...this.keyPairs.values()].filter((k) => names.length === 0 || names.includes(k.keyName))
      keys = applyFilters(keys, p, (k, name) => (name === 'key-name' ? [k.keyName] : tagValues(k.tags, name)))
      return {
        keySet: keys.map((k) => ({
          keyPairId: k.keyPairId,
          keyFingerprint: k.fingerprint,
          keyName: k.keyName,
          keyType: k.keyType,
          tagSet: tagSet(k.tags),
          createTime: k.createTime,
        })),
      }
    },

    DeleteKeyPair: async (p: Params) => {
      const key = [...this.keyPairs.values()].find(
        (k) => k.keyName === str(p.KeyName) || k.keyPairId === str(p.KeyPairId),
      )
      if (key) this.keyPairs.delete(key.keyPairId)
      return {return: true, keyPairId: key?.keyPairId}
    },

    RunInstances: async (p: Params) => {
      const clientToken = str(p.ClientToken)
      const known = clientToken
        ? [...this.instances.values()].find((i) => i.clientToken === clientToken)
        : undefined
      if (known)
        return {
          reservationId: known.reservationId,
          ownerId: OWNER_ID,
          groupSet: [],
          instancesSet: [this.instanceXml(known)],
        }
      const instanceTags = this.tagsFor(p, 'instance')
      const fault = this.faults.get(instanceTags.Name ?? '') ?? {}
      if (fault.runInstances)
        throw new ApiError(fault.runInstances.code, fault.runInstances.message, fault.runInstances.status)
      const image = this.images.find((i) => i.imageId === str(p.ImageId))
      if (!image)
        throw new ApiError('InvalidAMIID.NotFound', `The image id '[${str(p.ImageId)}]' does not exist`)
      const instanceType = str(p.InstanceType) ?? 'm1.small'
      if (!INSTANCE_TYPES[instanceType])
        throw new ApiError('InvalidParameterValue', `Invalid value '${instanceType}' for InstanceType.`)
      if (INSTANCE_TYPES[instanceType] !== image.architecture) {
        throw new ApiError(
          'InvalidParameterValue',
          `The architecture '${INSTANCE_TYPES[instanceType]}' of the specified instance type does not match the architecture '${image.architecture}' of the specified AMI.`,
        )
      }
      const key = str(p.KeyName)
      const keyPair = [...this.keyPairs.values()].find((k) => k.keyName === key)
      if (key && !keyPair)
        throw new ApiError('InvalidKeyPair.NotFound', `The key pair '${key}' does not exist`)
      const nic = listOf(p.NetworkInterface)[0]
      const subnetId = str(nic?.SubnetId) ?? str(p.SubnetId)
      const subnet = subnetId
        ? this.subnets.find((s) => s.subnetId === subnetId)
        : this.subnets.find((s) => s.defaultForAz)
      if (!subnet)
        throw subnetId
          ? new ApiError('InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`)
          : new ApiError('VPCIdNotSpecified', 'No default VPC for this user')
      const groupIds = nic ? listOf<string>(nic.SecurityGroupId) : listOf<string>(p.SecurityGroupId)
      for (const groupId of groupIds) {
        const group = this.securityGroups.get(groupId)
        if (!group)
          throw new ApiError(
            'InvalidGroup.NotFound',
            `The security group '${groupId}' does not exist in VPC '${subnet.vpcId}'`,
          )
        if (group.vpcId !== subnet.vpcId)
          throw new ApiError(
            'InvalidParameter',
            `Security group ${groupId} and subnet ${subnet.subnetId} belong to different networks.`,
          )
      }
      const placementZone = str((p.Placement as Params | undefined)?.AvailabilityZone)
      if (placementZone && placementZone !== subnet.zone)
        throw new ApiError(
          'InvalidParameterValue',
          `Value (${placementZone}) for parameter availabilityZone is invalid. Subnet '${subnet.subnetId}' is in zone '${subnet.zone}'.`,
        )
      const market = p.InstanceMarketOptions as Params | undefined
      const instance: SimInstance = {
        instanceId: id('i'),
        reservationId: id('r'),
        imageId: image.imageId,
        instanceType,
        keyName: key,
        subnetId: subnet.subnetId,
        vpcId: subnet.vpcId,
        zone: subnet.zone,
        groupIds,
        state: 'pending',
        history: ['pending'],
        associatePublicIp: nic ? str(nic.AssociatePublicIpAddress) !== 'false' : subnet.defaultForAz,
        launchTime: new Date().toISOString(),
        clientToken,
        tags: instanceTags,
        metadataOptions: Object.fromEntries(
          Object.entries((p.MetadataOptions as Params | undefined) ?? {}).map(([k, v]) => [
            k[0]!.toLowerCase() + k.slice(1),
            String(v),
          ]),
        ),
        iamInstanceProfile:
          str((p.IamInstanceProfile as Params | undefined)?.Name) ??
          str((p.IamInstanceProfile as Params | undefined)?.Arn),
        userData: str(p.UserData),
        volumeIds: [],
        busy: Promise.resolve(),
      }
      const mappings = listOf(p.BlockDeviceMapping)
      const rootOverride = mappings.find((m) => str(m.DeviceName) === image.rootDeviceName)
      // A mapping on another device name adds a volume instead of changing the root one, as on EC2.
      for (const mapping of [
        rootOverride ?? {DeviceName: image.rootDeviceName},
        ...mappings.filter((m) => m !== rootOverride),
      ]) {
        const ebs = (mapping.Ebs as Params | undefined) ?? {}
        const volume: SimVolume = {
          volumeId: id('vol'),
          instanceId: instance.instanceId,
          deviceName: str(mapping.DeviceName) ?? '',
          size: Number(str(ebs.VolumeSize) ?? 8),
          volumeType: str(ebs.VolumeType) ?? 'gp2',
          encrypted: str(ebs.Encrypted) === 'true',
          deleteOnTermination: str(ebs.DeleteOnTermination) !== 'false',
          state: 'in-use',
          tags: this.tagsFor(p, 'volume'),
        }
        this.volumes.set(volume.volumeId, volume)
        instance.volumeIds.push(volume.volumeId)
      }
      if (str(market?.MarketType) === 'spot') {
        const spotOptions = (market?.SpotOptions as Params | undefined) ?? {}
        const request: SimSpotRequest = {
          spotInstanceRequestId: id('sir'),
          instanceId: instance.instanceId,
          state: 'active',
          maxPrice: str(spotOptions.MaxPrice),
          tags: this.tagsFor(p, 'spot-instances-request'),
        }
        this.spotRequests.set(request.spotInstanceRequestId, request)
        instance.spotRequestId = request.spotInstanceRequestId
      }
      this.instances.set(instance.instanceId, instance)
      this.boot(instance, keyPair?.publicKey ?? '', fault)
      return {
        reservationId: instance.reservationId,
        ownerId: OWNER_ID,
        groupSet: [],
        instancesSet: [this.instanceXml(instance)],
      }
    },

    DescribeInstances: async (p: Params) => {
      const byId = listOf<string>(p.InstanceId).length > 0
      if (byId && str(p.MaxResults))
        throw new ApiError(
          'InvalidParameterCombination',
          'The parameter instancesSet cannot be used with the parameter maxResults',
        )
      let instances = byId ? this.requireInstances(p) : [...this.instances.values()]
      instances = applyFilters(
        instances,
        p,
        (i, name) =>
          (
            ({
              'instance-state-name': [i.state],
              'instance.group-id': i.groupIds,
              'instance-id': [i.instanceId],
              'vpc-id': [i.vpcId],
            }) as Record<string, string[]>
          )[name] ?? tagValues(i.tags, name),
      )
      const {items, nextToken} = page(instances, p, this.pageSize)
      return {
        reservationSet: items.map((i) => ({
          reservationId: i.reservationId,
          ownerId: OWNER_ID,
          groupSet: [],
          instancesSet: [this.instanceXml(i)],
        })),
        nextToken,
      }
    },

    StartInstances: async (p: Params) => ({
      instancesSet: this.requireInstances(p).map((i) => {
        if (i.state === 'running' || i.state === 'pending') return this.transition(i, i.state, async () => {})
        if (i.state !== 'stopped')
          throw new ApiError(
            'IncorrectInstanceState',
            `The instance '${i.instanceId}' is not in a state from which it can be started.`,
          )
        return this.transition(i, 'pending', async () => {
          const address = await this.hosts!.start(i.instanceId)
          if (i.state !== 'pending') return
          i.privateIp = address
          i.publicIp = i.associatePublicIp ? address : undefined
          this.setState(i, 'running')
        })
      }),
    }),

    StopInstances: async (p: Params) => ({
      instancesSet: this.requireInstances(p).map((i) => {
        if (i.spotRequestId)
          throw new ApiError(
            'UnsupportedOperation',
            `You can't stop the Spot Instance '${i.instanceId}' because it is associated with a one-time Spot Instance request.`,
          )
        if (i.state === 'stopped' || i.state === 'stopping')
          return this.transition(i, i.state, async () => {})
        if (i.state !== 'running' && i.state !== 'pending')
          throw new ApiError(
            'IncorrectInstanceState',
            `This instance '${i.instanceId}' is not in a state from which it can be stopped.`,
          )
        return this.transition(i, 'stopping', async () => {
          await this.hosts!.stop(i.instanceId, str(p.Force) === 'true')
          if (i.state !== 'stopping') return
          i.publicIp = undefined // a public address is given up on stop, as on EC2
          this.setState(i, 'stopped')
        })
      }),
    }),

    RebootInstances: async (p: Params) => {
      for (const i of this.requireInstances(p)) {
        // EC2 only queues a reboot: the host goes down a moment after the call has returned.
        if (i.state !== 'running') continue
        i.busy = i.busy
          .then(() => sleep(this.rebootDelayMs))
          .then(() => this.hosts!.reboot(i.instanceId))
          .then((address) => {
            i.privateIp = address
            if (i.publicIp) i.publicIp = address
          })
          .catch(() => {})
      }
      return {return: true}
    },

    TerminateInstances: async (p: Params) => ({
      instancesSet: this.requireInstances(p).map((i) => {
        if (i.state === 'terminated' || i.state === 'shutting-down')
          return this.transition(i, i.state, async () => {})
        return this.transition(i, 'shutting-down', async () => {
          await sleep(200)
          await this.terminate(i)
        })
      }),
    }),

    CancelSpotInstanceRequests: async (p: Params) => ({
      spotInstanceRequestSet: listOf<string>(p.SpotInstanceRequestId).map((requestId) => {
        const request = this.spotRequests.get(requestId)
        if (!request)
          throw new ApiError(
            'InvalidSpotInstanceRequestID.NotFound',
            `The spot instance request ID '${requestId}' does not exist`,
          )
        if (request.state === 'active') request.state = 'cancelled'
        return {spotInstanceRequestId: requestId, state: request.state}
      }),
    }),

    CreateTags: async (p: Params) => {
      for (const tags of this.taggable(p))
        for (const tag of listOf(p.Tag)) tags[str(tag.Key) ?? ''] = str(tag.Value) ?? ''
      return {return: true}
    },

    DeleteTags: async (p: Params) => {
      for (const tags of this.taggable(p)) {
        for (const tag of listOf(p.Tag)) {
          const key = str(tag.Key) ?? ''
          if (tag.Value === undefined || tags[key] === str(tag.Value)) delete tags[key]
        }
      }
      return {return: true}
    },
  }

  private taggable(p: Params): Record<string, string>[] {
    return listOf<string>(p.ResourceId).map((resource) => {
      const tags =
        this.instances.get(resource)?.tags ??
        this.volumes.get(resource)?.tags ??
        this.securityGroups.get(resource)?.tags ??
        [...this.keyPairs.values()].find((k) => k.keyPairId === resource)?.tags ??
        this.spotRequests.get(resource)?.tags
      if (!tags) throw new ApiError('InvalidID', `The ID '${resource}' is not valid`)
      return tags
    })
  }
}
