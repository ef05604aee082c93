// The transparent gateway against the real emulator: an IoT Edge gateway whose edgeHub is an MQTT server, three leaf
// devices that provision directly with DPS (attached to the gateway) and connect through it over in-memory MQTT
// streams, their telemetry, twin and methods relayed upstream as themselves, edgeHub's `clients` report, a refused
// wrong key, the ledger; and the official Azure IoT SDK connecting through the gateway's TLS port (GatewayHostName=).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import type { Emulator } from '../../src/emulator/index.js';
import { buildHubUsername, createSasToken, deriveDeviceKey, sasResource } from '../../src/protocol/index.js';
import { createCertificateAuthority, issueLeafCertificate } from '../../src/protocol/x509.js';
import { SimDevice, type DeviceBehaviour } from '../../src/sim/device.js';
import { SimEdgeDevice } from '../../src/sim/edge/edge-device.js';
import { GatewayServer, type GatewayChild } from '../../src/sim/edge/gateway-server.js';
import type { ChildrenLookup } from '../../src/sim/edge/device-scope.js';
import { ServiceClient } from '../../src/endpoints/service-client.js';
import { MqttConnection } from '../../src/transport/mqtt-connection.js';
import { rest } from '../support/emulator.js';
import { testContext, useTestEmulator, type TestSimContext } from '../support/sim-context.js';
import { until } from '../support/wait.js';
import {
  closeAll,
  deviceClient,
  Message,
  registerWithSymmetricKey,
  within,
  type DeviceClient,
} from '../support/azure-sdk.js';

let emulator: Emulator;
const contexts: TestSimContext[] = [];
const things: { stop(): Promise<void> }[] = [];

useTestEmulator((e) => (emulator = e), things, contexts);

const devicesKey = () => emulator.info.enrollmentGroups.devices.primaryKey;
const edgeKey = () => emulator.info.enrollmentGroups.edgeDevices.primaryKey;
const received = (identity: string) => emulator.stats.identities.get(identity)?.messagesReceived ?? 0;
const reportedOf = (id: string, module?: string) =>
  ((module === undefined ? emulator.registry.get(id)?.twin : emulator.registry.getModule(id, module)?.twin)?.reported
    .value ?? {}) as Record<string, any>;

/** The bundled manifest: SimulatedTemperatureSensor upstream, and the leaf-device route. */
function manifest(): any {
  const m = JSON.parse(readFileSync('scenarios/manifests/transparent-gateway.json', 'utf8'));
  m.modulesContent.SimulatedTemperatureSensor['properties.desired'].SendInterval = 1;
  return m;
}

function leafBehaviour(): DeviceBehaviour {
  let n = 0;
  return {
    telemetryIntervalMs: 200,
    telemetryQos: 1,
    telemetry: { tick: () => [{ body: { temperature: 20 + (n++ % 5) } }] },
    reported: () => ({ serialNumber: 'leaf-sn' }),
    writableAck: { code: 200, delayMs: 0, description: 'completed' },
    command: (name, request) => ({ status: 200, delayMs: 0, response: { answeredBy: 'leaf', name, request } }),
  };
}

let seed = 3;
const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const plan = (deviceId: string, ctx: TestSimContext) => ({
  deviceId,
  group: 'g',
  ordinal: 0,
  arrivalAt: ctx.scheduler.now(),
  random,
});

