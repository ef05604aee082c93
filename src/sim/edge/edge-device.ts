// A simulated IoT Edge device: provisions through DPS like a device, gets its runtime identities from the hub's
// registry like the IoT Edge identity service, then runs edgeAgent (deployment, modules, runtime report) and
// edgeHub (routes, one upstream connection per module identity). Outwardly it is one SimThing, like SimDevice.
import type { AzureTarget } from '../../endpoints/target.js';
import { splitHostPort } from '../../endpoints/target.js';
import { classify } from '../../transport/errors.js';
import type { SimContext } from '../context.js';
import type { DeviceAuth } from '../thing.js';
import type { Assignment } from '../dps-client.js';
import { PacedThing, type DeviceIdentityPlan } from '../thing.js';
import { EdgeAgent } from './edge-agent.js';
import { EdgeHub } from './edge-hub.js';
import type { GatewayServer } from './gateway-server.js';
import {
  hubEndpoint,
  IdentityService,
  type DeviceCredential,
  type DeviceRecovery,
  type HubEndpoint,
  type LinkState,
} from './module-identity.js';
import type { ModuleConfig, TelemetrySourceSpec } from './modules/index.js';

export type { ModuleConfig, ModuleBehaviour, ModuleApi, MethodReply, TelemetrySourceSpec } from './modules/index.js';

/** How the modules of one IoT Edge device behave; the engine maps the scenario onto it. */
export interface EdgeDeviceConfig {
  /**
   * By module id. A module not listed behaves by its image name (the SimulatedTemperatureSensor image), else as
   * `fallback`.
   */
  modules: Record<string, ModuleConfig>;
  /** Telemetry sources for `dtdl` modules, by module id (else the module's `model` is used). */
  telemetrySources?: Record<string, TelemetrySourceSpec>;
  /** Default: passthrough from any input to `output1`. */
  fallback?: ModuleConfig;
  /** Seed of the modules' random sequences; default: drawn from the plan's. */
  seed?: number;
  /** A transparent gateway: its edgeHub accepts these downstream devices once it runs. */
  gateway?: GatewayServer;
}

/** The runtime identities' keys, fetched from the registry. */
type RuntimeKeys = Record<'$edgeAgent' | '$edgeHub', string | undefined>;

export class SimEdgeDevice extends PacedThing {
  private assignment: Assignment | undefined;
  private agent: EdgeAgent | undefined;
  private edgeHub: EdgeHub | undefined;
  private readonly seed: number;
  /** The endpoint every runtime connection uses (a client-side outage marks it; registering again may move it). */
  private runtimeEndpoint: HubEndpoint | undefined;
  private outageUntil: number | undefined;
  /** Registering again through DPS while the runtime waits (its identities were refused): one at a time. */
  private reprovisioning = false;
  /** What the runtime's identities ask of this device when the retry policy says so. */
  private readonly recoveryHooks: DeviceRecovery;

  constructor(
    ctx: SimContext,
    private readonly target: AzureTarget,
    plan: DeviceIdentityPlan,
    private readonly auth: DeviceAuth,
    private readonly config: EdgeDeviceConfig,
  ) {
    // The device itself sends nothing: its modules do, each as its own identity, through edgeHub.
    super(ctx, plan, 0, { tick: () => [] });
    this.seed = config.seed ?? Math.floor(plan.random() * 2 ** 32);
    this.recoveryHooks = {
      assignedBy: auth.kind === 'direct-sas' ? 'connectionString' : 'dps',
      reprovision: () => this.reprovisionRuntime(),
      registering: () => this.reprovisioning,
      gaveUp: (err, reason) => this.fail(err, reason),
    };
  }

  override get pendingAcks(): number {
    return (this.edgeHub?.pendingAcks ?? 0) + (this.config.gateway?.pendingAcks ?? 0) + (this.agent?.pendingAcks ?? 0);
  }

  /** edgeAgent, once the runtime runs (for tests and diagnostics). */
  get edgeAgentRuntime(): EdgeAgent | undefined {
    return this.agent;
  }

