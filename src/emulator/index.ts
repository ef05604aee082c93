// The embedded cloud: DPS and IoT Hub over MQTT/TLS, the hub's HTTPS registry, and IoT Central-style REST.
import { createServer as createTlsServer, Server as TlsServer, type TLSSocket } from 'node:tls';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Server as NetServer, AddressInfo } from 'node:net';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { deriveDeviceKey, formatServiceConnectionString } from '../protocol/index.js';
import { MqttFront } from './mqtt-front.js';
import { createHubHttpsHandler, type HubHttpsOptions } from './hub-https.js';
import { EPHEMERAL, type Journal } from './journal.js';
import { createRestHandler, type RestOptions } from './rest.js';
import { createServiceApiHandler, type RegistryOperationGate } from './service-api/index.js';
import { HubLimits, planLimits, type LimitsConfig } from './limits/index.js';
import { Registry } from './registry.js';
import { CloudService } from './service.js';
import { EmulatorStats, type RejectionReason } from './stats.js';
import { ensureStateDir, type StateDir } from './state-dir.js';
import { Store } from './store.js';
import type { SyncMode } from './store-schema.js';

export { EmulatorStateError, type SyncMode } from './store-schema.js';
export * from './limits/index.js';

export interface EmulatorOptions {
  /**
   * Where CAs, the server certificate, secrets and the database of everything the emulator knows live (created on
   * first start, reused after). One emulator at a time per state directory. Default `.edgefleet`.
   */
  stateDir?: string;
  /** Keep what it learns in memory only: nothing is recorded, a restart starts empty. Default false. */
  ephemeral?: boolean;
  /**
   * How hard a commit is: `normal` (default) survives the process being killed (kill -9), not a power loss;
   * `full` also survives a power loss, with an fsync per group commit.
   */
  sync?: SyncMode;
  /** Address every listener binds to. Default 127.0.0.1. */
  host?: string;
  /** MQTT over TLS for DPS and IoT Hub; 0 picks a free port. Default 8883. */
  mqttPort?: number;
  /** IoT Central-style REST (plain HTTP, loopback). Default 8080. */
  httpPort?: number;
  /** The hub's HTTPS registry endpoint. Default 0 (a free port). */
  hubHttpsPort?: number;
  /** The IoT Hub host name devices are assigned to. Default `localhost`. */
  hubHostName?: string;
  /** More CAs whose device certificates are accepted (PEM files). */
  trustCaFiles?: string[];
  /** `retry-after` seconds DPS answers a registration with. Default 1. */
  dpsRetryAfterSeconds?: number;
  /**
   * How long a new connection has to identify itself: to finish its TLS handshake (MQTT and hub HTTPS), then to
   * send its MQTT CONNECT or its HTTP request headers (all three listeners). Slower ones are destroyed. Default 10 s.
   */
  handshakeTimeoutMs?: number;
  /** Where diagnostics go; default nowhere. */
  log?: (line: string) => void;
  /** Throttles the hub service API's identity-registry operations (the service limits); default none. */
  registryGate?: RegistryOperationGate;
  /** IoT Hub tier, IoT Central or DPS limits to enforce (docs/protocol.md §7); default none. */
  limits?: LimitsConfig;
}

export interface EmulatorInfo {
  hubHostName: string;
  mqttPort: number;
  dpsHost: string;
  dpsPort: number;
  hubHttpsPort: number;
  idScope: string;
  enrollmentGroups: {
    devices: { primaryKey: string; secondaryKey: string };
    edgeDevices: { primaryKey: string; secondaryKey: string };
  };
  caCertPath: string;
  deviceCaCertPath: string;
  deviceCaKeyPath: string;
  restUrl: string;
  apiToken: string;
  /**
   * The hub service API's owner connection string (`HostName=<hub>:<hubHttpsPort>;SharedAccessKeyName=iothubowner;
   * SharedAccessKey=…`); the other policies' keys are in secrets.json.
   */
  serviceConnectionString: string;
  /** The database holding its state; absent when ephemeral. */
  databasePath?: string;
}