/** A gateway with a manifest assigned over REST, its edgeHub accepting `leafIds`, and those leaves started. */
async function gatewayWithLeaves(
  gatewayId: string,
  leafIds: string[],
  listen?: { certPem: string; keyPem: string; keyOf?: (id: string) => string; childrenOf?: ChildrenLookup },
  extraChildren: GatewayChild[] = [],
) {
  expect(
    (
      await rest(emulator, 'PUT', `/api/deploymentManifests/${gatewayId}-m`, {
        displayName: gatewayId,
        data: manifest(),
      })
    ).status,
  ).toBeLessThan(300);
  expect(
    (
      await rest(emulator, 'PUT', `/api/devices/${gatewayId}`, {
        displayName: gatewayId,
        iotEdge: true,
        deploymentManifest: `${gatewayId}-m`,
      })
    ).status,
  ).toBeLessThan(300);
  const ctx = testContext(emulator);
  // Long enough that nothing in these tests completes by timing out (a C2D the leaf never acknowledged, say).
  ctx.mqtt = { ...ctx.mqtt, operationTimeoutMs: 60_000 };
  contexts.push(ctx);
  const children: GatewayChild[] = [
    ...leafIds.map((id) => ({ deviceId: id, auth: 'sas' as const, key: deriveDeviceKey(devicesKey(), id) })),
    ...extraChildren,
  ];
  const gateway = new GatewayServer(
    ctx,
    gatewayId,
    children,
    random,
    listen === undefined ? undefined : { host: '127.0.0.1', port: 0, ...listen },
  );
  const edge = new SimEdgeDevice(
    ctx,
    ctx.target as never,
    plan(gatewayId, ctx),
    { kind: 'dps-sas', deviceKey: deriveDeviceKey(edgeKey(), gatewayId) },
    { modules: {}, gateway },
  );
  things.push(edge);
  edge.start();
  const leaves = leafIds.map((id) => {
    const leaf = new SimDevice(
      ctx,
      ctx.target as never,
      plan(id, ctx),
      { kind: 'dps-sas', deviceKey: deriveDeviceKey(devicesKey(), id) },
      leafBehaviour(),
      { gateway },
    );
    things.push(leaf);
    leaf.start();
    return leaf;
  });
  return { ctx, gateway, edge, leaves };
}