  get edgeHubRuntime(): EdgeHub | undefined {
    return this.edgeHub;
  }

  /** Messages edgeHub holds in its store-and-forward store. */
  get storedCount(): number {
    return this.edgeHub?.storedCount() ?? 0;
  }

  /**
   * Device ids whose connections reach the target through this device: its own (runtime, modules) and its
   * children's.
   */
  get upstreamDeviceIds(): string[] {
    return [this.deviceId, ...(this.config.gateway?.childIds ?? [])];
  }

  /**
   * The target is unreachable for `durationMs`, held on the client side: every upstream connection drops and none
   * opens again before the end (edgeAgent and edgeHub back off and retry; edgeHub stores meanwhile).
   */
  holdUpstreamDown(durationMs: number): void {
    this.outageUntil = this.ctx.scheduler.now() + durationMs;
    if (this.runtimeEndpoint !== undefined) this.runtimeEndpoint.outageUntil = this.outageUntil;
    this.agent?.link.drop();
    this.edgeHub?.drop();
    this.config.gateway?.dropUpstream();
  }

  start(): void {
    this.ctx.scheduler.at(this.plan.arrivalAt, (intended) => void this.arrive(intended));
  }

  private arrive(intended: number): Promise<void> {
    return this.arriveThrough(this.target, this.auth, undefined, intended, (assignment, at) => {
      this.assignment = assignment;
      return this.startRuntime(at);
    });
  }

  private endpoint(): HubEndpoint {
    const hubHost = this.auth.kind === 'direct-sas' ? this.auth.hubHost : this.assignment!.assignedHub;
    const endpoint = hubEndpoint(this.target, hubHost, this.ctx.localAddress(this.plan.ordinal));
    // A parent gateway (nested edge) takes the MQTT connections; the token still names the hub.
    if (this.auth.kind === 'direct-sas' && this.auth.gatewayHost !== undefined)
      endpoint.mqtt = splitHostPort(this.auth.gatewayHost);
    return endpoint;
  }

  /** The identity service's part: runtime keys, then edgeHub and edgeAgent come up. */
  private async startRuntime(intended: number): Promise<void> {
    if (this.isStopped() || this.assignment === undefined) return;
    if (this.runtimeEndpoint !== undefined && this.agent !== undefined) return this.reassigned();
    this.setState('connecting');
    const endpoint = this.endpoint();
    if (this.outageUntil !== undefined) endpoint.outageUntil = this.outageUntil;
    this.runtimeEndpoint = endpoint;
    // The identity service calls the hub's registry as the device: with its SAS key, or its certificate (mutual TLS).
    const credential: DeviceCredential =
      this.auth.kind === 'dps-x509'
        ? { kind: 'x509', certPem: this.auth.certPem, keyPem: this.auth.keyPem }
        : { kind: 'sas', key: this.auth.deviceKey };
    const identities = new IdentityService(endpoint, this.deviceId, credential, this.ctx.mqtt.operationTimeoutMs);
    const keys: RuntimeKeys = { $edgeAgent: undefined, $edgeHub: undefined };
    try {
      const [agent, hub] = await Promise.all([identities.get('$edgeAgent'), identities.get('$edgeHub')]);
      keys.$edgeAgent = agent.primaryKey;
      keys.$edgeHub = hub.primaryKey;
    } catch (err) {
      // 401/404: the hub does not know this IoT Edge device (any more): it registers again through DPS.
      this.runtimeEndpoint = undefined;
      return this.recover(classify(err), 'moduleKey', (at) => void this.startRuntime(at));
    }
    if (this.isStopped()) return;
    this.recovery.progressed();
    const edgeHub = this.runRuntime(endpoint, identities, keys, intended);
    const gateway = this.config.gateway;
    if (gateway !== undefined) void this.openGateway(gateway, edgeHub, endpoint);
  }

