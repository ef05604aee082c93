// edgeAgent: connects upstream as `{device}/$edgeAgent`, reads the deployment from its twin, runs the modules it
// lists (identity, upstream connection through edgeHub, behaviour) in startupOrder, reconciles on each new
// desired version, and reports runtime state in the real schema (docs/protocol.md §4.3) as a diff of its twin.
import { createHash } from 'node:crypto';
import type { ScheduledHandle } from '../../core/scheduler.js';
import { classify } from '../../transport/errors.js';
import { RetryState } from '../../transport/retry-policy.js';
import type { SimContext } from '../context.js';
import { Prng, seedFor } from '../model/random.js';
import { acknowledgement } from '../writable.js';
import { EDGE_RUNTIME_VERSION, type EdgeHub, type ModuleClientOwner } from './edge-hub.js';
import {
  IdentityLink,
  isObject,
  runtimeDecision,
  type DeviceRecovery,
  type HubEndpoint,
  type IdentityService,
  type JsonObject,
  type LinkState,
  type MethodReply,
} from './module-identity.js';
import {
  chooseModuleConfig,
  createBehaviour,
  type ModuleApi,
  type ModuleBehaviour,
  type ModuleConfig,
  type TelemetrySourceSpec,
} from './modules/index.js';
import {
  DeploymentError,
  parseDeployment,
  type Deployment,
  type DesiredModule,
} from '../../deployment/edge-agent-desired.js';

export {
  DeploymentError,
  parseDeployment,
  type Deployment,
  type DesiredModule,
  type RestartPolicy,
} from '../../deployment/edge-agent-desired.js';

/** edgeAgent's own reported schema (IoTHubReporter.CurrentReportedPropertiesSchemaVersion). */
const REPORTED_SCHEMA_VERSION = '1.0';
/** Docker's "never": the time edgeAgent reports for a module that has not started or exited. */
const NEVER = '0001-01-01T00:00:00Z';
/** Restart cool-off after a crash: 10 s doubling per restart, at most 5 min (edgeAgent's RestartPolicyManager). */
const COOL_OFF_UNIT_MS = 10_000;
const MAX_COOL_OFF_MS = 300_000;

export type RuntimeStatus = 'running' | 'stopped' | 'backoff' | 'failed' | 'unknown';

/** A stable stand-in for the digest docker would report for an image. */
const imageHash = (image: string) => `sha256:${createHash('sha256').update(image).digest('hex')}`;

interface HostedModule {
  spec: DesiredModule;
  config: ModuleConfig;
  runtimeStatus: RuntimeStatus;
  statusDescription: string;
  exitCode: number;
  restartCount: number;
  lastStartTimeUtc: string;
  lastExitTimeUtc: string;
  lastRestartTimeUtc: string | undefined;
  behaviour: ModuleBehaviour | undefined;
  /** The behaviour has been started (its twin was read). */
  started: boolean;
  link: IdentityLink | undefined;
  key: string | undefined;
  random: () => number;
  /** Bumped when the module stops: callbacks of an earlier run are ignored. */
  generation: number;
  /** Fetching its identity's key, for the retry policy. */
  recovery: RetryState;
  timer: ScheduledHandle | undefined;
}

export interface EdgeAgentOptions {
  deviceId: string;
  endpoint: HubEndpoint;
  identities: IdentityService;
  edgeHub: EdgeHub;
  /** The `$edgeAgent` identity's key. */
  key: (refresh: boolean) => Promise<string>;
  random: () => number;
  seed: number;
  modules: Record<string, ModuleConfig>;
  fallback?: ModuleConfig;
  telemetrySources?: Record<string, TelemetrySourceSpec>;
  mayReconnect: () => boolean;
  /** False once the device quiesces: modules stop producing. */
  mayProduce: () => boolean;
  onState: (state: LinkState) => void;
  /** What its identities' failures ask of the device (register again, give up). */
  device: DeviceRecovery;
}