describe('a transparent gateway with three leaf devices', () => {
  const gatewayId = `tgw-${process.pid}`;
  const leafIds = [1, 2, 3].map((i) => `${gatewayId}-leaf-${i}`);
  let setup: Awaited<ReturnType<typeof gatewayWithLeaves>>;

  beforeAll(async () => {
    setup = await gatewayWithLeaves(gatewayId, leafIds);
    await until(
      () => setup.edge.state === 'connected' && setup.leaves.every((l) => l.state === 'connected'),
      20_000,
      'gateway and leaves connected',
    );
  }, 30_000);

  it('deploys the manifest, and the leaves are attached to the gateway in the registry', async () => {
    await until(
      () => reportedOf(gatewayId, '$edgeAgent').lastDesiredStatus?.code === 200,
      10_000,
      'deployment reported',
    );
    expect(Object.keys(reportedOf(gatewayId, '$edgeAgent').modules ?? {})).toEqual(['SimulatedTemperatureSensor']);
    const relationships = await rest(emulator, 'GET', `/api/devices/${gatewayId}/relationships`);
    expect(relationships.status).toBe(200);
    expect(relationships.json.value.map((r: any) => r.target).sort()).toEqual(leafIds);
    for (const r of relationships.json.value) expect(r.source).toBe(gatewayId);
  });

  it("carries each leaf's telemetry upstream as the leaf itself, and edgeHub lists the leaves among its clients", async () => {
    await until(() => leafIds.every((id) => received(id) >= 3), 10_000, 'telemetry from every leaf');
    // Nothing arrives as the gateway device itself: the leaves are their own identities.
    expect(received(gatewayId)).toBe(0);
    const last = await rest(emulator, 'GET', `/api/devices/${leafIds[0]}/telemetry/temperature`);
    expect(last.status).toBe(200);
    expect(last.json.value).toBeGreaterThanOrEqual(20);
    await until(
      () => leafIds.every((id) => reportedOf(gatewayId, '$edgeHub').clients?.[id]?.status === 'Connected'),
      10_000,
      'leaves in clients',
    );
    // The leaves' own reported properties went up through the gateway.
    await until(() => reportedOf(leafIds[1]!).serialNumber === 'leaf-sn', 10_000, 'leaf reported property');
  });

  it('answers a command sent over REST to a leaf, through the gateway', async () => {
    const reply = await rest(emulator, 'POST', `/api/devices/${leafIds[2]}/commands/reboot`, { request: { delay: 3 } });
    expect(reply.status).toBeLessThan(300);
    expect(reply.json.responseCode).toBe(200);
    expect(reply.json.response).toEqual({ answeredBy: 'leaf', name: 'reboot', request: { delay: 3 } });
  });

  it('delivers a cloud-to-device message to a leaf, completed upstream when the leaf acknowledges it', async () => {
    const leaf = leafIds[2]!;
    const sent = await rest(emulator, 'POST', `/api/devices/${leaf}/messages`, {
      data: { reboot: true },
      properties: { reason: 'test' },
    });
    expect(sent).toMatchObject({ status: 202, json: { delivery: 'delivered' } });
    await until(() => emulator.stats.identities.get(leaf)?.c2dCompleted === 1, 10_000, 'C2D completed');
    expect(emulator.stats.identities.get(leaf)?.c2dSent).toBe(1);
  });

  it('acknowledges a desired property written over REST', async () => {
    const leaf = leafIds[0]!;
    const write = await rest(emulator, 'PATCH', `/api/devices/${leaf}/properties`, { targetTemperature: 23.5 });
    expect(write.status).toBeLessThan(300);
    await until(() => reportedOf(leaf).targetTemperature?.ac === 200, 10_000, 'writable property acknowledged');
    expect(reportedOf(leaf).targetTemperature).toMatchObject({ value: 23.5, ac: 200, ad: 'completed' });
    expect(setup.ctx.desiredAcks.some((a) => a.deviceId === leaf)).toBe(true);
  });

  it('refuses a child with a wrong key, and a device that is not its child, with CONNACK 5', async () => {
    const hubHost = `${emulator.info.hubHostName}:${emulator.info.mqttPort}`;
    const attempt = (deviceId: string, key: string) =>
      MqttConnection.connect(
        {
          host: 'unused',
          port: 0,
          tls: false,
          clientId: deviceId,
          clean: true,
          keepaliveSeconds: 60,
          connectTimeoutMs: 5000,
          username: buildHubUsername({ hubHost, deviceId }),
          password: createSasToken({
            resourceUri: sasResource.device(hubHost, deviceId),
            key,
            expiry: Math.floor(Date.now() / 1000) + 600,
          }),
          stream: () => setup.gateway.open(deviceId),
        },
        () => {},
        () => {},
      );
    const wrongKey = Buffer.alloc(32, 7).toString('base64');
    await expect(attempt(leafIds[0]!, wrongKey)).rejects.toMatchObject({ errorClass: 'auth', status: 5 });
    const stranger = `${gatewayId}-stranger`;
    await expect(attempt(stranger, deriveDeviceKey(devicesKey(), stranger))).rejects.toMatchObject({
      errorClass: 'auth',
      status: 5,
    });
    // The right key is accepted (and the refused attempts did not disturb the leaves).
    const ok = await attempt(leafIds[1]!, deriveDeviceKey(devicesKey(), leafIds[1]!));
    await ok.close();
    await until(() => setup.leaves[1]!.state === 'connected', 10_000, 'the leaf reconnects after being replaced');
  });

  it('counts each message once: generated by the leaf, acknowledged on the cloud PUBACK, what the emulator received', async () => {
    for (const leaf of setup.leaves) leaf.quiesce();
    setup.edge.quiesce();
    await until(
      () => setup.edge.pendingAcks === 0 && setup.leaves.every((l) => l.pendingAcks === 0),
      10_000,
      'nothing in flight',
    );
    const ledger = setup.ctx.metrics.ledger;
    expect(ledger.generated).toBeGreaterThan(0);
    expect(ledger.generated).toBe(ledger.acknowledged + ledger.failed + ledger.expired + ledger.dropped);
    for (const id of leafIds) {
      expect(setup.ctx.acked.get(id) ?? 0).toBeGreaterThan(0);
      expect(received(id)).toBe(setup.ctx.acked.get(id));
    }
    const fromLeaves = leafIds.reduce((n, id) => n + received(id), 0);
    const fromSensor = received(`${gatewayId}/SimulatedTemperatureSensor`);
    expect(ledger.acknowledged).toBe(fromLeaves + fromSensor);
  });
});

