// Smoke test of the benchmark's parts (not a benchmark: nothing here is timed or compared). Each client adapter
// connects a few identities to an in-process emulator and sends paced telemetry that is acknowledged; the report
// computes ratios and renders; the limits arithmetic scales down when it must.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Emulator } from '../../src/emulator/index.js';
import { deriveDeviceKey } from '../../src/protocol/index.js';
import { registerDevices } from '../../src/bench/emulator.js';
import { deviceIdOf, type ClientJob, type Variant } from '../../src/bench/job.js';
import { ClosedLoop, sleep } from '../../src/bench/measure.js';
import { fitIdentities } from '../../src/bench/limits.js';
import { corePinning, pinned } from '../../src/bench/pinning.js';
import { spawnSync } from 'node:child_process';
import { schedulerOnly } from '../../src/bench/scheduler-only.js';
import { computeRatios, durabilityFigures, renderTable, type BenchReport } from '../../src/bench/report.js';
import type { AdapterFactory } from '../../src/bench/clients/adapter.js';
import { edgefleetAdapter } from '../../src/bench/clients/edgefleet.js';
import { mqttjsAdapter } from '../../src/bench/clients/mqttjs.js';
import { azureSdkAdapter } from '../../src/bench/clients/azure-sdk.js';
import { startTestEmulator } from '../support/emulator.js';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await emulator?.close();
});

const N = 4;

function jobFor(variant: Variant, kind: ClientJob['kind']): ClientJob {
  const info = emulator.info;
  return {
    variant,
    kind,
    idPrefix: `smoke-${kind[0]}-${variant}-`,
    identities: N,
    concurrency: 2,
    localAddresses: [],
    target: {
      host: '127.0.0.1',
      port: info.mqttPort,
      hubHost: `${info.hubHostName}:${info.mqttPort}`,
      caPem: readFileSync(info.caCertPath, 'utf8'),
      groupKey: info.enrollmentGroups.devices.primaryKey,
    },
    emulatorPid: process.pid,
    connectDeadlineMs: 20_000,
    ...(kind === 'telemetry' ? { telemetry: { intervalMs: 100, warmupMs: 0, durationMs: 0 } } : {}),
  };
}

async function connectAll(factory: AdapterFactory, job: ClientJob) {
  const ids = Array.from({ length: job.identities }, (_, i) => deviceIdOf(job.idPrefix, i));
  const warmId = `${job.idPrefix}warmup`;
  await registerDevices(emulator.info, [...ids, warmId], 4);
  const keys = ids.map((id) => deriveDeviceKey(job.target.groupKey, id));
  const adapter = await factory(job, keys, ids, { id: warmId, key: deriveDeviceKey(job.target.groupKey, warmId) });
  await adapter.warmup();
  const loop = new ClosedLoop(job.identities, job.concurrency, (i) => adapter.launch(i));
  adapter.prepare(loop);
  const outcome = await loop.run(job.connectDeadlineMs);
  const notes = (await adapter.finish?.()) ?? [];
  return { adapter, outcome, notes };
}

describe('bench client adapters against the emulator', () => {
  const adapters: [Variant, AdapterFactory][] = [
    ['edgefleet', edgefleetAdapter],
    ['mqttjs', mqttjsAdapter],
    ['azureSdk', azureSdkAdapter],
  ];
  for (const [variant, factory] of adapters) {
    it(`${variant} connects, subscribes and gets its twin`, async () => {
      const { adapter, outcome, notes } = await connectAll(factory, jobFor(variant, 'connect'));
      try {
        expect(outcome).toMatchObject({ ok: N, failed: 0, unfinished: 0 });
        expect(notes).toEqual([]);
        expect(adapter.connectLatency()?.stats.count).toBeGreaterThan(0);
        const twinGets = [...emulator.stats.identities.entries()]
          .filter(([id]) => id.startsWith(`smoke-c-${variant}-`))
          .reduce((n, [, s]) => n + s.twinGets, 0);
        expect(twinGets).toBe(N + 1); // and the warm-up identity
      } finally {
        await adapter.close();
      }
    });
  }

  for (const [variant, factory] of adapters.filter(([v]) => v !== 'azureSdk')) {
    it(`${variant} sends paced QoS 1 telemetry that is acknowledged`, async () => {
      const { adapter, outcome } = await connectAll(factory, jobFor(variant, 'telemetry'));
      try {
        expect(outcome.ok).toBe(N);
        adapter.windowStart!();
        await sleep(600);
        const w = adapter.windowEnd!();
        expect(w.acknowledged).toBeGreaterThan(0);
        expect(w.failed).toBe(0);
        expect(w.puback.count).toBe(w.acknowledged);
        if (variant === 'edgefleet') expect(w.lateness?.count).toBeGreaterThan(0);
      } finally {
        await adapter.close();
      }
      const received = [...emulator.stats.identities.entries()]
        .filter(([id]) => id.startsWith(`smoke-t-${variant}-`))
        .reduce((n, [, s]) => n + s.messagesReceived, 0);
      expect(received).toBeGreaterThan(0);
    });
  }
});

