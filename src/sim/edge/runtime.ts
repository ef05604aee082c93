// A simulated IoT Edge device: provisions through the edge enrollment group, then runs the IoT Edge runtime
// as the real one behaves on the wire. edgeAgent reads the deployment from its twin, starts the modules it
// lists (in startupOrder) and reports their runtime status in the real schema; edgeHub applies the routes and
// holds one upstream connection per module identity, as the real edgeHub does with MQTT upstream. Modules talk
// to their edgeHub in process (function calls, no socket): what matters to the target is the upstream.
import type { ModuleBehaviour as ModuleBehaviourConfig } from '../../config/scenario.js';
import type { AzureTarget } from '../../endpoints/target.js';
import { splitHostPort } from '../../endpoints/target.js';
import { CREATION_TIME_PROPERTY, systemProperty, type PropertyBag } from '../../protocol/index.js';
import { classify, ClassifiedError } from '../../transport/errors.js';
import type { SimContext } from '../context.js';
import type { DeviceAuth } from '../device.js';
import { provision, type Assignment } from '../dps-client.js';
import { HubClient, type HubCredential } from '../hub-client.js';
import { TelemetryPacer } from '../telemetry-pacer.js';
import { PacedThing, type DeviceIdentityPlan, type TelemetrySource } from '../thing.js';
import { acknowledgement } from '../writable.js';
import { createBehaviour, type ModuleApi, type ModuleBehaviour } from './behaviours.js';
import { moduleKey, type IdentityEndpoint } from './identity-client.js';
import { compileRoutes, routeMessage, RouteError, type CompiledRoute, type RouteMessage, type RouteSpec } from './routes.js';

/** How each module of the deployment behaves (from the scenario), by module name. */
export interface EdgeDeviceConfig {
  modules: Record<string, { behaviour: ModuleBehaviourConfig; source?: () => TelemetrySource }>;
  /** For modules the scenario does not describe (a later deployment may add them). */
  fallback: ModuleBehaviourConfig;
}

/** One module as the deployment describes it. */
interface DesiredModule {
  name: string;
  status: 'running' | 'stopped';
  restartPolicy: string;
  startupOrder: number;
  version: string;
  image: string;
  createOptions: string;
  env: Record<string, string>;
  /** What must change for the module to be replaced. */
  fingerprint: string;
}

interface RunningModule {
  desired: DesiredModule;
  behaviour: ModuleBehaviour;
  upstream: HubClient | undefined;
  pacer: TelemetryPacer;
  startedAt: string;
  generation: number;
}

const RUNTIME_VERSION = { version: '1.4.0', build: 'edgefleet', commit: '' };
const TOKEN_TTL_SECONDS = 3600;
const DEFAULT_STARTUP_ORDER = 4294967295;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `modules` of the `$edgeAgent` desired properties; throws on a deployment edgeAgent would refuse. */
export function desiredModules(desired: Record<string, unknown>): DesiredModule[] {
  if (typeof desired.schemaVersion !== 'string') throw new Error('schemaVersion is missing');
  const modules = desired.modules ?? {};
  if (!isObject(modules)) throw new Error('modules must be an object');
  return Object.entries(modules).map(([name, raw]) => {
    if (!isObject(raw)) throw new Error(`modules.${name} must be an object`);
    const settings = isObject(raw.settings) ? raw.settings : {};
    if (typeof settings.image !== 'string') throw new Error(`modules.${name}.settings.image is missing`);
    const env: Record<string, string> = {};
    if (isObject(raw.env)) for (const [k, v] of Object.entries(raw.env)) if (isObject(v) && v.value !== undefined) env[k] = String(v.value);
    const m = {
      name,
      status: raw.status === 'stopped' ? 'stopped' as const : 'running' as const,
      restartPolicy: typeof raw.restartPolicy === 'string' ? raw.restartPolicy : 'always',
      startupOrder: typeof raw.startupOrder === 'number' ? raw.startupOrder : DEFAULT_STARTUP_ORDER,
      version: typeof raw.version === 'string' ? raw.version : '',
      image: settings.image,
      createOptions: typeof settings.createOptions === 'string' ? settings.createOptions : '{}',
      env,
    };
    return { ...m, fingerprint: JSON.stringify([m.image, m.version, m.env, m.createOptions]) };
  }).sort((a, b) => a.startupOrder - b.startupOrder || a.name.localeCompare(b.name));
}

