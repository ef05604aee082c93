// How identities reach a target. Plain data: it crosses into worker threads as it is.

/**
 * IoT Central, the embedded emulator, or an IoT Hub: DPS (not for an IoT Hub without one), IoT Hub over MQTT, and a
 * service API (IoT Central-shaped REST, or the hub's own).
 */
export interface AzureTarget {
  kind: 'emulator' | 'iot-central' | 'iot-hub';
  /** Where identities register; undefined for an IoT Hub without DPS (`direct`). */
  dps?: { host: string; port: number; idScope: string };
  /**
   * Primary keys from which device keys derive: of the two symmetric-key enrollment groups, or, for an IoT Hub
   * without DPS, the keys edgefleet derives from the hub policy's key and puts in the registry.
   */
  groupKeys: { devices: string; edgeDevices: string };
  /** CA that issues leaf certificates for X.509 devices (PEM). */
  x509Ca?: { certPem: string; keyPem: string };
  /** Extra trust anchor for the TLS servers (the emulator's CA); undefined = the system's. */
  caPem?: string;
  /** Port of the hub's HTTPS endpoint where IoT Edge devices manage their module identities. */
  hubHttpsPort: number;
  /** The service API for actions (commands, property writes) and, for the emulator, /stats. */
  service?: { baseUrl: string; apiToken: string; apiVersion: string };
  /**
   * The target applies rate limits (IoT Central and IoT Hub always; the emulator with a tier or `--limits`): a
   * CONNACK 3 is then its connect-rate throttle and a connection it closes with sends unacknowledged is its
   * traffic shaping or quota, both `throttled` (transport/errors.ts). Without limits both stay `server`/`network`.
   */
  limited?: boolean;
  /** An IoT Hub's service API (registry, twins, methods) with a shared access policy. */
  hubService?: HubServiceEndpoint;
  /** No DPS: identities are in the hub's registry already and connect to `hubHost`, dialling `dial` (host:port). */
  direct?: { hubHost: string; dial: string };
}

/** An IoT Hub's service endpoint: `https://{hostName}` signed with a policy's key (secrets: they stay in memory). */
export interface HubServiceEndpoint {
  /** The connection string's HostName, with its port when it has one. */
  hostName: string;
  policyName: string;
  key: string;
  /** The CA(s) to trust (PEM) instead of the system's, as the devices' connections do. */
  caPem?: string;
}

/** Any MQTT broker: topics, client id and user name from templates with {deviceId}, {group} (and {moduleId}). */
export interface MqttTarget {
  kind: 'mqtt';
  host: string;
  port: number;
  tls: boolean;
  caPem?: string;
  rejectUnauthorized: boolean;
  clientId: string;
  username?: string;
  password?: string;
  topics: { telemetry: string; moduleTelemetry: string };
}

export type Target = AzureTarget | MqttTarget;

/** What the placeholders of a template stand for. */
export interface TemplateValues {
  deviceId: string;
  /** The scenario group of the device. */
  group: string;
  moduleId?: string;
}

/**
 * Fills `{deviceId}`, `{group}` and `{moduleId}` in one pass (a value that looks like a placeholder stays as it is).
 * The scenario schema refuses other placeholders, and `{moduleId}` where there is no module.
 */
export function fillTemplate(template: string, values: TemplateValues): string {
  return template.replace(/\{(deviceId|group|moduleId)\}/g, (_, name: keyof TemplateValues) => values[name] ?? '');
}

/** `host:port` (IPv6 in brackets) → parts; the port defaults to 8883 (MQTT over TLS). */
export function splitHostPort(hostPort: string, defaultPort = 8883): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$|^([^:]+)(?::(\d+))?$/.exec(hostPort);
  if (m === null) return { host: hostPort, port: defaultPort };
  const host = (m[1] ?? m[3]) as string;
  const port = m[2] ?? m[4];
  return { host, port: port === undefined ? defaultPort : Number(port) };
}
