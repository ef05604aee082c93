// A transparent gateway's edgeHub as an MQTT server (aedes): downstream devices connect to it with their own
// identity and the IoT Hub dialect, exactly as to IoT Hub. edgeHub authenticates them locally (one of its children,
// and a SAS token that verifies with the child's key), opens one upstream connection per connected child as that
// child, and relays (downstream-link.ts). In-process devices reach it over in-memory streams; `listen` opens a real
// TLS port for devices outside the process (the official SDK with GatewayHostName=...).
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { X509Certificate } from 'node:crypto';
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import {
  allowedFilters,
  parseHubUsername,
  parseSasToken,
  SasTokenError,
  sasResource,
  verifySasToken,
} from '../../protocol/index.js';
import { commonNameOf, issueServerCertificate } from '../../protocol/x509.js';
import { classify, ClassifiedError } from '../../transport/errors.js';
import type { SimContext } from '../context.js';
import type { HubCredential } from '../hub-client.js';
import { DownstreamLink, duplexPair } from './downstream-link.js';
import type { EdgeHub } from './edge-hub.js';
import type { HubEndpoint } from './module-identity.js';
import { DeviceScope, type ChildrenLookup } from './device-scope.js';

const CONNACK = { serverUnavailable: 3, notAuthorized: 5 } as const;

/** A planned child of this gateway: edgeHub's device-scope cache entry. */
export interface GatewayChild {
  deviceId: string;
  auth: 'sas' | 'x509';
  /** The child's symmetric key (sas), derived as the plan derives it. */
  key?: string;
  /** The CA a child's certificate must be issued by (x509). */
  caPem?: string;
}

/** What an in-process device brings with its stream (there is no TLS to carry a client certificate). */
interface StreamInfo {
  /** Who opened the stream: its CONNECT must name the same device. */
  deviceId?: string;
  takenOver?: () => void;
  x509?: { certPem: string; keyPem: string };
}

export interface GatewayListenRequest {
  host: string;
  /** 0: a free port. */
  port: number;
  /** The edge CA the server certificate chains to. */
  certPem: string;
  keyPem: string;
  /**
   * The key of a device the plan does not list, derived from the devices group key as DPS derives it: edgeHub's
   * device-scope cache for real devices connecting over TLS (the hub then accepts or refuses them upstream).
   */
  keyOf?: (deviceId: string) => string;
  /**
   * The gateway's children in the cloud (its relationships): a device the plan does not list is served only when
   * it is one of them, as edgeHub serves only devices in its device scope. Without it, only the plan's children.
   */
  childrenOf?: ChildrenLookup;
}

class RefusedConnection extends Error {
  constructor(
    readonly returnCode: number,
    message: string,
  ) {
    super(message);
  }
}

export class GatewayServer {
  private broker: Aedes | undefined;
  private edgeHub: EdgeHub | undefined;
  private endpoint: HubEndpoint | undefined;
  private readonly children = new Map<string, GatewayChild>();
  /** The cloud's children of this gateway, for devices outside the plan connecting to the TLS listener. */
  private readonly scope: DeviceScope | undefined;
  private readonly streams = new WeakMap<object, StreamInfo>();
  private readonly links = new Map<Client, DownstreamLink>();
  private tls: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private closed = false;
  /** Once the run winds down, children leaving are not reported (edgeHub's own connection is going too). */
  private quiet = false;
  private listeningWaiters: (() => void)[] = [];
  /** `host:port` of the TLS listener, once open. */
  address: string | undefined;

  constructor(
    private readonly ctx: SimContext,
    readonly gatewayId: string,
    children: readonly GatewayChild[],
    private readonly random: () => number,
    private readonly listenRequest?: GatewayListenRequest,
  ) {
    for (const child of children) this.children.set(child.deviceId.toLowerCase(), child);
    const lookup = listenRequest?.childrenOf;
    this.scope = lookup === undefined ? undefined : new DeviceScope(lookup, () => ctx.scheduler.now());
  }

  /** True once edgeHub has its configuration and accepts downstream devices. */
  get listening(): boolean {
    return this.broker !== undefined && !this.closed;
  }

  get pendingAcks(): number {
    let n = 0;
    for (const link of this.links.values()) n += link.pacer.pending;
    return n;
  }

  /** Resolves true once edgeHub listens, false if it does not within `timeoutMs` (or stops). */
  whenListening(timeoutMs: number): Promise<boolean> {
    if (this.listening || this.closed) return Promise.resolve(this.listening);
    return new Promise((resolve) => {
      const timer = this.ctx.scheduler.after(timeoutMs, () => {
        this.listeningWaiters = this.listeningWaiters.filter((w) => w !== wake);
        resolve(this.listening);
      });
      const wake = () => {
        timer.cancel();
        resolve(this.listening);
      };
      this.listeningWaiters.push(wake);
    });
  }