export interface Emulator {
  info: EmulatorInfo;
  registry: Registry;
  service: CloudService;
  stats: EmulatorStats;
  /** The limits every part serving an operation goes through (inactive without `limits`). */
  limits: HubLimits;
  close(): Promise<void>;
}

/** The largest MQTT packet accepted: a 256 KB message plus room for its topic and property bag. */
const MAX_PACKET_BYTES = 256 * 1024 + 16 * 1024;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long an HTTP request may take to arrive whole (1 MB bodies on a slow link), and a kept-alive socket may idle. */
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * A TLS handshake that failed or timed out destroys its socket (Node only reports it once a listener is there) and
 * is counted: a client that never finishes TLS holds no descriptor past the handshake timeout.
 */
function dropFailedHandshakes(server: TlsServer, stats: EmulatorStats, log: (line: string) => void, what: string) {
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    const timedOut = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
    stats.count(timedOut ? 'tlsHandshakeTimeout' : 'tlsHandshakeFailed');
    log(`${what}: TLS handshake ${timedOut ? 'timed out' : `failed: ${err.message}`}`);
    socket.destroy();
  });
}

/**
 * HTTP limits: a request head within the handshake timeout (Node counts it from the connection, so a socket that
 * never sends a byte is closed too), the whole request within REQUEST_TIMEOUT_MS, idle keep-alive sockets closed
 * after KEEP_ALIVE_TIMEOUT_MS.
 */
function httpTimeouts(handshakeTimeoutMs: number) {
  return {
    headersTimeout: handshakeTimeoutMs,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, handshakeTimeoutMs),
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // How often Node checks those; the default (30 s) would let short timeouts run long.
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(handshakeTimeoutMs / 4))),
  };
}

/**
 * Listens; then a listener error (an accept failing with EMFILE) is logged, never the end of the process. A TLS
 * listener also destroys its failed and stalled handshakes.
 */
async function serve(
  server: NetServer,
  port: number,
  host: string,
  stats: EmulatorStats,
  log: (line: string) => void,
  what: string,
): Promise<number> {
  if (server instanceof TlsServer) dropFailedHandshakes(server, stats, log, what);
  const bound = await listen(server, port, host);
  server.on('error', (err) => {
    stats.count('internalError');
    log(`${what} listener error: ${err.message}`);
  });
  return bound;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const state = await ensureStateDir(options.stateDir ?? '.edgefleet', [options.hubHostName ?? 'localhost']);
  const extraCas = await Promise.all((options.trustCaFiles ?? []).map((f) => readFile(f, 'utf8')));
  const trusted = [state.deviceCa.certPem, ...extraCas];
  // A commit that fails is never silent: without a log, it becomes a process warning (stderr).
  const warn = options.log ?? ((line: string) => process.emitWarning(line, 'EdgefleetEmulatorWarning'));
  const store =
    options.ephemeral === true ? undefined : Store.open(state.dir, { sync: options.sync ?? 'normal', log: warn });
  try {
    return await serveCloud(options, state, trusted, store);
  } catch (err) {
    store?.close();
    throw err;
  }
}

interface Cloud {
  registry: Registry;
  stats: EmulatorStats;
  limits: HubLimits;
  front: MqttFront;
  service: CloudService;
}