export class EdgeAgent {
  readonly link: IdentityLink;
  private readonly modules = new Map<string, HostedModule>();
  private deployment: Deployment | undefined;
  private lastDesiredVersion: number | undefined;
  private lastDesiredStatus = { code: 200, description: '' };
  private pending: { desired: JsonObject; version: number } | undefined;
  private reconciling = false;
  private idle: (() => void)[] = [];
  private closed = false;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly ctx: SimContext,
    private readonly opts: EdgeAgentOptions,
  ) {
    this.link = new IdentityLink(
      ctx,
      {
        deviceId: opts.deviceId,
        moduleId: '$edgeAgent',
        endpoint: opts.endpoint,
        key: opts.key,
        random: opts.random,
        mayReconnect: opts.mayReconnect,
        device: opts.device,
      },
      {
        onUp: (desired, version) => this.requestReconcile(desired, version),
        onDesired: (_patch, version, desired) => this.requestReconcile(desired, version),
        onMethod: (name, request) => this.method(name, request),
        onState: opts.onState,
      },
    );
  }

  start(intendedAt: number): void {
    this.link.start(intendedAt);
  }

  /** Module ids and their runtime status (for tests and diagnostics). */
  moduleStatus(): Record<string, RuntimeStatus> {
    return Object.fromEntries([...this.modules].map(([name, m]) => [name, m.runtimeStatus]));
  }

  /** Messages of identities the modules hold (identity translation) not yet acknowledged. */
  get pendingAcks(): number {
    let n = 0;
    for (const hosted of this.modules.values()) n += hosted.behaviour?.pendingAcks ?? 0;
    return n;
  }

  /** The behaviour instance of a running module (for tests). */
  behaviourOf(name: string): ModuleBehaviour | undefined {
    return this.modules.get(name)?.behaviour;
  }

  /** Resolves when no deployment is being applied. */
  settled(): Promise<void> {
    if (!this.reconciling) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  // ---- deployment ----------------------------------------------------------------------------------------------

  private requestReconcile(desired: JsonObject, version: number): void {
    // Only the newest desired state matters: a burst of patches is applied once.
    this.pending = { desired: structuredClone(desired), version };
    if (!this.reconciling) void this.reconcileLoop();
  }

  private async reconcileLoop(): Promise<void> {
    this.reconciling = true;
    try {
      while (this.pending !== undefined && !this.closed) {
        const { desired, version } = this.pending;
        this.pending = undefined;
        try {
          await this.reconcile(desired, version);
        } catch (err) {
          const e = classify(err);
          this.ctx.log('warn', `${this.opts.deviceId}: deployment ${version} failed: ${e.message}`);
          this.lastDesiredVersion = version;
          this.lastDesiredStatus = { code: 500, description: `Failed: ${e.message}` };
          this.report();
        }
      }
    } finally {
      this.reconciling = false;
      const idle = this.idle;
      this.idle = [];
      for (const w of idle) w();
    }
  }

  private async reconcile(desired: JsonObject, version: number): Promise<void> {
    let deployment: Deployment;
    try {
      deployment = parseDeployment(desired);
    } catch (err) {
      if (!(err instanceof DeploymentError)) throw err;
      // A deployment edgeAgent refuses changes nothing; it says why.
      this.lastDesiredVersion = version;
      this.lastDesiredStatus = { code: err.code, description: err.message };
      this.ctx.log('warn', `${this.opts.deviceId}: edgeAgent refused deployment ${version}: ${err.message}`);
      this.report();
      return;
    }
    this.deployment = deployment;
    const wanted = new Map(deployment.modules.map((m) => [m.name, m]));
    // What goes, what changes, what is now stopped.
    for (const [name, hosted] of [...this.modules]) {
      const next = wanted.get(name);
      if (next === undefined || next.fingerprint !== hosted.spec.fingerprint) {
        await this.stopModule(hosted, next === undefined ? 'removed' : 'replaced');
        this.modules.delete(name);
        // Like the identity service, remove the identity of a module the deployment dropped.
        if (next === undefined) void this.deleteIdentity(name);
      } else {
        hosted.spec = next;
        if (next.status === 'stopped' && hosted.runtimeStatus !== 'stopped') await this.stopModule(hosted, 'stopped');
      }
    }
    this.report();
    if (this.closed) return;
    // Modules talk to edgeHub, so they start once it has its routes.
    await this.opts.edgeHub.ready();
    const toStart: DesiredModule[] = [];
    for (const spec of deployment.modules) {
      let hosted = this.modules.get(spec.name);
      if (hosted === undefined) {
        hosted = this.host(spec);
        this.modules.set(spec.name, hosted);
      }
      if (spec.status === 'running' && hosted.runtimeStatus === 'stopped') toStart.push(spec);
    }
    // Lower startupOrder first; the same order starts together; the next group waits for the previous one.
    const orders = [...new Set(toStart.map((m) => m.startupOrder))].sort((a, b) => a - b);
    for (const order of orders) {
      if (this.closed) return;
      await Promise.all(
        toStart.filter((m) => m.startupOrder === order).map((m) => this.startModule(this.modules.get(m.name)!)),
      );
    }
    this.lastDesiredVersion = version;
    this.lastDesiredStatus = { code: 200, description: '' };
    this.report();
  }

  private host(spec: DesiredModule): HostedModule {
    const prng = new Prng(seedFor(this.opts.seed, spec.name));
    return {
      spec,
      config: chooseModuleConfig(spec.image, this.opts.modules[spec.name], this.opts.fallback),
      runtimeStatus: 'stopped',
      statusDescription: 'stopped',
      exitCode: 0,
      restartCount: 0,
      lastStartTimeUtc: NEVER,
      lastExitTimeUtc: NEVER,
      lastRestartTimeUtc: undefined,
      behaviour: undefined,
      started: false,
      link: undefined,
      key: undefined,
      random: () => prng.next(),
      generation: 0,
      recovery: new RetryState(),
      timer: undefined,
    };
  }

  private async moduleKey(hosted: HostedModule, refresh: boolean): Promise<string> {
    if (hosted.key === undefined || refresh)
      hosted.key = (await this.opts.identities.create(hosted.spec.name)).primaryKey;
    return hosted.key;
  }

  private async deleteIdentity(name: string): Promise<void> {
    try {
      await this.opts.identities.delete(name);
    } catch (err) {
      const e = classify(err);
      if (e.status === 404) return;
      this.ctx.metrics.recordError(e.errorClass, `${this.opts.deviceId}/${name}: ${e.message}`, 'provision');
    }
  }

  /** Identity, behaviour, upstream connection; resolves once the first connection attempt is over. */
  private async startModule(hosted: HostedModule): Promise<void> {
    const generation = ++hosted.generation;
    hosted.timer?.cancel();
    if (!(await this.fetchModuleKey(hosted, generation))) return;
    hosted.recovery.connected();
    const behaviour = await this.createModuleBehaviour(hosted, generation);
    if (behaviour === undefined || generation !== hosted.generation || this.closed) return;
    hosted.behaviour = behaviour;
    hosted.started = false;
    hosted.runtimeStatus = 'running';
    hosted.statusDescription = 'running';
    hosted.exitCode = 0;
    hosted.lastStartTimeUtc = new Date().toISOString();
    const owner = this.moduleOwner(hosted, behaviour, generation);
    const link = this.opts.edgeHub.attach(hosted.spec.name, (refresh) => this.moduleKey(hosted, refresh), owner);
    hosted.link = link;
    this.report();
    await link.firstAttempt();
  }

  /** The module identity's key; false when it could not be had (a retry is scheduled when the policy says so). */
  private async fetchModuleKey(hosted: HostedModule, generation: number): Promise<boolean> {
    try {
      await this.moduleKey(hosted, false);
      return true;
    } catch (err) {
      if (generation !== hosted.generation || this.closed || !this.opts.mayReconnect()) return false;
      const e = classify(err);
      const who = `${this.opts.deviceId}/${hosted.spec.name}`;
      const decision = runtimeDecision(this.ctx, hosted.recovery, this.opts.device, e, 'moduleKey', who, hosted.random);
      if (decision === undefined) return false;
      hosted.runtimeStatus = 'backoff';
      hosted.statusDescription = `module identity: ${e.message}`;
      this.report();
      hosted.timer = this.ctx.scheduler.after(decision.delayMs, () => {
        if (generation === hosted.generation && !this.closed && this.opts.mayReconnect()) void this.startModule(hosted);
      });
      return false;
    }
  }

  /** The module's behaviour; undefined when it cannot be built (the module is failed: no restart helps). */
  private async createModuleBehaviour(hosted: HostedModule, generation: number): Promise<ModuleBehaviour | undefined> {
    const name = hosted.spec.name;
    try {
      const seed = seedFor(this.opts.seed, name, 'behaviour');
      return await createBehaviour(name, hosted.config, seed, this.opts.telemetrySources?.[name]);
    } catch (err) {
      if (generation !== hosted.generation) return undefined;
      hosted.runtimeStatus = 'failed';
      hosted.exitCode = 1;
      hosted.statusDescription = `failed: ${(err as Error).message}`;
      this.ctx.metrics.recordError('other', `${this.opts.deviceId}/${name}: ${(err as Error).message}`);
      this.report();
      return undefined;
    }
  }

  /** What the module's upstream connection hands to its behaviour: twin, methods, inputs. */
  private moduleOwner(hosted: HostedModule, behaviour: ModuleBehaviour, generation: number): ModuleClientOwner {
    return {
      onUp: (desired, version) =>
        this.guard(hosted, generation, () => {
          // After each (re)connect the whole desired section: patches sent meanwhile are not replayed.
          behaviour.onDesired?.(desired, version);
          this.acknowledge(hosted, desired, version);
          if (!hosted.started && this.opts.mayProduce()) {
            hosted.started = true;
            behaviour.start(this.api(hosted, generation));
          }
        }),
      onDesired: (patch, version) =>
        this.guard(hosted, generation, () => {
          behaviour.onDesired?.(patch, version);
          this.acknowledge(hosted, patch, version);
        }),
      onMethod: (method, request) => {
        let reply: MethodReply | undefined;
        this.guard(hosted, generation, () => {
          if (hosted.started) reply = behaviour.onMethod?.(method, request);
        });
        return reply;
      },
      onInput: (input, body, properties) =>
        this.guard(hosted, generation, () => {
          if (hosted.started) behaviour.onInput?.(input, body, properties);
        }),
    };
  }

  /** Runs a behaviour callback; a throw is the module crashing. */
  private guard(hosted: HostedModule, generation: number, f: () => void): void {
    if (generation !== hosted.generation || this.closed) return;
    try {
      f();
    } catch (err) {
      void this.crashed(hosted, err as Error);
    }
  }

  private async crashed(hosted: HostedModule, err: Error): Promise<void> {
    const name = hosted.spec.name;
    this.ctx.log('warn', `${this.opts.deviceId}/${name} crashed: ${err.message}`);
    this.ctx.metrics.recordError('other', `${this.opts.deviceId}/${name} crashed: ${err.message}`);
    await this.stopModule(hosted, 'crashed');
    hosted.exitCode = 1;
    hosted.statusDescription = `crashed: ${err.message}`;
    if (hosted.spec.restartPolicy === 'never' || this.closed) {
      hosted.runtimeStatus = 'failed';
      this.report();
      return;
    }
    // Restarted after a cool-off that doubles with each restart, as edgeAgent does.
    hosted.runtimeStatus = 'backoff';
    this.report();
    const generation = hosted.generation;
    const coolOff = Math.min(COOL_OFF_UNIT_MS * 2 ** hosted.restartCount, MAX_COOL_OFF_MS);
    hosted.timer = this.ctx.scheduler.after(coolOff, () => {
      if (
        generation !== hosted.generation ||
        this.closed ||
        this.modules.get(name) !== hosted ||
        !this.opts.mayProduce()
      )
        return;
      hosted.restartCount += 1;
      hosted.lastRestartTimeUtc = new Date().toISOString();
      void this.startModule(hosted).then(() => this.report());
    });
  }

  private api(hosted: HostedModule, generation: number): ModuleApi {
    const name = hosted.spec.name;
    const live = () => generation === hosted.generation && hosted.started && !this.closed && this.opts.mayProduce();
    return {
      deviceId: this.opts.deviceId,
      moduleId: name,
      env: hosted.spec.env,
      scheduler: this.ctx.scheduler,
      random: hosted.random,
      sendOutput: (output, body, properties, intendedAtMs) => {
        if (!live()) return;
        const payload = Buffer.isBuffer(body)
          ? body
          : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
        this.opts.edgeHub.send(name, output, payload, properties ?? {}, intendedAtMs ?? this.ctx.scheduler.now());
      },
      reportProperties: (patch) => {
        if (generation === hosted.generation) void hosted.link?.patch(patch);
      },
    };
  }

  /**
   * Writable properties acknowledged the IoT Central way, as SimDevice does; what is already acknowledged is not
   * sent again.
   */
  private acknowledge(hosted: HostedModule, desired: JsonObject, version: number): void {
    const link = hosted.link;
    const patch = acknowledgement(desired, version, { code: 200, description: 'completed' });
    if (patch === undefined || link === undefined) return;
    const reported = link.reportedSection();
    for (const [key, ack] of Object.entries(patch)) {
      if (JSON.stringify(reported[key]) === JSON.stringify(ack)) delete patch[key];
    }
    if (Object.keys(patch).length === 0) return;
    void link.patch(patch).then((ok) => {
      if (ok) this.ctx.desiredAcknowledged(this.opts.deviceId, hosted.spec.name, version, this.ctx.scheduler.now());
    });
  }

  private async stopModule(hosted: HostedModule, why: string): Promise<void> {
    hosted.generation++;
    hosted.timer?.cancel();
    hosted.timer = undefined;
    const behaviour = hosted.behaviour;
    hosted.behaviour = undefined;
    const wasUp = hosted.started || hosted.link !== undefined;
    hosted.started = false;
    try {
      await behaviour?.stop();
    } catch (err) {
      this.ctx.log('warn', `${this.opts.deviceId}/${hosted.spec.name}: stop failed: ${(err as Error).message}`);
    }
    hosted.link = undefined;
    await this.opts.edgeHub.detach(hosted.spec.name);
    hosted.runtimeStatus = 'stopped';
    hosted.statusDescription = why;
    hosted.exitCode = 0;
    if (wasUp) hosted.lastExitTimeUtc = new Date().toISOString();
  }

  /** Stops producing: behaviours stop; connections stay for what is in flight. */
  quiesce(): void {
    for (const hosted of this.modules.values()) {
      hosted.timer?.cancel();
      try {
        const behaviour = hosted.behaviour;
        if (behaviour?.quiesce !== undefined) behaviour.quiesce();
        else void behaviour?.stop();
      } catch {
        // stopping is best effort
      }
      hosted.started = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pending = undefined;
    const stopping: Promise<void>[] = [];
    for (const hosted of this.modules.values()) {
      hosted.generation++;
      hosted.timer?.cancel();
      try {
        const done = hosted.behaviour?.stop();
        if (done !== undefined) stopping.push(done.catch(() => undefined));
      } catch {
        // stopping is best effort
      }
    }
    await Promise.all(stopping);
    await this.link.close();
  }

  // ---- methods and reporting -----------------------------------------------------------------------------------

  private method(name: string, request: unknown): MethodReply {
    switch (name) {
      case 'ping':
        return { status: 200 };
      case 'RestartModule': {
        const id = isObject(request) && typeof request.id === 'string' ? request.id : undefined;
        const hosted = id === undefined ? undefined : this.modules.get(id);
        if (hosted === undefined || hosted.spec.status !== 'running') {
          return { status: 400, response: { message: `no running module ${JSON.stringify(id ?? null)} to restart` } };
        }
        void this.stopModule(hosted, 'restarting')
          .then(() => {
            hosted.restartCount += 1;
            hosted.lastRestartTimeUtc = new Date().toISOString();
            return this.startModule(hosted);
          })
          .then(() => this.report());
        return { status: 200 };
      }
      case 'GetModuleLogs':
      case 'UploadModuleLogs':
      case 'UploadSupportBundle':
      case 'GetTaskStatus':
        return { status: 501, response: { message: `${name} is not simulated` } };
      default:
        return { status: 400, response: { message: `Command ${name} not found` } };
    }
  }

  private moduleReport(hosted: HostedModule): JsonObject {
    const s = hosted.spec;
    const env: JsonObject = {};
    for (const [k, v] of Object.entries(s.env)) env[k] = { value: v };
    return {
      runtimeStatus: hosted.runtimeStatus,
      statusDescription: hosted.statusDescription,
      exitCode: hosted.exitCode,
      lastStartTimeUtc: hosted.lastStartTimeUtc,
      lastExitTimeUtc: hosted.lastExitTimeUtc,
      restartCount: hosted.restartCount,
      ...(hosted.lastRestartTimeUtc === undefined ? {} : { lastRestartTimeUtc: hosted.lastRestartTimeUtc }),
      version: s.version,
      status: s.status,
      restartPolicy: s.restartPolicy,
      ...(s.explicit.imagePullPolicy ? { imagePullPolicy: s.imagePullPolicy } : {}),
      ...(s.explicit.startupOrder ? { startupOrder: s.startupOrder } : {}),
      type: s.type,
      settings: { image: s.image, imageHash: imageHash(s.image), createOptions: s.createOptions },
      env,
    };
  }

  private report(): void {
    if (this.closed) return;
    const d = this.deployment;
    const modules: JsonObject = {};
    for (const [name, hosted] of this.modules) modules[name] = this.moduleReport(hosted);
    const system = (which: 'edgeAgent' | 'edgeHub') => {
      const image = d?.systemModules[which].image ?? '';
      return {
        type: 'docker',
        runtimeStatus: 'running',
        statusDescription: 'running',
        exitCode: 0,
        lastStartTimeUtc: this.startedAt,
        lastExitTimeUtc: NEVER,
        imagePullPolicy: 'on-create',
        settings: { image, imageHash: imageHash(image), createOptions: d?.systemModules[which].createOptions ?? '{}' },
        ...(which === 'edgeHub'
          ? { status: 'running', restartPolicy: 'always', restartCount: 0, lastRestartTimeUtc: this.startedAt }
          : {}),
      };
    };
    this.link.report({
      schemaVersion: REPORTED_SCHEMA_VERSION,
      version: EDGE_RUNTIME_VERSION,
      ...(this.lastDesiredVersion === undefined
        ? {}
        : { lastDesiredVersion: this.lastDesiredVersion, lastDesiredStatus: this.lastDesiredStatus }),
      runtime: {
        type: 'docker',
        platform: { os: 'linux', architecture: 'x86_64', version: EDGE_RUNTIME_VERSION.version },
        ...(d === undefined || Object.keys(d.runtime.settings).length === 0 ? {} : { settings: d.runtime.settings }),
      },
      systemModules: { edgeAgent: system('edgeAgent'), edgeHub: system('edgeHub') },
      modules,
    });
  }
}
