// edgeHub: connects upstream as `{device}/$edgeHub`, takes its routes and store-and-forward settings from its
// twin, and carries module messages. Modules talk to it in process; upstream it holds one MQTT connection per
// module identity (`{device}/{module}`), as the real edgeHub does with MQTT upstream, so the cloud sees each
// module as itself.
import { CREATION_TIME_PROPERTY, splitProperties, systemProperty, type PropertyBag } from '../../protocol/index.js';
import { ClassifiedError } from '../../transport/errors.js';
import type { SimContext } from '../context.js';
import { TelemetryPacer } from '../telemetry-pacer.js';
import type { HubClient } from '../hub-client.js';
import {
  IdentityLink,
  type DeviceRecovery,
  type HubEndpoint,
  type JsonObject,
  type LinkState,
  type MethodReply,
} from './module-identity.js';
import { MessageStore } from './message-store.js';
import { routeMessage, type CompiledRoute, type RouteMessage } from './routes.js';
import { DEFAULT_TTL_SECONDS, edgeHubConfig } from '../../deployment/edge-hub-desired.js';

export { edgeHubConfig } from '../../deployment/edge-hub-desired.js';

/** edgeHub's own reported schema (EdgeHubConnection.ReportedProperties.CurrentSchemaVersion). */
const REPORTED_SCHEMA_VERSION = '1.0';
const NO_EVENTS = { tick: () => [] };
/** Stored messages a gateway holds at most, over all its identities (edgeHub bounds its store by disk). */
export const DEFAULT_STORE_CAPACITY = 100_000;
/** Stored messages sent ahead of their acknowledgements when an upstream comes back, per identity. */
const DRAIN_IN_FLIGHT = 32;
const SCAN_INTERVAL_MS = 1000;

/** A message bound upstream, stored or on the wire: what putting it back in the store needs. */
interface StoredMessage {
  body: Buffer;
  bag: PropertyBag;
  intendedAt: number;
  priority: number | undefined;
  /** Scheduler ms at which its time to live runs out, counted from when edgeHub took it. */
  expiresAt: number;
  /** It was on the wire when its leg went: sending it from the store again counts as a resend. */
  resend?: boolean;
}

/** Draining of one upstream leg: stored messages sent and not yet settled. */
interface DrainState {
  generation: number;
  inFlight: number;
}

export const EDGE_RUNTIME_VERSION = { version: '1.4.0', build: 'edgefleet', commit: '' };

/** What a module host wants from its module's upstream identity. */
export interface ModuleClientOwner {
  /** Connected and the module twin read (the whole desired section). */
  onUp(desired: JsonObject, version: number): void;
  onDesired(patch: JsonObject, version: number): void;
  onMethod(name: string, request: unknown): MethodReply | undefined;
  onInput(input: string, body: Buffer, properties: Readonly<Record<string, string>>): void;
}

/** One identity's upstream leg: a module's, or a downstream device's (gateway-server.ts). */
export interface UpstreamLeg {
  link: { readonly hub: HubClient | undefined; readonly identity: string };
  /** Ledger of what goes upstream as this identity: generated, in flight, acknowledged, failed. */
  pacer: TelemetryPacer;
}

interface ModuleClient extends UpstreamLeg {
  moduleId: string;
  link: IdentityLink;
  owner: ModuleClientOwner;
}

interface ClientStatus {
  status: 'Connected' | 'Disconnected';
  lastConnectedTimeUtc?: string;
  lastDisconnectedTimeUtc?: string;
}

export interface EdgeHubOptions {
  deviceId: string;
  endpoint: HubEndpoint;
  /** The `$edgeHub` identity's key. */
  key: (refresh: boolean) => Promise<string>;
  random: () => number;
  mayReconnect: () => boolean;
  onState: (state: LinkState) => void;
  /** What its identities' failures ask of the device (register again, give up). */
  device: DeviceRecovery;
  /** Most messages the store-and-forward store holds (default DEFAULT_STORE_CAPACITY). */
  storeCapacity?: number;
}