describe('an X.509 leaf device (allowed against the emulator)', () => {
  it('provisions with its certificate, connects through the gateway, and is refused with a certificate from another CA', async () => {
    const gatewayId = `x5gw-${process.pid}`;
    const leafId = `${gatewayId}-leaf`;
    const strangerId = `${gatewayId}-forged`;
    const deviceCa = {
      certPem: readFileSync(emulator.info.deviceCaCertPath, 'utf8'),
      keyPem: readFileSync(emulator.info.deviceCaKeyPath, 'utf8'),
    };
    const otherCa = await createCertificateAuthority('not the device CA');
    const { ctx, gateway, edge } = await gatewayWithLeaves(gatewayId, [], undefined, [
      { deviceId: leafId, auth: 'x509', caPem: deviceCa.certPem },
      { deviceId: strangerId, auth: 'x509', caPem: deviceCa.certPem },
    ]);
    await until(() => edge.state === 'connected', 20_000, 'gateway connected');
    const leafCert = await issueLeafCertificate(deviceCa, leafId);
    const leaf = new SimDevice(
      ctx,
      ctx.target as never,
      plan(leafId, ctx),
      { kind: 'dps-x509', certPem: leafCert.certPem + deviceCa.certPem, keyPem: leafCert.keyPem },
      leafBehaviour(),
      { gateway },
    );
    things.push(leaf);
    leaf.start();
    await until(() => received(leafId) >= 2, 15_000, 'X.509 leaf telemetry at the emulator');
    expect(emulator.registry.get(leafId)?.gateway).toEqual({ iotcGatewayId: gatewayId });

    const forged = await issueLeafCertificate(otherCa, strangerId);
    const hubHost = `${emulator.info.hubHostName}:${emulator.info.mqttPort}`;
    await expect(
      MqttConnection.connect(
        {
          host: 'unused',
          port: 0,
          tls: false,
          clientId: strangerId,
          clean: true,
          keepaliveSeconds: 60,
          connectTimeoutMs: 5000,
          username: buildHubUsername({ hubHost, deviceId: strangerId }),
          stream: () => gateway.open(strangerId, { x509: { certPem: forged.certPem, keyPem: forged.keyPem } }),
        },
        () => {},
        () => {},
      ),
    ).rejects.toMatchObject({ errorClass: 'auth', status: 5 });
  });
});