export class SimEdgeDevice extends PacedThing {
  private assignment: Assignment | undefined;
  private agent: HubClient | undefined;
  private edgeHub: HubClient | undefined;
  private routes: CompiledRoute[] = [];
  private readonly modules = new Map<string, RunningModule>();
  /** Serializes deployments: a desired patch arriving mid-deployment waits for it. */
  private deploying: Promise<void> = Promise.resolve();
  private readonly agentStartedAt = new Date().toISOString();
  private readonly deviceKey: string | undefined;

  constructor(
    ctx: SimContext,
    private readonly target: AzureTarget,
    plan: DeviceIdentityPlan,
    private readonly auth: DeviceAuth,
    private readonly config: EdgeDeviceConfig,
  ) {
    // The device itself sends nothing; its modules do, each through its own upstream identity.
    super(ctx, plan, 0, { tick: () => [] });
    this.deviceKey = auth.kind === 'dps-x509' ? undefined : auth.deviceKey;
  }

  override get pendingAcks(): number {
    let n = 0;
    for (const m of this.modules.values()) n += m.pacer.pending;
    return n;
  }

  start(): void {
    this.ctx.scheduler.at(this.plan.arrivalAt, (intended) => void this.arrive(intended));
  }

  private async arrive(intended: number): Promise<void> {
    if (this.isStopped()) return;
    if (this.auth.kind === 'direct-sas') {
      this.assignment = { assignedHub: this.auth.gatewayHost ?? this.auth.hubHost, deviceId: this.deviceId };
    } else {
      this.setState('provisioning');
      const started = this.ctx.scheduler.now();
      try {
        this.assignment = await provision(
          this.ctx, this.target, this.deviceId,
          this.auth.kind === 'dps-sas' ? { kind: 'sas', deviceKey: this.auth.deviceKey } : { kind: 'x509', certPem: this.auth.certPem, keyPem: this.auth.keyPem },
          undefined, this.ctx.localAddress(this.plan.ordinal),
        );
        this.ctx.metrics.recordLatency('provision', intended, started, this.ctx.scheduler.now());
      } catch (err) {
        const e = classify(err);
        this.ctx.metrics.recordError(e.errorClass, `${this.deviceId}: ${e.message}`, 'provision');
        if (e.errorClass === 'auth' || e.errorClass === 'protocol') {
          this.setState('failed');
          return;
        }
        return this.retry(e, (at) => void this.arrive(at));
      }
    }
    await this.connectRuntime(this.ctx.scheduler.now());
  }

  private identityEndpoint(): IdentityEndpoint {
    const hubHost = this.assignment!.assignedHub;
    return {
      hubHost,
      dial: { host: splitHostPort(hubHost).host, port: this.target.hubHttpsPort },
      ...(this.target.caPem === undefined ? {} : { caPem: this.target.caPem }),
      timeoutMs: this.ctx.mqtt.operationTimeoutMs,
    };
  }

  /** Connects one identity of this device upstream (edgeAgent, edgeHub or a module), timing the connect. */
  private async connectIdentity(moduleId: string, key: string, intended: number, handlers: Parameters<typeof HubClient.connect>[2]): Promise<HubClient> {
    const hubHost = this.assignment!.assignedHub;
    const credential: HubCredential = { kind: 'sas', key };
    const started = this.ctx.scheduler.now();
    const localAddress = this.ctx.localAddress(this.plan.ordinal);
    const hub = await HubClient.connect(this.ctx, {
      identity: { deviceId: this.deviceId, moduleId }, hubHost, dial: splitHostPort(hubHost), credential,
      ...(this.target.caPem === undefined ? {} : { caPem: this.target.caPem }),
      ...(localAddress === undefined ? {} : { localAddress }),
      tokenTtlSeconds: TOKEN_TTL_SECONDS,
    }, handlers);
    this.ctx.metrics.recordLatency('connect', intended, started, this.ctx.scheduler.now());
    return hub;
  }