describe('bench report and limits', () => {
  it('computes ratios, judges targets and renders a table', () => {
    const connect = (perSec: number, rss: number) => ({
      identities: 100,
      requested: 100,
      connected: 100,
      failed: 0,
      unfinished: 0,
      errors: {},
      elapsedMs: 1000,
      perSec,
      cpuSeconds: 1,
      perCpuSec: 100,
      rssBeforeBytes: 0,
      rssAfterBytes: 0,
      rssPerIdentityKB: rss,
      heapPerIdentityKB: 1,
      externalPerIdentityKB: 1,
      emulatorCores: 1,
      emulatorRssPerIdentityKB: 1,
      otherCores: 0,
      notes: [],
      emulator: {},
    });
    const p = { count: 1, p50Ms: 1, p99Ms: 2, p999Ms: 3, maxMs: 4 };
    const tel = (msgsPerCoreSec: number) => ({
      identities: 100,
      msgsPerCoreSec,
      p99Ms: 2,
      byIdentities: {
        100: {
          identities: 100,
          connected: 100,
          p99Ms: 2,
          intervalMs: 100,
          offeredPerSec: 1000,
          windowMs: 1000,
          sent: 1000,
          acknowledged: 1000,
          failed: 0,
          achievedPerSec: 1000,
          clientCpuSeconds: 0.1,
          clientCpuCores: 0.1,
          msgsPerCoreSec,
          emulatorCores: 0.1,
          otherCores: 0,
          pairCeilingPerSec: 5000,
          puback: p,
          eventLoopDelay: p,
          pubackCorrected: p,
          inFlightAtEnd: 0,
        },
      },
    });
    const report: BenchReport = {
      version: 1,
      date: '2026-01-01T00:00:00.000Z',
      quick: true,
      durationSeconds: 1,
      machine: {
        cores: 2,
        node: 'v20',
        cpuModel: 'cpu',
        platform: 'linux-x64',
        totalMemoryGB: 1,
        openFilesLimit: 20_000,
        ephemeralPorts: 28_232,
      },
      method: { connect: 'closed loop', telemetry: 'paced' },
      connect: { edgefleet: connect(300, 80), mqttjs: connect(310, 75), azureSdk: connect(200, 100) },
      telemetry: { edgefleet: tel(9500), mqttjs: tel(10_000) },
      lateness: { p99Ms: 1.5, p50Ms: 0.5, p999Ms: 2, maxMs: 3, identities: 100, intervalMs: 2000, count: 10 },
      ratios: {},
      targets: [],
      notes: [],
      errors: [],
    };
    const run = tel(9500).byIdentities[100];
    report.durability = {
      client: 'edgefleet',
      identities: 100,
      offeredPerSec: 1000,
      ephemeral: durabilityFigures(run),
      durable: durabilityFigures({ ...run, achievedPerSec: 850, emulatorCores: 0.17 }),
    };
    computeRatios(report);
    expect(report.ratios.durableVsEphemeralAcked).toBeCloseTo(0.85, 3);
    expect(report.durability.durable?.emulatorMicrosPerMessage).toBe(200);
    expect(report.ratios.durableVsEphemeralEmulatorCpuPerMessage).toBeCloseTo(2, 3);
    expect(report.ratios.connectRateVsMqttjs).toBeCloseTo(300 / 310, 3);
    expect(report.ratios.devicesPerGBVsAzureSdk).toBeCloseTo(100 / 80, 3);
    expect(report.ratios['msgsPerCoreVsMqttjs@100']).toBeCloseTo(0.95, 3);
    const byName = Object.fromEntries(report.targets.map((t) => [t.name, t.pass]));
    expect(byName['connect rate vs plain mqtt.js']).toBe(true);
    expect(byName['RSS per identity vs plain mqtt.js']).toBe(true);
    expect(byName['devices/s vs Azure IoT SDK']).toBe(true);
    expect(byName['devices per GB vs Azure IoT SDK']).toBe(true);
    expect(byName['scheduler lateness p99']).toBe(true);
    expect(byName['telemetry acked/s, state recorded vs --ephemeral']).toBe(true);
    const text = renderTable(report);
    expect(text).toMatch(/Durability: edgefleet @100, 1,000 msgs\/s offered/);
    expect(text).toMatch(/state recorded\s+100\s+1,000\s+850\s/);
    expect(text).toContain('plain mqtt.js');
    expect(text).toContain('Targets');
  });

  it('measures the scheduler alone', async () => {
    const so = await schedulerOnly(200, 100, 150, 300);
    expect(so.count).toBeGreaterThan(0);
    expect(so.p99Ms).not.toBeNull();
  });

  it('scales a phase down to what file descriptors and ports allow, and says why', () => {
    const limits = { softFds: 20_000, hardFds: 20_000, ephemeralPorts: 28_232 };
    expect(fitIdentities(10_000, limits, 0)).toEqual({ identities: 10_000 });
    const fds = fitIdentities(50_000, limits, 4);
    expect(fds.identities).toBeLessThan(20_000);
    expect(fds.reason).toMatch(/open files/);
    const ports = fitIdentities(50_000, { ...limits, softFds: 1_000_000, hardFds: 1_000_000 }, 1);
    expect(ports.identities).toBeLessThan(28_232);
    expect(ports.reason).toMatch(/--local-address/);
  });

  it('pins telemetry phases: the emulator on the last core, the client on the others, and the process really runs there', () => {
    expect(corePinning(1)).toBeUndefined();
    expect(pinned(undefined, 'node', ['x'])).toEqual(['node', ['x']]);
    const two = corePinning(2);
    if (two === undefined) return; // no taskset here: the bench says it did not pin
    expect(two).toEqual({ client: '0', emulator: '1' });
    expect(corePinning(4)).toEqual({ client: '0-2', emulator: '3' });
    // What the child sees of its own affinity (taskset execs it, so it is the same process).
    const [command, args] = pinned(two.client, process.execPath, [
      '-e',
      "process.stdout.write(require('node:fs').readFileSync('/proc/self/status', 'utf8'))",
    ]);
    const child = spawnSync(command, args, { encoding: 'utf8' });
    expect(child.stdout).toMatch(/Cpus_allowed_list:\s+0\n/);
  });
});
