// A dashboard state with every section filled, and a device, for the UI tests.
import { emptyStates, initialState, type DashboardState, type DeviceDetail } from '../../src/ui/model.js';

export const T0 = 1_790_000_000_000;

export const LONG_MESSAGE =
  'telemetry to devices/thermostats-0017/messages/events/ not acknowledged within 30000 ms: the PUBACK never came, ' +
  'the connection stays up and the message is counted as failed in the ledger END-OF-MESSAGE';

export function fullState(): DashboardState {
  const s = initialState({
    scenario: 'quickstart',
    profile: 'ramp',
    target: 'emulator 127.0.0.1:8883',
    startedAtMs: T0,
    durationMs: 300_000,
    groups: [{ name: 'thermostats' }, { name: 'edge-gateways', pattern: 'transparent' }],
    stage: 'stage 1/2 → 50/s',
  });
  s.elapsedMs = 83_000;
  s.groups[0]!.states = {
    ...emptyStates(),
    waiting: 385,
    provisioning: 26,
    connecting: 24,
    connected: 612,
    backingOff: 12,
    failed: 3,
  };
  s.groups[1]!.states = { ...emptyStates(), waiting: 2, connected: 18 };
  s.rates = {
    sentPerSecond: 1646,
    ackedPerSecond: 1645,
    failedPerSecond: 1,
    errorsPerSecond: 2,
    throttledPerSecond: 1,
  };
  s.operations = [
    { name: 'provision', count: 840, perSecond: 30, p50: 204, p95: 510, p99: 952, history: [300, 500, 952] },
    { name: 'connect', count: 840, perSecond: 30, p50: 47.6, p95: 119, p99: 244, history: [null, 244] },
    {
      name: 'telemetry',
      count: 24_752,
      perSecond: 1646,
      p50: 4.21,
      p95: 9.06,
      p99: 30.5,
      history: [0, 1, 2, 3, 4, 5, 6, 7],
    },
    { name: 'command', count: 5, perSecond: 0, p50: null, p95: null, p99: null, history: [12, null, null] },
  ];
  s.errors = [
    { cls: 'timeout', count: 27, lastMessage: LONG_MESSAGE },
    { cls: 'auth', count: 2, lastMessage: 'CONNACK 5 not authorized' },
  ];
  s.ledger = {
    generated: 23_044,
    acknowledged: 22_967,
    failed: 25,
    expired: 0,
    dropped: 0,
    inFlight: 52,
    stored: 0,
    deliveredLate: 0,
    resent: 0,
    balanced: true,
  };
  s.lateness = { p99: 1.2, history: [0.5, 0.6, null, 1.2], runP99: 0.9, max: 14.5 };
  s.workers = [0, 1, 2, 3].map((index) => ({ index, busyPercent: 40 + 15 * index, heapMB: 70 }));
  s.process = { cpuPercent: 214, rssMB: 420 };
  s.intervalEndMs = T0 + 83_000;
  return s;
}

export function device(id: string): DeviceDetail {
  return {
    deviceId: id,
    group: 'thermostats',
    pattern: 'device',
    state: 'connected',
    workerIndex: 1,
    pendingAcks: 2,
    transitions: [
      { atMs: T0 + 500, from: 'waiting', to: 'provisioning' },
      { atMs: T0 + 900, from: 'provisioning', to: 'connecting' },
      { atMs: T0 + 1000, from: 'connecting', to: 'connected' },
    ],
    // Newest first, as the worker answers.
    messages: [
      {
        atMs: T0 + 4000,
        direction: 'up',
        kind: 'telemetry',
        status: 'pending',
        bytes: 20,
        latencyMs: null,
        summary: '{"temperature":21.7}',
      },
      {
        atMs: T0 + 3000,
        direction: 'down',
        kind: 'command',
        status: 'answered',
        bytes: 2,
        latencyMs: 12,
        summary: 'getMaxMinReport → 200',
      },
      {
        atMs: T0 + 2000,
        direction: 'up',
        kind: 'telemetry',
        status: 'acked',
        bytes: 20,
        latencyMs: 3.5,
        summary: '{"temperature":21.5}',
      },
    ],
    messagesSinceMs: T0 + 1500,
    messagesRecorded: 3,
    lastError: null,
  };
}

/** Lines of a frame without colour codes. */
export function lines(frame: string | undefined): string[] {
  // eslint-disable-next-line no-control-regex -- ESC starts the terminal control sequences this strips
  return (frame ?? '').replace(/\u001B\[[0-9;?]*[ -/]*[@-~]/g, '').split('\n');
}

export const cells = (line: string) => [...line].length;