describe('the official Azure IoT SDK through the gateway TLS port', () => {
  let sdk: DeviceClient | undefined;
  afterAll(async () => closeAll(sdk));

  it('connects with GatewayHostName= and its telemetry reaches the emulator as itself', async () => {
    const gatewayId = `sdkgw-${process.pid}`;
    const leafId = `${gatewayId}-sdk-leaf`;
    const leafKey = deriveDeviceKey(devicesKey(), leafId);
    const edgeCa = await createCertificateAuthority('test edge CA');
    // A device the plan does not list: edgeHub knows its key as DPS does, from the devices group key, and that it is
    // a child from the gateway's relationships (the service API the run has).
    const info = emulator.info;
    const service = new ServiceClient({ baseUrl: info.restUrl, apiToken: info.apiToken, apiVersion: '2022-07-31' });
    const { gateway, edge } = await gatewayWithLeaves(gatewayId, [], {
      ...edgeCa,
      keyOf: (id) => deriveDeviceKey(devicesKey(), id),
      childrenOf: () => service.childrenOf(gatewayId),
    });
    await until(() => edge.state === 'connected' && gateway.address !== undefined, 20_000, 'gateway listening on TLS');

    const registration = await registerWithSymmetricKey(emulator.info, leafId, leafKey, {
      iotcGateway: { iotcGatewayId: gatewayId },
    });
    expect(registration.assignedHub).toBe(`${emulator.info.hubHostName}:${emulator.info.mqttPort}`);
    sdk = await deviceClient(
      `HostName=${registration.assignedHub};DeviceId=${leafId};SharedAccessKey=${leafKey};GatewayHostName=${gateway.address}`,
      { ca: edgeCa.certPem },
    );
    await within(sdk.open(), 10_000, 'SDK open through the gateway');
    const message = new Message(JSON.stringify({ temperature: 31.5 }));
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    await within(sdk.sendEvent(message), 10_000, 'SDK sendEvent');
    await until(() => received(leafId) === 1, 10_000, 'SDK telemetry at the emulator');
    expect((await rest(emulator, 'GET', `/api/devices/${leafId}/telemetry/temperature`)).json.value).toBe(31.5);
    expect(gateway.connectedChildren).toEqual([leafId]);
    await until(
      () => reportedOf(gatewayId, '$edgeHub').clients?.[leafId]?.status === 'Connected',
      10_000,
      'SDK leaf in clients',
    );

    // A client that sends garbage over TLS is dropped; the gateway keeps serving the SDK device.
    const [host, port] = gateway.address!.split(':');
    const garbage = tlsConnect({ host, port: Number(port), ca: edgeCa.certPem, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      garbage.once('secureConnect', () => garbage.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3])));
      garbage.once('close', () => resolve());
      garbage.once('error', () => resolve());
      setTimeout(() => reject(new Error('the gateway kept a client that sent garbage')), 10_000);
    });
    await within(
      sdk.sendEvent(new Message(JSON.stringify({ temperature: 32 }))),
      10_000,
      'SDK sendEvent after the garbage',
    );
    await until(() => received(leafId) === 2, 10_000, 'second SDK message at the emulator');
  });
});

describe('a leaf device through an outage of its gateway’s upstream', () => {
  it('stays connected to edgeHub, which stores its messages and forwards them once the upstream is back', async () => {
    const gatewayId = `sfgw-${process.pid}`;
    const leafId = `${gatewayId}-leaf-1`;
    const { ctx, gateway, edge, leaves } = await gatewayWithLeaves(gatewayId, [leafId]);
    const leaf = leaves[0]!;
    await until(
      () => edge.state === 'connected' && leaf.state === 'connected' && received(leafId) >= 3,
      20_000,
      'gateway and leaf sending',
    );

    edge.holdUpstreamDown(1500); // held on the client side, so the outage ends exactly when the test says
    await until(() => edge.storedCount > 2, 5000, 'leaf messages stored');
    const during = received(leafId);
    for (let i = 0; i < 8; i++) {
      expect(leaf.state).toBe('connected');
      expect(gateway.connectedChildren).toEqual([leafId]);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(received(leafId)).toBe(during);

    await until(
      () => edge.storedCount === 0 && ctx.metrics.ledger.deliveredLate > 0 && received(leafId) > during + 3,
      20_000,
      'backlog forwarded',
    );
    expect(leaf.state).toBe('connected');
    leaf.quiesce();
    await rest(emulator, 'PATCH', `/api/devices/${gatewayId}/modules/SimulatedTemperatureSensor/properties`, {
      SendData: false,
    });
    await until(() => leaf.pendingAcks === 0 && edge.pendingAcks === 0, 10_000, 'settled');
    const l = ctx.metrics.ledger;
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped);
    expect(l.stored).toBe(0);
    const upstream = received(leafId) + received(`${gatewayId}/SimulatedTemperatureSensor`);
    expect(upstream).toBeGreaterThanOrEqual(l.acknowledged);
    // At least once: a message on the wire when the outage cut the leg may have arrived, then been sent again.
    expect(upstream).toBeLessThanOrEqual(l.acknowledged + l.failed + l.resent);
  }, 60_000);
});