  private async connectRuntime(intended: number): Promise<void> {
    if (this.isStopped() || this.assignment === undefined) return;
    if (this.deviceKey === undefined) {
      this.ctx.metrics.recordError('auth', `${this.deviceId}: IoT Edge devices with X.509 need module keys this simulator cannot get`, 'connect');
      this.setState('failed');
      return;
    }
    this.setState('connecting');
    const generation = ++this.generation;
    try {
      const endpoint = this.identityEndpoint();
      const [agentKey, hubKey] = await Promise.all([
        moduleKey(endpoint, this.deviceId, this.deviceKey, '$edgeAgent', false),
        moduleKey(endpoint, this.deviceId, this.deviceKey, '$edgeHub', false),
      ]);
      const onLost = (err: ClassifiedError) => this.lost(generation, err);
      this.agent = await this.connectIdentity('$edgeAgent', agentKey, intended, {
        onDesired: () => this.redeploy(),
        onLost,
      });
      this.edgeHub = await this.connectIdentity('$edgeHub', hubKey, intended, {
        onDesired: () => void this.refreshRoutes(),
        onLost,
      });
      if (this.isStopped()) return void this.closeAll(false);
      this.attempt = 0;
      await this.refreshRoutes();
      await this.redeploy();
      if (generation === this.generation && !this.isStopped()) this.setState('connected');
    } catch (err) {
      const e = classify(err);
      this.ctx.metrics.recordError(e.errorClass, `${this.deviceId}: ${e.message}`, 'connect');
      await this.closeAll(true, e.message);
      this.retry(e, (at) => void this.connectRuntime(at));
    }
  }

  /** edgeHub's configuration: routes and store-and-forward, from its twin. */
  private async refreshRoutes(): Promise<void> {
    const edgeHub = this.edgeHub;
    if (edgeHub === undefined) return;
    const started = this.ctx.scheduler.now();
    const twin = await edgeHub.getTwin();
    this.ctx.metrics.recordLatency('twinGet', started, started, this.ctx.scheduler.now());
    const desired = twin.desired;
    let status = { code: 200, description: '' };
    try {
      const routes = isObject(desired.routes) ? desired.routes as Record<string, string | RouteSpec> : { route: 'FROM /* INTO $upstream' };
      this.routes = compileRoutes(routes);
    } catch (err) {
      status = { code: 400, description: err instanceof RouteError ? err.message : String(err) };
      this.ctx.log('warn', `${this.deviceId}: edgeHub refused its routes: ${status.description}`);
    }
    await this.report(edgeHub, { schemaVersion: '1.1', version: RUNTIME_VERSION, lastDesiredVersion: desired.$version, lastDesiredStatus: status });
  }

  private redeploy(): Promise<void> {
    // Desired patches may arrive in bursts; each deployment reads the whole desired section again.
    this.deploying = this.deploying.then(() => this.deploy()).catch((err) => {
      const e = classify(err);
      this.ctx.metrics.recordError(e.errorClass, `${this.deviceId}: deployment: ${e.message}`, 'twinGet');
    });
    return this.deploying;
  }