  private wakeWaiters(): void {
    const waiters = this.listeningWaiters;
    this.listeningWaiters = [];
    for (const wake of waiters) wake();
  }

  /** The run winds down: stop reporting children in edgeHub's twin. */
  quiesce(): void {
    this.quiet = true;
  }

  /** Every child this gateway serves (device ids), connected or not. */
  get childIds(): string[] {
    return [...this.children.values()].map((child) => child.deviceId);
  }

  /** The children connected now (device ids). */
  get connectedChildren(): string[] {
    return [...this.links.values()].map((link) => link.identity);
  }

  /** edgeHub is up: accept downstream devices (and open the TLS port when asked). */
  async start(edgeHub: EdgeHub, endpoint: HubEndpoint): Promise<void> {
    if (this.closed || this.broker !== undefined) return;
    this.edgeHub = edgeHub;
    this.endpoint = endpoint;
    const broker = await Aedes.createBroker({
      heartbeatInterval: 3_600_000,
      connectTimeout: 10_000,
      maxClientsIdLength: 256,
    });
    if (this.closed) return void broker.close();
    broker.authenticate = (client, username, password, done) => {
      this.authenticate(client, username, password).then(
        () => done(null, true),
        (err: unknown) => {
          const refused =
            err instanceof RefusedConnection ? err : new RefusedConnection(CONNACK.serverUnavailable, String(err));
          this.ctx.log('debug', `${this.gatewayId}: edgeHub refused ${client.id}: ${refused.message}`);
          done(Object.assign(new Error(refused.message), { returnCode: refused.returnCode }), false);
        },
      );
    };
    broker.authorizeSubscribe = (client, sub: Subscription, done) => {
      const allowed = allowedFilters({ deviceId: client.id }).includes(sub.topic);
      done(null, allowed ? { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 } : null);
    };
    broker.authorizePublish = (client, packet: PublishPacket, done) => {
      const link = client === null ? undefined : this.links.get(client);
      if (link === undefined) return done(new Error('not connected through this gateway'));
      const refusal = link.fromChild(packet);
      done(refusal === undefined ? null : new Error(refusal));
    };
    // Only what edgeHub addresses to one child reaches it: children never reach each other.
    broker.authorizeForward = (_client, packet) => (Object.hasOwn(packet, 'clientId') ? null : packet);
    broker.on('clientReady', (client) => {
      if (this.links.has(client) && !this.quiet) edgeHub.downstreamConnected(client.id, true);
    });
    broker.on('ack', (packet, client) => {
      if (
        client !== null &&
        packet !== undefined &&
        'topic' in packet &&
        packet.topic.includes('/messages/devicebound')
      )
        this.links.get(client)?.c2dCompleted();
    });
    broker.on('clientDisconnect', (client) => void this.gone(client));
    broker.on('clientError', (client) => void this.gone(client));
    this.broker = broker;
    this.wakeWaiters();
    if (this.listenRequest !== undefined) await this.listen(this.listenRequest);
  }

  /** A stream to this edgeHub for an in-process device; throws when edgeHub is not listening yet. */
  open(deviceId: string, info: Omit<StreamInfo, 'deviceId'> = {}): Duplex {
    const broker = this.broker;
    if (broker === undefined || this.closed) {
      throw new ClassifiedError('network', `gateway ${this.gatewayId}: edgeHub is not listening`);
    }
    const [deviceEnd, hubEnd] = duplexPair();
    this.streams.set(hubEnd, { ...info, deviceId });
    broker.handle(hubEnd);
    return deviceEnd;
  }