/** edgeHub encodes '.', '$' and ' ' in the client ids it reports (TwinManager.EncodeTwinKey). */
const twinKey = (id: string) => id.replace(/[.$ ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export class EdgeHub {
  readonly link: IdentityLink;
  private routes: CompiledRoute[] = [];
  private timeToLiveSecs = DEFAULT_TTL_SECONDS;
  private readonly clients = new Map<string, ModuleClient>();
  private readonly clientStatus = new Map<string, ClientStatus>();
  private lastDesiredVersion: number | undefined;
  private lastDesiredStatus = { code: 200, description: '' };
  private configured = false;
  private readyWaiters: (() => void)[] = [];
  private closed = false;
  private readonly store: MessageStore<StoredMessage>;
  private readonly drains = new WeakMap<UpstreamLeg, DrainState>();
  private scanning = false;

  constructor(
    private readonly ctx: SimContext,
    private readonly opts: EdgeHubOptions,
  ) {
    const ledger = ctx.metrics.ledger;
    this.store = new MessageStore<StoredMessage>({
      capacity: opts.storeCapacity ?? DEFAULT_STORE_CAPACITY,
      now: () => ctx.scheduler.now(),
      onExpired: () => {
        ledger.stored -= 1;
        ledger.expired += 1;
      },
      onFull: (capacity) =>
        ctx.log(
          'warn',
          `${opts.deviceId}: edgeHub's store is full (${capacity} messages): the oldest lowest-priority messages expire`,
        ),
    });
    this.link = new IdentityLink(
      ctx,
      {
        deviceId: opts.deviceId,
        moduleId: '$edgeHub',
        endpoint: opts.endpoint,
        key: opts.key,
        random: opts.random,
        mayReconnect: opts.mayReconnect,
        device: opts.device,
      },
      {
        onUp: (desired, version) => this.configure(desired, version),
        onDesired: (_patch, version, desired) => this.configure(desired, version),
        onMethod: (name) =>
          name === 'RefreshDeviceScopeIdentityCache'
            ? { status: 200 }
            : { status: 404, response: { message: `Method ${name} is not supported` } },
        onState: opts.onState,
      },
    );
  }

  start(intendedAt: number): void {
    this.link.start(intendedAt);
  }

  /** Resolves once edgeHub has its first configuration: modules start after it, as on a real device. */
  ready(): Promise<void> {
    if (this.configured || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Messages in flight upstream, and those stored for later (the run's drain waits for both). */
  get pendingAcks(): number {
    let n = this.store.size();
    for (const c of this.clients.values()) n += c.pacer.pending;
    return n;
  }

  /** The routes in force (for tests and diagnostics). */
  get compiledRoutes(): readonly CompiledRoute[] {
    return this.routes;
  }

  get storeAndForwardTtlSecs(): number {
    return this.timeToLiveSecs;
  }

  /** Messages held in the store-and-forward store (all identities, or one). */
  storedCount(identity?: string): number {
    return this.store.size(identity);
  }

  private configure(desired: JsonObject, version: number): void {
    try {
      const config = edgeHubConfig(desired);
      this.routes = config.routes;
      this.timeToLiveSecs = config.timeToLiveSecs;
      this.lastDesiredStatus = { code: 200, description: '' };
    } catch (err) {
      // A bad configuration changes nothing; edgeHub reports why.
      this.lastDesiredStatus = { code: 400, description: (err as Error).message };
      this.ctx.log('warn', `${this.opts.deviceId}: edgeHub refused its configuration: ${(err as Error).message}`);
    }
    this.lastDesiredVersion = version;
    if (!this.configured) {
      this.configured = true;
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) w();
    }
    this.report();
  }

  private report(): void {
    const clients: JsonObject = {};
    for (const [id, s] of this.clientStatus) clients[twinKey(id)] = { ...s };
    this.link.report({
      schemaVersion: REPORTED_SCHEMA_VERSION,
      version: EDGE_RUNTIME_VERSION,
      ...(this.lastDesiredVersion === undefined
        ? {}
        : { lastDesiredVersion: this.lastDesiredVersion, lastDesiredStatus: this.lastDesiredStatus }),
      clients,
    });
  }

  private setClientStatus(moduleId: string, connected: boolean): void {
    const id = `${this.opts.deviceId}/${moduleId}`;
    const now = new Date().toISOString();
    this.clientStatus.set(
      id,
      connected
        ? { status: 'Connected', lastConnectedTimeUtc: now }
        : { status: 'Disconnected', lastDisconnectedTimeUtc: now },
    );
    this.report();
  }

  /** A downstream device connected to (or left) this gateway: listed in `clients` only while connected. */
  downstreamConnected(deviceId: string, connected: boolean): void {
    if (connected)
      this.clientStatus.set(deviceId, { status: 'Connected', lastConnectedTimeUtc: new Date().toISOString() });
    else this.clientStatus.delete(deviceId);
    if (!this.closed) this.report();
  }

  /**
   * A downstream device's message, through the routes (it has no $connectionModuleId): upstream as that device
   * on its own leg, or to module inputs. `generatedElsewhere`: the device counted it as generated already.
   * False when edgeHub is stopping and takes nothing.
   */
  forwardFromDevice(
    leg: UpstreamLeg,
    deviceId: string,
    body: Buffer,
    properties: PropertyBag,
    intendedAt: number,
    generatedElsewhere: boolean,
  ): boolean {
    if (this.closed) return false;
    const { system, application } = splitProperties(properties);
    const message: RouteMessage = {
      source: { kind: 'device', deviceId },
      properties: application,
      systemProperties: { ...system, connectionDeviceId: deviceId },
      body,
    };
    const matched = routeMessage(this.routes, message);
    if (matched.length === 0) {
      if (!generatedElsewhere) this.ctx.metrics.ledger.generated += 1;
      this.ctx.metrics.ledger.dropped += 1;
      return true;
    }
    for (const route of matched) {
      const sink = route.sink;
      if (sink.kind === 'upstream')
        this.upstream(
          leg,
          '',
          body,
          properties,
          intendedAt,
          route.priority,
          route.timeToLiveSecs ?? this.timeToLiveSecs,
          generatedElsewhere,
        );
      else this.deliver(undefined, sink.moduleId, sink.input, body, application, properties, deviceId);
    }
    return true;
  }

  /** A downstream device's upstream leg is connected again: what was stored for it goes first. */
  upstreamBack(leg: UpstreamLeg): void {
    this.drainStopped(leg);
    this.pump(leg);
  }

  /**
   * A leg's upstream connection went: what was on the wire goes back in front of the store, in order, keeping its
   * time to live, and is sent again first when the leg is back (as the real edgeHub resends what was not acknowledged).
   */
  upstreamDown(leg: UpstreamLeg): void {
    this.drainStopped(leg);
    const back = leg.pacer.withdraw<StoredMessage>();
    if (back.length === 0) return;
    const ledger = this.ctx.metrics.ledger;
    const identity = leg.link.identity;
    for (let i = back.length - 1; i >= 0; i--) {
      const message = back[i]!.tag!;
      ledger.stored += 1;
      message.resend = true;
      this.store.putBack(identity, message, message.priority, message.expiresAt);
    }
    this.scanSoon();
  }

  /** Opens the upstream connection of a module identity; its twin, methods and inputs go to `owner`. */
  attach(moduleId: string, key: (refresh: boolean) => Promise<string>, owner: ModuleClientOwner): IdentityLink {
    const identity = `${this.opts.deviceId}/${moduleId}`;
    const pacer = new TelemetryPacer(this.ctx, identity, this.opts.random, 0, NO_EVENTS);
    const link: IdentityLink = new IdentityLink(
      this.ctx,
      {
        deviceId: this.opts.deviceId,
        moduleId,
        endpoint: this.opts.endpoint,
        key,
        random: this.opts.random,
        mayReconnect: this.opts.mayReconnect,
        device: this.opts.device,
      },
      {
        onUp: (desired, version) => {
          this.setClientStatus(moduleId, true);
          owner.onUp(desired, version);
          const client = this.clients.get(moduleId);
          if (client !== undefined) this.pump(client);
        },
        onDesired: (patch, version) => owner.onDesired(patch, version),
        onMethod: (name, request) => owner.onMethod(name, request),
        onDown: () => {
          const client = this.clients.get(moduleId);
          if (client !== undefined) this.upstreamDown(client);
          this.setClientStatus(moduleId, false);
        },
      },
    );
    if (this.closed) {
      void link.close(); // the device stopped meanwhile
      return link;
    }
    this.clients.set(moduleId, { moduleId, link, pacer, owner });
    link.start();
    return link;
  }

  /** Closes a module's upstream connection (the module stopped or was removed). */
  async detach(moduleId: string): Promise<void> {
    const client = this.clients.get(moduleId);
    if (client === undefined || this.closed) return;
    this.clients.delete(moduleId);
    const wasUp = client.link.up;
    // Graceful: what is in flight is acknowledged before the connection goes.
    await client.link.close(true);
    client.pacer.connectionLost('module stopped');
    if (wasUp) this.setClientStatus(moduleId, false);
  }

  /** A module's output, through the routes: upstream as the module, and to other modules' inputs. */
  send(moduleId: string, output: string, body: Buffer, properties: PropertyBag, intendedAt: number): void {
    const from = this.clients.get(moduleId);
    if (from === undefined || this.closed) return;
    const { system, application } = splitProperties(properties);
    const message: RouteMessage = {
      source: { kind: 'module', moduleId, output },
      properties: application,
      systemProperties: {
        ...system,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        connectionDeviceId: this.opts.deviceId,
        connectionModuleId: moduleId,
        outputName: output,
      },
      body,
    };
    const matched = routeMessage(this.routes, message);
    if (matched.length === 0) {
      // The ledger counts what is bound for the cloud; a message no route takes is generated and dropped.
      this.ctx.metrics.ledger.generated += 1;
      this.ctx.metrics.ledger.dropped += 1;
      return;
    }
    for (const route of matched) {
      const sink = route.sink;
      if (sink.kind === 'upstream')
        this.upstream(
          from,
          output,
          body,
          properties,
          intendedAt,
          route.priority,
          route.timeToLiveSecs ?? this.timeToLiveSecs,
        );
      else this.deliver(moduleId, sink.moduleId, sink.input, body, application, properties);
    }
  }

  /** In process, on the next turn of the scheduler (a route loop then spins instead of overflowing the stack). */
  private deliver(
    fromModule: string | undefined,
    toModule: string,
    input: string,
    body: Buffer,
    application: PropertyBag,
    original: PropertyBag,
    fromDevice = this.opts.deviceId,
  ): void {
    const target = this.clients.get(toModule);
    if (target === undefined) {
      // edgeHub would keep it for the module until it connects (store-and-forward); not counted: it never was bound
      // for the cloud.
      this.ctx.log('debug', `${this.opts.deviceId}: no module ${toModule} for a message from ${fromModule}`);
      return;
    }
    const props: Record<string, string> = {};
    for (const [k, v] of Object.entries(application)) if (v !== null) props[k] = v;
    props[systemProperty.connectionDeviceId] = fromDevice;
    if (fromModule !== undefined) props[systemProperty.connectionModuleId] = fromModule;
    props[systemProperty.contentType] = 'application/json';
    props[systemProperty.contentEncoding] = 'utf-8';
    const component = original[systemProperty.component];
    if (typeof component === 'string') props[systemProperty.component] = component;
    this.ctx.scheduler.after(0, () => {
      if (this.clients.get(toModule) === target) target.owner.onInput(input, body, props);
    });
  }

  /**
   * Upstream as the leg's identity. While its upstream is away, or stored messages still wait to go, the message
   * is stored (store-and-forward) for `ttlSecs`, the route's or the global TTL; it then goes after them.
   */
  private upstream(
    from: UpstreamLeg,
    output: string,
    body: Buffer,
    properties: PropertyBag,
    intendedAt: number,
    priority: number,
    ttlSecs: number,
    generatedElsewhere = false,
  ): void {
    const bag: PropertyBag = {
      ...properties,
      ...(output === '' ? {} : { [systemProperty.outputName]: output }),
      [systemProperty.contentType]: 'application/json',
      [systemProperty.contentEncoding]: 'utf-8',
      [CREATION_TIME_PROPERTY]: new Date(intendedAt).toISOString(),
    };
    const identity = from.link.identity;
    const expiresAt = this.ctx.scheduler.now() + ttlSecs * 1000;
    const message: StoredMessage = { body, bag, intendedAt, priority, expiresAt };
    if (from.link.hub !== undefined && this.store.size(identity) === 0) {
      this.publish(from, message, generatedElsewhere, false);
      return;
    }
    const ledger = this.ctx.metrics.ledger;
    if (!generatedElsewhere) ledger.generated += 1;
    ledger.stored += 1;
    if (!this.store.add(identity, message, priority, ttlSecs)) return;
    this.scanSoon();
    if (from.link.hub !== undefined) this.pump(from);
  }

  /** Publishes on the leg's connection; `after` runs once the outcome is known (or the connection failed it). */
  private publish(
    leg: UpstreamLeg,
    message: StoredMessage,
    generatedElsewhere: boolean,
    late: boolean,
    after?: () => void,
  ): void {
    leg.pacer.send(
      (_body, _component, _intended, done) => {
        const hub = leg.link.hub;
        if (hub === undefined) {
          done(new ClassifiedError('network', `${leg.link.identity}: upstream not connected`));
          after?.();
          return;
        }
        hub.sendTelemetry(message.body, message.bag, 1, (err) => {
          done(err);
          after?.();
        });
      },
      '',
      undefined,
      message.intendedAt,
      generatedElsewhere,
      late,
      message,
    );
  }

  /** Sends what is stored for the leg's identity, in order, a bounded number ahead of their acknowledgements. */
  private pump(leg: UpstreamLeg): void {
    let drain = this.drains.get(leg);
    if (drain === undefined) this.drains.set(leg, (drain = { generation: 0, inFlight: 0 }));
    const state = drain;
    const identity = leg.link.identity;
    while (!this.closed && state.inFlight < DRAIN_IN_FLIGHT && leg.link.hub !== undefined) {
      const message = this.store.take(identity);
      if (message === undefined) return;
      this.ctx.metrics.ledger.stored -= 1;
      if (message.resend === true) this.ctx.metrics.ledger.resent += 1;
      state.inFlight += 1;
      const generation = state.generation;
      this.publish(leg, message, true, true, () => {
        if (generation !== state.generation) return;
        state.inFlight -= 1;
        this.ctx.scheduler.after(0, () => this.pump(leg));
      });
    }
  }

  /** The leg's connection went: what it had in flight is settled by its pacer; draining starts over on reconnect. */
  private drainStopped(leg: UpstreamLeg): void {
    const state = this.drains.get(leg);
    if (state === undefined) return;
    state.generation += 1;
    state.inFlight = 0;
  }

  /** While anything is stored, expired messages are dropped (and counted) every second, not only when draining. */
  private scanSoon(): void {
    if (this.scanning) return;
    this.scanning = true;
    this.ctx.scheduler.after(SCAN_INTERVAL_MS, () => {
      this.scanning = false;
      if (this.closed) return;
      this.store.scan();
      if (this.store.size() > 0) this.scanSoon();
    });
  }

  /** Every upstream connection of the device goes at once (a reconnect storm). */
  drop(): void {
    this.link.drop();
    for (const c of this.clients.values()) c.link.drop();
  }

  /** Stops for good: in-flight messages stay counted as in flight. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.readyWaiters) w();
    this.readyWaiters = [];
    // The clients stay listed: what they have in flight still counts as in flight.
    const clients = [...this.clients.values()];
    for (const c of clients) c.pacer.abandon();
    await Promise.all([this.link.close(), ...clients.map((c) => c.link.close())]);
  }
}