  /** edgeAgent: read the deployment, reconcile the modules with it, report. */
  private async deploy(): Promise<void> {
    const agent = this.agent;
    if (agent === undefined || this.isStopped()) return;
    const started = this.ctx.scheduler.now();
    const twin = await agent.getTwin();
    this.ctx.metrics.recordLatency('twinGet', started, started, this.ctx.scheduler.now());
    let wanted: DesiredModule[];
    try {
      wanted = desiredModules(twin.desired);
    } catch (err) {
      await this.report(agent, {
        lastDesiredVersion: twin.desired.$version,
        lastDesiredStatus: { code: 400, description: `ConfigFormatError: ${(err as Error).message}` },
      });
      return;
    }
    const byName = new Map(wanted.map((m) => [m.name, m]));
    const removed: string[] = [];
    for (const [name, running] of this.modules) {
      const next = byName.get(name);
      if (next === undefined || next.status === 'stopped' || next.fingerprint !== running.desired.fingerprint) {
        await this.stopModule(name);
        if (next === undefined) removed.push(name);
      }
    }
    for (const m of wanted) {
      if (m.status === 'running' && !this.modules.has(m.name)) await this.startModule(m);
    }
    const modules: Record<string, unknown> = {};
    for (const name of removed) modules[name] = null;
    for (const m of wanted) modules[m.name] = this.moduleReport(m);
    await this.report(agent, {
      schemaVersion: twin.desired.schemaVersion ?? '1.1',
      version: RUNTIME_VERSION,
      lastDesiredVersion: twin.desired.$version,
      lastDesiredStatus: { code: 200, description: '' },
      runtime: { type: 'docker', platform: { os: 'linux', architecture: 'x86_64', version: RUNTIME_VERSION.version } },
      systemModules: this.systemModulesReport(twin.desired),
      modules,
    });
    if (this.edgeHub !== undefined) await this.reportClients(this.edgeHub);
  }

  private systemModulesReport(desired: Record<string, unknown>): Record<string, unknown> {
    const system = isObject(desired.systemModules) ? desired.systemModules : {};
    const image = (name: string) => {
      const m = system[name];
      return isObject(m) && isObject(m.settings) && typeof m.settings.image === 'string' ? m.settings.image : '';
    };
    const common = { exitCode: 0, statusDescription: 'running', lastStartTimeUtc: this.agentStartedAt, lastExitTimeUtc: this.agentStartedAt, runtimeStatus: 'running', type: 'docker' };
    return {
      edgeAgent: { ...common, settings: { image: image('edgeAgent'), imageHash: '', createOptions: '{}' } },
      edgeHub: { ...common, status: 'running', restartPolicy: 'always', restartCount: 0, lastRestartTimeUtc: this.agentStartedAt, settings: { image: image('edgeHub'), imageHash: '', createOptions: '{}' } },
    };
  }