  private async listen(request: GatewayListenRequest): Promise<void> {
    const isIp = /^[\d.]+$|:/.test(request.host);
    const server = await issueServerCertificate(
      { certPem: request.certPem, keyPem: request.keyPem },
      {
        dns: [...new Set([this.gatewayId.toLowerCase(), 'localhost', ...(isIp ? [] : [request.host])])],
        ips: [...new Set(['127.0.0.1', ...(isIp ? [request.host] : [])])],
      },
    );
    if (this.closed) return;
    const tls = createServer({ cert: server.certPem + request.certPem, key: server.keyPem }, (socket: TLSSocket) =>
      this.broker?.handle(socket),
    );
    tls.on('tlsClientError', () => {}); // a client that fails its handshake is its own problem
    // Closing waits for every connection to end: the gateway ends them itself (a device that keeps its socket open,
    // or is halfway through a handshake, must not keep a stopping gateway alive).
    tls.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      tls.once('error', reject);
      tls.listen(request.port, request.host, () => resolve());
    });
    this.tls = tls;
    const { port } = tls.address() as AddressInfo;
    this.address = `${request.host.includes(':') ? `[${request.host}]` : request.host}:${port}`;
    const message = `gateway ${this.gatewayId}: edgeHub listens on mqtts://${this.address} (GatewayHostName=${this.address})`;
    if (this.ctx.notice !== undefined) this.ctx.notice(message);
    else this.ctx.log('info', message);
  }

  private async authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<void> {
    const edgeHub = this.edgeHub;
    const endpoint = this.endpoint;
    if (edgeHub === undefined || endpoint === undefined || this.closed)
      throw new RefusedConnection(CONNACK.serverUnavailable, 'edgeHub is stopping');
    const { child, info } = await this.childOf(client, username);
    const credential =
      child.auth === 'x509'
        ? x509Credential(child, info, client.conn)
        : sasCredential(child, password, endpoint.hubHost);
    // A child that connects again replaces its earlier connection (and that one's upstream leg).
    for (const [other, link] of this.links) {
      if (link.identity === child.deviceId && other !== client) {
        this.links.delete(other);
        await link.close(true);
      }
    }
    const link = await this.openUpstream(client, edgeHub, endpoint, credential, info);
    if (this.closed || client.closed) {
      await link.close(false);
      throw new RefusedConnection(CONNACK.serverUnavailable, 'gone while connecting');
    }
    this.links.set(client, link);
  }

  /**
   * The child a CONNECT names (its client id and user name): one of the plan's, or, on the TLS listener, a child of
   * this gateway in the cloud whose key the listener can derive. An in-process stream must carry the device that
   * opened it.
   */
  private async childOf(
    client: Client,
    username: string | undefined,
  ): Promise<{ child: GatewayChild; info: StreamInfo | undefined }> {
    const deviceId = client.id;
    const info = this.streams.get(client.conn);
    const child =
      this.children.get(deviceId.toLowerCase()) ?? (info === undefined ? await this.childInScope(deviceId) : undefined);
    if (
      child === undefined ||
      child.deviceId !== deviceId ||
      (info?.deviceId !== undefined && info.deviceId !== deviceId)
    ) {
      throw new RefusedConnection(CONNACK.notAuthorized, `"${deviceId}" is not a child of ${this.gatewayId}`);
    }
    const parsed = username === undefined ? undefined : parseHubUsername(username);
    if (parsed === undefined || parsed.deviceId !== deviceId || parsed.moduleId !== undefined) {
      throw new RefusedConnection(CONNACK.notAuthorized, 'the user name is not {hub}/{deviceId}/?api-version=...');
    }
    return { child, info };
  }

  /** A device outside the plan on the TLS listener: served when the cloud says it is this gateway's child. */
  private async childInScope(deviceId: string): Promise<GatewayChild | undefined> {
    const keyOf = this.listenRequest?.keyOf;
    if (keyOf === undefined || this.scope === undefined || deviceId.includes('/')) return undefined;
    let isChild: boolean;
    try {
      isChild = await this.scope.includes(deviceId);
    } catch (err) {
      const reason = `cannot read the children of ${this.gatewayId}: ${classify(err).message}`;
      this.ctx.log('warn', `${this.gatewayId}: edgeHub refused ${deviceId}: ${reason}`);
      throw new RefusedConnection(CONNACK.serverUnavailable, reason);
    }
    if (!isChild) {
      // The one refusal a user connecting a device of their own needs to see: say what to change.
      this.ctx.log(
        'warn',
        `${this.gatewayId}: edgeHub refused ${deviceId}: not one of its children (provision it with ` +
          `iotcGateway.iotcGatewayId "${this.gatewayId}", or attach it to the gateway)`,
      );
      return undefined;
    }
    return { deviceId, auth: 'sas', key: keyOf(deviceId) };
  }

  /** The child's own upstream connection, as itself; refused as the hub refuses it. */
  private async openUpstream(
    client: Client,
    edgeHub: EdgeHub,
    endpoint: HubEndpoint,
    credential: HubCredential,
    info: StreamInfo | undefined,
  ): Promise<DownstreamLink> {
    const deviceId = client.id;
    try {
      return await DownstreamLink.open(
        this.ctx,
        edgeHub,
        client,
        {
          deviceId,
          gatewayId: this.gatewayId,
          endpoint,
          credential,
          ...(info?.takenOver === undefined ? {} : { takenOver: info.takenOver }),
          onUpstreamLost: (lost) => {
            // Its identity was refused upstream: the child cannot be served (it reconnects, and gets a new upstream
            // leg).
            for (const [c, l] of this.links) if (l === lost) c.close();
          },
        },
        this.random,
      );
    } catch (err) {
      // The hub refused the device itself: so does edgeHub (the device then registers again); else it is
      // unavailable.
      const code = classify(err).errorClass === 'auth' ? CONNACK.notAuthorized : CONNACK.serverUnavailable;
      throw new RefusedConnection(code, `upstream as ${deviceId}: ${(err as Error).message}`);
    }
  }

  private async gone(client: Client): Promise<void> {
    const link = this.links.get(client);
    if (link === undefined) return;
    this.links.delete(client);
    if (!this.quiet && ![...this.links.values()].some((l) => l.identity === link.identity))
      this.edgeHub?.downstreamConnected(link.identity, false);
    await link.close(true);
  }

  /** The gateway loses power: every child's connection and upstream leg go at once. */
  drop(): void {
    for (const client of this.links.keys()) client.conn.destroy();
  }

  /** The upstream goes away (a target outage): each child's upstream leg drops and reconnects; the children stay. */
  dropUpstream(): void {
    for (const link of this.links.values()) link.dropUpstream();
  }

  /** Stops for good: what is in flight upstream stays counted as in flight. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeWaiters();
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map((link) => link.close(false)));
    const broker = this.broker;
    if (broker !== undefined) await new Promise<void>((resolve) => broker.close(() => resolve()));
    const tls = this.tls;
    if (tls === undefined) return;
    const closed = new Promise<void>((resolve) => tls.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

/** An X.509 child: its certificate (CN = its device id) issued by the CA edgeHub trusts for it; in process only. */
function x509Credential(child: GatewayChild, info: StreamInfo | undefined, conn: unknown): HubCredential {
  const cert = info?.x509?.certPem ?? peerCertificate(conn);
  if (cert === undefined || commonNameOf(cert) !== child.deviceId) {
    throw new RefusedConnection(CONNACK.notAuthorized, 'no client certificate with CN = the device id');
  }
  if (info?.x509 === undefined)
    throw new RefusedConnection(CONNACK.notAuthorized, 'X.509 children are accepted in process only');
  if (child.caPem === undefined || !issuedBy(info.x509.certPem, child.caPem)) {
    throw new RefusedConnection(
      CONNACK.notAuthorized,
      'the client certificate is not issued by the CA edgeHub trusts for this child',
    );
  }
  return { kind: 'x509', certPem: info.x509.certPem, keyPem: info.x509.keyPem };
}