  /** edgeHub and edgeAgent come up with their keys (fetched again when the hub refuses one). */
  private runRuntime(endpoint: HubEndpoint, identities: IdentityService, keys: RuntimeKeys, intended: number): EdgeHub {
    const key = (moduleId: keyof RuntimeKeys) => async (refresh: boolean) => {
      if (refresh || keys[moduleId] === undefined) keys[moduleId] = (await identities.get(moduleId)).primaryKey;
      return keys[moduleId];
    };
    const common = {
      deviceId: this.deviceId,
      endpoint,
      random: this.plan.random,
      device: this.recoveryHooks,
      mayReconnect: () => !this.isStopped(),
      onState: (_: LinkState) => this.runtimeStateChanged(),
    };
    this.edgeHub = new EdgeHub(this.ctx, { ...common, key: key('$edgeHub') });
    this.agent = new EdgeAgent(this.ctx, {
      ...common,
      key: key('$edgeAgent'),
      identities,
      edgeHub: this.edgeHub,
      seed: this.seed,
      modules: this.config.modules,
      ...(this.config.fallback === undefined ? {} : { fallback: this.config.fallback }),
      ...(this.config.telemetrySources === undefined ? {} : { telemetrySources: this.config.telemetrySources }),
      mayProduce: () => !this.isStopped(),
    });
    this.edgeHub.start(intended);
    this.agent.start(intended);
    return this.edgeHub;
  }

  /** A transparent gateway accepts its downstream devices once edgeHub has its first configuration. */
  private async openGateway(gateway: GatewayServer, edgeHub: EdgeHub, endpoint: HubEndpoint): Promise<void> {
    await edgeHub.ready();
    if (this.isStopped()) return;
    try {
      await gateway.start(edgeHub, endpoint);
    } catch (err) {
      this.ctx.log('error', `${this.deviceId}: edgeHub could not accept downstream devices: ${(err as Error).message}`);
    }
  }

  /**
   * The runtime's identities were refused (the hub no longer knows the device): it registers again through DPS,
   * while they go on backing off; the new assignment reaches them through the endpoint they share.
   */
  private reprovisionRuntime(): void {
    if (this.reprovisioning || this.isStopped() || this.recoveryHooks.assignedBy !== 'dps') return;
    this.reprovisioning = true;
    void this.reprovision(this.ctx.scheduler.now()).finally(() => {
      this.reprovisioning = false;
    });
  }

  /** Registered again while the runtime runs: its connections follow the (possibly new) hub. */
  private reassigned(): void {
    const endpoint = this.runtimeEndpoint;
    if (endpoint === undefined) return;
    const next = this.endpoint();
    endpoint.hubHost = next.hubHost;
    endpoint.mqtt = next.mqtt;
    endpoint.https = next.https;
    this.runtimeStateChanged();
  }

  /** Connected when edgeAgent and edgeHub both are; backing off when either waits to retry. */
  private runtimeStateChanged(): void {
    if (this.state === 'stopped' || this.state === 'failed') return;
    const agent = this.agent?.link.state;
    const hub = this.edgeHub?.link.state;
    if (agent === 'up' && hub === 'up') {
      this.connectedNow();
      this.setState('connected');
    } else if (agent === 'backoff' || hub === 'backoff') this.setState('backingOff');
    else this.setState('connecting');
  }

  /** Given up: the runtime and the gateway stop (what they had in flight counts as failed or stays in flight). */
  protected override gaveUp(): void {
    void this.agent?.close();
    void this.config.gateway?.close();
    void this.edgeHub?.close();
  }

  /** Every upstream connection of the device drops at once (edgeAgent, edgeHub, each module): a reconnect storm. */
  drop(): void {
    this.agent?.link.drop();
    this.edgeHub?.drop();
    this.config.gateway?.drop();
  }

  /** Modules stop producing and nothing reconnects; in-flight messages may still be acknowledged. */
  quiesce(): void {
    this.quiescing = true;
    this.agent?.quiesce();
    this.config.gateway?.quiesce();
  }

  /** Disconnects everything; what is still in flight stays counted as in flight. */
  async stop(): Promise<void> {
    this.setStopped();
    const agent = this.agent;
    const edgeHub = this.edgeHub;
    await agent?.close();
    await this.config.gateway?.close();
    await edgeHub?.close();
  }
}