/** The emulator's parts, told of each other and of the journal; with a store, loaded with what it recorded. */
async function createCloud(options: EmulatorOptions, state: StateDir, store: Store | undefined): Promise<Cloud> {
  const journal: Journal = store ?? EPHEMERAL;
  const registry = new Registry(journal);
  const stats = new EmulatorStats(journal);
  const limits = new HubLimits(planLimits(options.limits ?? {}), (err) => {
    stats.count('internalError');
    (options.log ?? (() => {}))(`internal error in an operation held by the limits: ${String(err)}`);
  });
  const front = await MqttFront.create({
    registry,
    stats,
    hubHostName: options.hubHostName ?? 'localhost',
    idScope: state.secrets.idScope,
    enrollmentGroups: state.secrets.enrollmentGroups,
    dpsRetryAfterSeconds: options.dpsRetryAfterSeconds ?? 1,
    connectTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    log: options.log ?? (() => {}),
    journal,
    limits,
  });
  const service = new CloudService(registry, stats, front, journal);
  try {
    store?.load({ registry, stats, service, front });
  } catch (err) {
    await front.close();
    throw err;
  }
  return { registry, stats, front, service, limits };
}

async function serveCloud(
  options: EmulatorOptions,
  state: StateDir,
  trusted: string[],
  store: Store | undefined,
): Promise<Emulator> {
  const log = options.log ?? (() => {});
  const host = options.host ?? '127.0.0.1';
  const hubHostName = options.hubHostName ?? 'localhost';
  const { registry, stats, front, service, limits } = await createCloud(options, state, store);
  const journal: Journal = store ?? EPHEMERAL;
  const committed = () => journal.committed();
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const count = (reason: keyof EmulatorStats['rejections']) => stats.count(reason);
  const tlsOptions = {
    key: state.server.keyPem,
    cert: state.server.certPem,
    minVersion: 'TLSv1.2' as const,
    handshakeTimeout: handshakeTimeoutMs,
  };
  const servers: (NetServer | HttpServer)[] = [];
  const serveOne = async (server: NetServer | HttpServer, port: number, what: string) => {
    servers.push(server);
    return serve(server, port, host, stats, log, what);
  };
  try {
    const mqttOptions = { ...tlsOptions, ca: trusted, requestCert: true, rejectUnauthorized: false };
    const mqttServer = createTlsServer(mqttOptions, (socket: TLSSocket) => front.handle(socket, MAX_PACKET_BYTES));
    const mqttPort = await serveOne(mqttServer, options.mqttPort ?? 8883, 'MQTT');
    front.port = mqttPort;

    const hubHosts = () =>
      [hubHostName, `${hubHostName}:${mqttPort}`, `${hubHostName}:${hubHttpsPort}`].map((h) => h.toLowerCase());
    // A client certificate is asked for, not required: IoT Edge devices with X.509 identities manage their module
    // identities with it; the others send a SAS token.
    const httpsOptions = { ...tlsOptions, ...httpTimeouts(handshakeTimeoutMs), ca: trusted, requestCert: true };
    const httpsServer = createHttpsServer(
      { ...httpsOptions, rejectUnauthorized: false },
      hubHttpsHandler(state, { registry, stats, front, service, limits }, options, { hubHosts, log, count, committed }),
    );
    const hubHttpsPort = await serveOne(httpsServer, options.hubHttpsPort ?? 0, 'hub HTTPS');

    const restServer = createHttpServer(
      httpTimeouts(handshakeTimeoutMs),
      restHandler(state, { registry, stats, front, service, limits }, { log, count, committed }),
    );
    const httpPort = await serveOne(restServer, options.httpPort ?? 8080, 'REST');
    const info = infoOf(state, hubHostName, host, { mqttPort, hubHttpsPort, httpPort }, store);
    return { info, registry, service, stats, limits, close: closer(servers, front, store, limits) };
  } catch (err) {
    await closer(servers, front, undefined, limits)();
    throw err;
  }
}