  private moduleReport(m: DesiredModule): Record<string, unknown> {
    const running = this.modules.get(m.name);
    const env: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(m.env)) env[k] = { value: v };
    return {
      runtimeStatus: running !== undefined ? 'running' : 'stopped',
      status: m.status,
      restartPolicy: m.restartPolicy,
      version: m.version,
      lastStartTimeUtc: running?.startedAt ?? '0001-01-01T00:00:00Z',
      lastExitTimeUtc: '0001-01-01T00:00:00Z',
      restartCount: 0,
      exitCode: 0,
      statusDescription: running !== undefined ? 'running' : 'stopped',
      type: 'docker',
      settings: { image: m.image, imageHash: '', createOptions: m.createOptions },
      env,
    };
  }

  private async reportClients(edgeHub: HubClient): Promise<void> {
    const clients: Record<string, unknown> = {};
    for (const [name, m] of this.modules) {
      if (m.upstream?.connected) clients[`${this.deviceId}/${name}`] = { status: 'connected', lastConnectedTimeUtc: m.startedAt };
    }
    await this.report(edgeHub, { clients });
  }

  private async report(hub: HubClient, patch: Record<string, unknown>): Promise<void> {
    const started = this.ctx.scheduler.now();
    try {
      await hub.patchReported(patch);
      this.ctx.metrics.recordLatency('reportedPatch', started, started, this.ctx.scheduler.now());
    } catch (err) {
      const e = classify(err);
      this.ctx.metrics.recordError(e.errorClass, `${this.deviceId}: ${e.message}`, 'reportedPatch');
    }
  }

  private async startModule(desired: DesiredModule): Promise<void> {
    const described = this.config.modules[desired.name];
    const behaviour = await createBehaviour(described?.behaviour ?? this.config.fallback, () => {
      if (described?.source === undefined) throw new Error(`module ${desired.name}: a dtdl behaviour needs a model`);
      return described.source();
    });
    const identity = `${this.deviceId}/${desired.name}`;
    const running: RunningModule = {
      desired, behaviour, upstream: undefined, startedAt: new Date().toISOString(), generation: 0,
      pacer: new TelemetryPacer(this.ctx, identity, this.plan.random, 0, { tick: () => [] }),
    };
    this.modules.set(desired.name, running);
    await this.connectModule(running, this.ctx.scheduler.now());
    if (this.modules.get(desired.name) !== running) return;
    behaviour.start(this.moduleApi(running));
  }

  /** The module's own upstream connection (held by edgeHub), its twin and its methods. */
  private async connectModule(running: RunningModule, intended: number): Promise<void> {
    const name = running.desired.name;
    const generation = ++running.generation;
    try {
      const key = await moduleKey(this.identityEndpoint(), this.deviceId, this.deviceKey!, name, true);
      const hub = await this.connectIdentity(name, key, intended, {
        onDesired: (patch, version) => this.moduleDesired(running, patch, version),
        onMethod: (method, rid, payload) => {
          let request: unknown = null;
          try {
            request = payload.length === 0 ? null : JSON.parse(payload.toString('utf8'));
          } catch {
            request = payload.toString('utf8');
          }
          const reply = running.behaviour.onMethod?.(method, request) ?? { status: 501, response: { message: `${name} has no method ${method}` } };
          hub.respondMethod(rid, reply.status, reply.response);
        },
        onLost: (err) => {
          if (running.generation !== generation || this.modules.get(name) !== running) return;
          running.upstream = undefined;
          running.pacer.connectionLost(err.message);
          if (this.isStopped()) return;
          this.ctx.metrics.recordError(err.errorClass, `${this.deviceId}/${name}: ${err.message}`, 'connect');
          this.ctx.scheduler.after(1000 + this.plan.random() * 1000, (at) => void this.connectModule(running, at));
        },
      });
      if (this.modules.get(name) !== running || this.isStopped()) return void hub.close();
      running.upstream = hub;
      const started = this.ctx.scheduler.now();
      const twin = await hub.getTwin();
      this.ctx.metrics.recordLatency('twinGet', started, started, this.ctx.scheduler.now());
      this.moduleDesired(running, twin.desired, twin.desired.$version);
    } catch (err) {
      const e = classify(err);
      this.ctx.metrics.recordError(e.errorClass, `${this.deviceId}/${name}: ${e.message}`, 'connect');
      if (this.modules.get(name) === running && !this.isStopped()) {
        this.ctx.scheduler.after(1000 + this.plan.random() * 2000, (at) => void this.connectModule(running, at));
      }
    }
  }

  /** A module's desired properties: to its behaviour, then acknowledged the IoT Central way. */
  private moduleDesired(running: RunningModule, desired: Record<string, unknown>, version: number): void {
    running.behaviour.onDesired?.(desired);
    const patch = acknowledgement(desired, version, { code: 200, description: 'completed' });
    const hub = running.upstream;
    if (patch === undefined || hub === undefined) return;
    const started = this.ctx.scheduler.now();
    hub.patchReported(patch).then(() => {
      const now = this.ctx.scheduler.now();
      this.ctx.metrics.recordLatency('reportedPatch', started, started, now);
      this.ctx.desiredAcknowledged(this.deviceId, running.desired.name, version, now);
    }, (err) => {
      const e = classify(err);
      this.ctx.metrics.recordError(e.errorClass, `${this.deviceId}/${running.desired.name}: ${e.message}`, 'reportedPatch');
    });
  }

  private moduleApi(running: RunningModule): ModuleApi {
    const name = running.desired.name;
    return {
      deviceId: this.deviceId,
      moduleId: name,
      env: running.desired.env,
      scheduler: this.ctx.scheduler,
      random: this.plan.random,
      sendOutput: (output, body, intendedAt, properties) => this.route(running, output, body, intendedAt, properties ?? {}),
      reportProperties: (patch) => {
        if (running.upstream !== undefined) void this.report(running.upstream, patch);
      },
    };
  }

  /** edgeHub: a module's output through the routes, to the cloud and to other modules' inputs. */
  private route(from: RunningModule, output: string, body: unknown, intendedAt: number, properties: Record<string, string>): void {
    if (this.isStopped()) return;
    const payload = Buffer.from(JSON.stringify(body));
    const message: RouteMessage = {
      source: { kind: 'module', moduleId: from.desired.name, output },
      properties,
      systemProperties: {
        contentType: 'application/json', contentEncoding: 'utf-8',
        connectionDeviceId: this.deviceId, connectionModuleId: from.desired.name, outputName: output,
      },
      body: payload,
    };
    const matched = routeMessage(this.routes, message);
    const m = this.ctx.metrics;
    if (matched.length === 0) {
      // Counted once: generated, and dropped by the routes.
      m.ledger.generated += 1;
      m.ledger.dropped += 1;
      return;
    }
    for (const route of matched) {
      if (route.sink.kind === 'moduleInput') {
        this.modules.get(route.sink.moduleId)?.behaviour.onInput?.(route.sink.input, message);
      } else {
        this.upstream(from, output, payload, intendedAt, properties);
      }
    }
  }

  private upstream(from: RunningModule, output: string, payload: Buffer, intendedAt: number, properties: Record<string, string>): void {
    const bag: PropertyBag = {
      ...properties,
      [systemProperty.outputName]: output,
      [systemProperty.contentType]: 'application/json',
      [systemProperty.contentEncoding]: 'utf-8',
      [CREATION_TIME_PROPERTY]: new Date(intendedAt).toISOString(),
    };
    from.pacer.send((_body, _component, _intended, done) => {
      const hub = from.upstream;
      // Store-and-forward comes with gateways; until then a message without an upstream fails.
      if (hub === undefined || !hub.connected) return done(new ClassifiedError('network', `${from.desired.name}: upstream not connected`));
      hub.sendTelemetry(payload, bag, 1, done);
    }, '', undefined, intendedAt);
  }

  private async stopModule(name: string): Promise<void> {
    const running = this.modules.get(name);
    if (running === undefined) return;
    this.modules.delete(name);
    running.behaviour.stop();
    running.generation++;
    running.pacer.abandon();
    await running.upstream?.close();
  }

  private lost(generation: number, err: ClassifiedError): void {
    if (generation !== this.generation || this.state === 'stopped') return;
    this.generation++;
    void this.closeAll(true, err.message).then(() => {
      if (this.isStopped()) return;
      this.ctx.metrics.recordError(err.errorClass, `${this.deviceId}: ${err.message}`, 'connect');
      this.retry(err, (at) => void this.connectRuntime(at));
    });
  }

  /** Closes every upstream connection; with `lostBecause`, what was in flight on them is lost. */
  private async closeAll(force: boolean, lostBecause?: string): Promise<void> {
    const agent = this.agent;
    const edgeHub = this.edgeHub;
    this.agent = undefined;
    this.edgeHub = undefined;
    for (const name of [...this.modules.keys()]) {
      if (lostBecause !== undefined) this.modules.get(name)?.pacer.connectionLost(lostBecause);
      await this.stopModule(name);
    }
    await Promise.all([agent?.close(force), edgeHub?.close(force)]);
  }

  drop(): void {
    if (this.agent === undefined) return;
    this.lost(this.generation, new ClassifiedError('network', 'connections dropped by the profile'));
  }

  quiesce(): void {
    this.quiescing = true;
    for (const m of this.modules.values()) m.behaviour.stop();
  }

  async stop(): Promise<void> {
    const previous = this.state;
    this.setState('stopped');
    this.generation++;
    for (const m of this.modules.values()) m.pacer.abandon();
    if (previous !== 'waiting') await this.closeAll(true);
  }
}
