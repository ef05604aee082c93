// The embedded cloud: DPS and IoT Hub over MQTT/TLS, the hub's HTTPS registry, and IoT Central-style REST.
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Server as NetServer, AddressInfo } from 'node:net';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { deriveDeviceKey } from '../protocol/index.js';
import { MqttFront } from './mqtt-front.js';
import { guardPacketSize } from './frame-guard.js';
import { createHubHttpsHandler } from './hub-https.js';
import { createRestHandler } from './rest.js';
import { Registry } from './registry.js';
import { CloudService } from './service.js';
import { EmulatorStats } from './stats.js';
import { ensureStateDir } from './state-dir.js';

export interface EmulatorOptions {
  /** Where CAs, the server certificate and secrets live (created on first start). Default `.edgefleet`. */
  stateDir?: string;
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
  /** Where diagnostics go; default nowhere. */
  log?: (line: string) => void;
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
}

export interface Emulator {
  info: EmulatorInfo;
  registry: Registry;
  service: CloudService;
  stats: EmulatorStats;
  close(): Promise<void>;
}

/** The largest MQTT packet accepted: a 256 KB message plus room for its topic and property bag. */
const MAX_PACKET_BYTES = 256 * 1024 + 16 * 1024;

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

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const log = options.log ?? (() => {});
  const host = options.host ?? '127.0.0.1';
  const hubHostName = options.hubHostName ?? 'localhost';
  const state = await ensureStateDir(options.stateDir ?? '.edgefleet', [hubHostName]);
  const trusted = [state.deviceCa.certPem, ...(await Promise.all((options.trustCaFiles ?? []).map((f) => readFile(f, 'utf8'))))];
  const registry = new Registry();
  const stats = new EmulatorStats();
  const front = await MqttFront.create({
    registry, stats, hubHostName, idScope: state.secrets.idScope, enrollmentGroups: state.secrets.enrollmentGroups,
    dpsRetryAfterSeconds: options.dpsRetryAfterSeconds ?? 1, log,
  });
  const service = new CloudService(registry, stats, front);
  const tlsOptions = { key: state.server.keyPem, cert: state.server.certPem, minVersion: 'TLSv1.2' as const };

  const mqttServer = createTlsServer({
    ...tlsOptions, ca: trusted, requestCert: true, rejectUnauthorized: false, handshakeTimeout: 10_000,
  }, (socket: TLSSocket) => {
    guardPacketSize(socket, MAX_PACKET_BYTES, (declared) => {
      stats.rejections.oversized += 1;
      log(`dropped a connection announcing a ${declared}-byte packet`);
      socket.destroy();
    });
    front.broker.handle(socket);
  });
  mqttServer.on('tlsClientError', (err) => {
    stats.rejections.protocol += 1;
    log(`TLS handshake failed: ${err.message}`);
  });
  const mqttPort = await listen(mqttServer, options.mqttPort ?? 8883, host);
  front.port = mqttPort;

  const hubHosts = () => [hubHostName, `${hubHostName}:${mqttPort}`, `${hubHostName}:${hubHttpsPort}`].map((h) => h.toLowerCase());
  const httpsServer = createHttpsServer(tlsOptions, createHubHttpsHandler({ registry, hubHosts, log }));
  const hubHttpsPort = await listen(httpsServer, options.hubHttpsPort ?? 0, host);

  // Devices created over REST get the keys their enrollment group derives, as in IoT Central, so that the
  // credentials the API hands out also provision through DPS.
  const groups = state.secrets.enrollmentGroups;
  const deviceKeys = (deviceId: string, iotEdge: boolean) => {
    const group = iotEdge ? groups.edgeDevices : groups.devices;
    return { primaryKey: deriveDeviceKey(group.primaryKey, deviceId), secondaryKey: deriveDeviceKey(group.secondaryKey, deviceId) };
  };
  const restServer = createHttpServer(createRestHandler({
    service, apiToken: state.secrets.apiToken, idScope: state.secrets.idScope, stats: () => stats.toJson(), log, deviceKeys,
    outage: (spec) => front.startOutage(spec),
  }));
  const httpPort = await listen(restServer, options.httpPort ?? 8080, host);

  const info: EmulatorInfo = {
    hubHostName,
    mqttPort,
    dpsHost: hubHostName,
    dpsPort: mqttPort,
    hubHttpsPort,
    idScope: state.secrets.idScope,
    enrollmentGroups: state.secrets.enrollmentGroups,
    caCertPath: state.caCertPath,
    deviceCaCertPath: state.deviceCaCertPath,
    deviceCaKeyPath: state.deviceCaKeyPath,
    restUrl: `http://${host.includes(':') ? `[${host}]` : host}:${httpPort}`,
    apiToken: state.secrets.apiToken,
  };

  let closed = false;
  return {
    info, registry, service, stats,
    async close() {
      if (closed) return;
      closed = true;
      const servers = [mqttServer, httpsServer, restServer];
      for (const s of servers) if ('closeAllConnections' in s) (s as HttpServer).closeAllConnections();
      await front.close();
      await Promise.all(servers.map(closeServer));
    },
  };
}

/** Writes the info file atomically, so a reader never sees half of it. */
export async function writeInfoFile(path: string, info: EmulatorInfo): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}
