// The bundled smoke patterns: one scenario each (scenarios/smoke/), and the checks a person would make.
// Names used in the checks (groups, modules, telemetry, commands, properties) are those of the scenario files.
import {
  commandRoundTrip,
  downstreamCommand,
  downstreamTelemetry,
  downstreamWritable,
  gatewayRelationship,
  ledgerBalanced,
  moduleTelemetry,
  modulesRunning,
  sensorsReported,
  storeAndForward,
  writableAcknowledged,
} from './checks.js';
import type { CheckDefinition } from './check.js';

export interface SmokePattern {
  name: string;
  /** One line for --help. */
  describe: string;
  /** File under the scenarios directory. */
  scenario: string;
  /** False while the engine of this build cannot run the pattern: its checks are listed as skipped. */
  available: boolean;
  /** Why the pattern is IoT Central's only: skipped against an IoT Hub. */
  notOnHub?: string;
  checks: CheckDefinition[];
}

const leafOf = (gateway: string, index: number) => `${gateway}-leaf-${index}`;
const sensorOf = (gateway: string, index: number) => `${gateway}-sensor-${index}`;

export const SMOKE_PATTERNS: readonly SmokePattern[] = [
  {
    name: 'edge-device',
    describe: "a plain IoT Edge device running the seed document's manifest (SimulatedTemperatureSensor)",
    scenario: 'edge-device.yaml',
    available: true,
    checks: [
      modulesRunning('edge-device', ['SimulatedTemperatureSensor']),
      moduleTelemetry('edge-device', 'SimulatedTemperatureSensor', ['machine', 'ambient']),
      commandRoundTrip({ group: 'edge-device', moduleId: 'SimulatedTemperatureSensor', command: 'reset' }),
      writableAcknowledged({
        group: 'edge-device',
        moduleId: 'SimulatedTemperatureSensor',
        property: 'SendInterval',
        value: 2,
      }),
      ledgerBalanced(),
    ],
  },
  {
    name: 'transparent',
    describe: 'a transparent gateway: 3 leaf devices provisioned with iotcGateway, connected through its edgeHub',
    scenario: 'transparent.yaml',
    available: true,
    checks: [
      modulesRunning('transparent-gateway', []),
      gatewayRelationship('transparent-gateway', 3, leafOf),
      downstreamTelemetry('transparent-gateway', 3, leafOf, 'temperature'),
      downstreamCommand({
        group: 'transparent-gateway',
        idOf: leafOf,
        command: 'getMaxMinReport',
        request: '2024-01-01T00:00:00Z',
      }),
      downstreamWritable({ group: 'transparent-gateway', idOf: leafOf, property: 'targetTemperature', value: 21 }),
      ledgerBalanced(),
    ],
  },
  {
    name: 'protocol-translation',
    describe: 'a protocol-translation module reading Modbus and BLE sensors that have no cloud identity',
    scenario: 'protocol-translation.yaml',
    available: true,
    notOnHub:
      "its checks read the telemetry each sensor's readings arrive as, which IoT Central keeps and an IoT Hub " +
      'does not (it hands telemetry on to its Event Hub-compatible endpoint, over AMQP)',
    checks: [
      modulesRunning('protocol-gateway', ['ProtocolTranslator']),
      moduleTelemetry('protocol-gateway', 'ProtocolTranslator', ['sensorId', 'sensorKind'], {
        field: 'sensorKind',
        values: ['modbus', 'ble'],
      }),
      sensorsReported('protocol-gateway', 'ProtocolTranslator', ['plc-1', 'plc-2', 'tag-1', 'tag-2']),
      commandRoundTrip({ group: 'protocol-gateway', moduleId: '$edgeAgent', command: 'ping' }),
      writableAcknowledged({
        group: 'protocol-gateway',
        moduleId: 'ProtocolTranslator',
        property: 'smokeProbe',
        value: 1,
      }),
      ledgerBalanced(),
    ],
  },
  {
    name: 'identity-translation',
    describe:
      'an identity-translation module giving each of 3 sensors its own identity (iotcGateway with iotcModuleId)',
    scenario: 'identity-translation.yaml',
    available: true,
    notOnHub:
      'its module registers each sensor through DPS with iotcGateway/iotcModuleId, an IoT Central payload; ' +
      'against an IoT Hub the sensors are registry identities like any downstream device (the transparent pattern)',
    checks: [
      modulesRunning('identity-gateway', ['IdentityTranslator']),
      gatewayRelationship('identity-gateway', 3, sensorOf),
      downstreamTelemetry('identity-gateway', 3, sensorOf, 'temperature'),
      downstreamCommand({
        group: 'identity-gateway',
        idOf: sensorOf,
        command: 'getMaxMinReport',
        request: '2024-01-01T00:00:00Z',
      }),
      downstreamWritable({ group: 'identity-gateway', idOf: sensorOf, property: 'targetTemperature', value: 21 }),
      ledgerBalanced(),
    ],
  },
  {
    name: 'store-and-forward',
    describe:
      "a gateway whose upstream goes away for 6 s: edgeHub stores, then delivers late; a short-TTL route's messages expire",
    scenario: 'store-and-forward.yaml',
    available: true,
    checks: [
      modulesRunning('saf-gateway', ['SimulatedTemperatureSensor']),
      storeAndForward({ expectExpired: 'some' }),
      // What was on the wire when the outage cut a connection goes back into edgeHub's store: nothing fails.
      ledgerBalanced({ allowExpired: true }),
    ],
  },
];

export const PATTERN_NAMES = SMOKE_PATTERNS.map((p) => p.name);