/** The hub HTTPS port: the device-scope module identity calls, and the service API for policy tokens. */
function hubHttpsHandler(
  state: StateDir,
  { registry, service, front, limits }: Cloud,
  options: EmulatorOptions,
  hooks: Pick<HubHttpsOptions, 'hubHosts' | 'log' | 'count' | 'committed'> & { count: (r: RejectionReason) => void },
): ReturnType<typeof createHubHttpsHandler> {
  const { hubHosts, log, count } = hooks;
  const committed = hooks.committed ?? (() => Promise.resolve());
  const serviceApi = createServiceApiHandler({
    service,
    policies: state.secrets.servicePolicies,
    hubHosts,
    pendingC2D: (deviceId) => front.pendingC2D(deviceId).length,
    log,
    count,
    committed,
    // The hub's limits: every registry operation (a bulk request's records each), queries, twins and methods.
    registryGate: options.registryGate ?? ((_operation, records) => limits.acquire('registry', undefined, records)),
    throttle: (operation) => limits.acquire(operation),
  });
  // An IoT Edge device's module identity calls are identity registry operations, under the same limit.
  const registryGate = () => limits.acquire('registry');
  return createHubHttpsHandler({ registry, hubHosts, log, count, committed, serviceApi, registryGate });
}

/** The IoT Central-style REST API over the cloud's parts, with the secrets of its state directory. */
function restHandler(
  state: StateDir,
  { service, stats, front, limits }: Cloud,
  hooks: Pick<RestOptions, 'log' | 'count' | 'committed'>,
): ReturnType<typeof createRestHandler> {
  return createRestHandler({
    service,
    apiToken: state.secrets.apiToken,
    idScope: state.secrets.idScope,
    stats: () => ({ ...stats.toJson(), limits: limits.toJson() }),
    limits,
    deviceKeys: groupKeys(state),
    outage: (spec) => front.startOutage(spec),
    ...hooks,
  });
}

/**
 * Keys for devices created over REST: what their enrollment group derives, as in IoT Central, so that the
 * credentials the API hands out also provision through DPS.
 */
function groupKeys(state: StateDir) {
  const groups = state.secrets.enrollmentGroups;
  return (deviceId: string, iotEdge: boolean) => {
    const group = iotEdge ? groups.edgeDevices : groups.devices;
    return {
      primaryKey: deriveDeviceKey(group.primaryKey, deviceId),
      secondaryKey: deriveDeviceKey(group.secondaryKey, deviceId),
    };
  };
}

function infoOf(
  state: StateDir,
  hubHostName: string,
  host: string,
  ports: { mqttPort: number; hubHttpsPort: number; httpPort: number },
  store: Store | undefined,
): EmulatorInfo {
  return {
    hubHostName,
    mqttPort: ports.mqttPort,
    dpsHost: hubHostName,
    dpsPort: ports.mqttPort,
    hubHttpsPort: ports.hubHttpsPort,
    idScope: state.secrets.idScope,
    enrollmentGroups: state.secrets.enrollmentGroups,
    caCertPath: state.caCertPath,
    deviceCaCertPath: state.deviceCaCertPath,
    deviceCaKeyPath: state.deviceCaKeyPath,
    restUrl: `http://${host.includes(':') ? `[${host}]` : host}:${ports.httpPort}`,
    apiToken: state.secrets.apiToken,
    serviceConnectionString: formatServiceConnectionString(
      // The SDKs take HostName as a host name: on 443 they need no port.
      ports.hubHttpsPort === 443 ? hubHostName : `${hubHostName}:${ports.hubHttpsPort}`,
      'iothubowner',
      state.secrets.servicePolicies.iothubowner.primaryKey,
    ),
    ...(store === undefined ? {} : { databasePath: store.path }),
  };
}

/** Stops listening, closes every connection, then records what is left and lets go of the state directory. */
function closer(
  servers: (NetServer | HttpServer)[],
  front: MqttFront,
  store: Store | undefined,
  limits: HubLimits,
): () => Promise<void> {
  let closed = false;
  return async () => {
    if (closed) return;
    closed = true;
    limits.close();
    for (const s of servers) if ('closeAllConnections' in s) s.closeAllConnections();
    await front.close();
    await Promise.all(servers.map(closeServer));
    store?.close();
  };
}

/** Writes the info file atomically, so a reader never sees half of it. */
export async function writeInfoFile(path: string, info: EmulatorInfo): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}