/** A SAS child: a token for the device on the hub (with or without its port) that verifies with the child's key. */
function sasCredential(child: GatewayChild, password: Buffer | undefined, hubHost: string): HubCredential {
  if (child.key === undefined || password === undefined)
    throw new RefusedConnection(CONNACK.notAuthorized, 'a SAS token is required');
  let token;
  try {
    token = parseSasToken(password.toString('utf8'));
  } catch (err) {
    if (err instanceof SasTokenError)
      throw new RefusedConnection(CONNACK.notAuthorized, `not a SAS token: ${err.message}`);
    throw err;
  }
  const bare = hubHost.replace(/:\d+$/, '');
  const verdict = verifySasToken(
    token,
    [child.key],
    [sasResource.device(hubHost, child.deviceId), sasResource.device(bare, child.deviceId)],
    Math.floor(Date.now() / 1000),
  );
  if (!verdict.ok) throw new RefusedConnection(CONNACK.notAuthorized, `SAS token refused (${verdict.reason})`);
  return { kind: 'sas', key: child.key };
}

/** The leaf (first certificate of the PEM) is issued and signed by `caPem`; validity dates hold. */
function issuedBy(leafPem: string, caPem: string): boolean {
  try {
    const leaf = new X509Certificate(leafPem);
    const ca = new X509Certificate(caPem);
    const now = Date.now();
    return (
      leaf.checkIssued(ca) &&
      leaf.verify(ca.publicKey) &&
      Date.parse(leaf.validFrom) <= now &&
      now <= Date.parse(leaf.validTo)
    );
  } catch {
    return false;
  }
}

function peerCertificate(conn: unknown): string | undefined {
  const socket = conn as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate(false);
  if (cert === undefined || cert.raw === undefined) return undefined;
  return `-----BEGIN CERTIFICATE-----\n${cert.raw.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
}
