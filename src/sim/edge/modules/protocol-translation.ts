// A protocol-translation module: it hosts sensors that do not speak IP (Modbus registers polled on a period, BLE
// advertisements arriving at random) and sends each reading as its own telemetry, saying which sensor it came from.
// The sensors have no cloud identity; their failures are counted in the module's reported properties.
import type { ScheduledHandle } from '../../../core/scheduler.js';
import { createGenerator, type Generator } from '../../model/generators.js';
import type { GeneratorSpec } from '../../model/index.js';
import { Prng } from '../../model/random.js';
import type { ModuleApi, ModuleBehaviour } from './types.js';

export interface ModbusSensorSpec {
  kind: 'modbus';
  count: number;
  idPattern?: string;
  /** ms */
  pollInterval: number;
  registers: Record<string, GeneratorSpec>;
  timeoutRate?: number;
  staleRate?: number;
}

export interface BleSensorSpec {
  kind: 'ble';
  count: number;
  idPattern?: string;
  /** ms */
  meanInterval: number;
  values: Record<string, GeneratorSpec>;
  lossRate?: number;
}

export type TranslatedSensorSpec = ModbusSensorSpec | BleSensorSpec;

export interface ProtocolTranslationOptions {
  output?: string;
  sensors: TranslatedSensorSpec[];
  /** Between two reports of the sensors' counters, ms (default 30 s). */
  reportInterval?: number;
  /** Seed of values, phases and failures (default: from the module's random). */
  seed?: number;
}

export interface SensorCounters {
  readings: number;
  timeouts: number;
  stale: number;
  lost: number;
  lastReadingUtc: string | null;
}

export const DEFAULT_SENSOR_ID_PATTERN = '{kind}-{index}';

/** `{kind}` and `{index}` of a sensor id pattern. */
export function sensorId(pattern: string, kind: string, index: number): string {
  return pattern.replace(/\{kind\}/g, kind).replace(/\{index\}/g, String(index));
}

/** Every sensor id of the options, in order (indexes count from 1 per sensor entry). */
export function sensorIds(sensors: readonly TranslatedSensorSpec[]): string[] {
  const ids: string[] = [];
  for (const spec of sensors) {
    for (let i = 1; i <= spec.count; i++) ids.push(sensorId(spec.idPattern ?? DEFAULT_SENSOR_ID_PATTERN, spec.kind, i));
  }
  return ids;
}

interface Sensor {
  id: string;
  spec: TranslatedSensorSpec;
  random: Prng;
  generators: [string, Generator][];
  last: Record<string, unknown> | undefined;
  counters: SensorCounters;
  timer: ScheduledHandle | undefined;
}

const DEFAULT_REPORT_INTERVAL_MS = 30_000;

export class ProtocolTranslationModule implements ModuleBehaviour {
  private readonly output: string;
  private api: ModuleApi | undefined;
  private sensors: Sensor[] = [];
  private reportTimer: ScheduledHandle | undefined;
  private dirty = false;

  constructor(private readonly options: ProtocolTranslationOptions) {
    this.output = options.output ?? 'telemetry';
  }

  start(api: ModuleApi): void {
    this.api = api;
    const baseSeed = this.options.seed ?? Math.floor(api.random() * 2 ** 31);
    const now = api.scheduler.now();
    let ordinal = 0;
    this.sensors = [];
    for (const spec of this.options.sensors) {
      const specs = spec.kind === 'modbus' ? spec.registers : spec.values;
      for (let i = 1; i <= spec.count; i++) {
        const seed = (baseSeed + 7919 * ++ordinal) >>> 0;
        const sensor: Sensor = {
          id: sensorId(spec.idPattern ?? DEFAULT_SENSOR_ID_PATTERN, spec.kind, i),
          spec,
          random: new Prng(seed),
          generators: Object.entries(specs).map(([name, g], k) => [name, createGenerator(g, seed + 31 * (k + 1))]),
          last: undefined,
          counters: { readings: 0, timeouts: 0, stale: 0, lost: 0, lastReadingUtc: null },
          timer: undefined,
        };
        this.sensors.push(sensor);
        // Modbus: its own phase within the first period; BLE: the first advertisement after a random wait.
        const first =
          spec.kind === 'modbus' ? now + sensor.random.next() * spec.pollInterval : now + this.bleGap(sensor, spec);
        sensor.timer = api.scheduler.at(first, (at) => this.tick(sensor, at));
      }
    }
    const every = this.options.reportInterval ?? DEFAULT_REPORT_INTERVAL_MS;
    this.dirty = true;
    this.report();
    const reportTick = (at: number): void => {
      this.report();
      if (this.api !== undefined) this.reportTimer = api.scheduler.at(at + every, reportTick);
    };
    this.reportTimer = api.scheduler.at(now + every, reportTick);
  }

  private bleGap(sensor: Sensor, spec: BleSensorSpec): number {
    return -Math.log(1 - sensor.random.next()) * spec.meanInterval;
  }

  private tick(sensor: Sensor, intended: number): void {
    const api = this.api;
    if (api === undefined) return;
    const spec = sensor.spec;
    const fail = sensor.random.next();
    if (spec.kind === 'modbus') {
      sensor.timer = api.scheduler.at(intended + spec.pollInterval, (at) => this.tick(sensor, at));
      const timeoutRate = spec.timeoutRate ?? 0;
      if (fail < timeoutRate) {
        sensor.counters.timeouts += 1;
        this.dirty = true;
        return;
      }
      // A register that did not change since the last poll: the last value again, marked stale.
      if (sensor.last !== undefined && fail < timeoutRate + (spec.staleRate ?? 0)) {
        sensor.counters.stale += 1;
        this.send(sensor, sensor.last, true, intended);
        return;
      }
    } else {
      sensor.timer = api.scheduler.at(intended + this.bleGap(sensor, spec), (at) => this.tick(sensor, at));
      if (fail < (spec.lossRate ?? 0)) {
        sensor.counters.lost += 1;
        this.dirty = true;
        return;
      }
    }
    const values: Record<string, unknown> = {};
    for (const [name, g] of sensor.generators) {
      const v = g.next(intended / 1000);
      if (v !== undefined) values[name] = v;
    }
    sensor.last = values;
    this.send(sensor, values, false, intended);
  }

  private send(sensor: Sensor, values: Record<string, unknown>, stale: boolean, intended: number): void {
    const api = this.api;
    if (api === undefined) return;
    sensor.counters.readings += 1;
    sensor.counters.lastReadingUtc = new Date(intended).toISOString();
    this.dirty = true;
    const body: Record<string, unknown> = { sensorId: sensor.id, sensorKind: sensor.spec.kind, ...values };
    if (stale) body.stale = true;
    api.sendOutput(this.output, body, { sensorId: sensor.id, sensorKind: sensor.spec.kind }, intended);
  }

  private report(): void {
    const api = this.api;
    if (api === undefined || !this.dirty) return;
    this.dirty = false;
    api.reportProperties({ sensors: this.counters() });
  }

  /** Each sensor's counters, by sensor id. */
  counters(): Record<string, SensorCounters> {
    const out: Record<string, SensorCounters> = {};
    for (const s of this.sensors) out[s.id] = { ...s.counters };
    return out;
  }

  stop(): void {
    for (const s of this.sensors) s.timer?.cancel();
    this.reportTimer?.cancel();
    this.reportTimer = undefined;
    this.api = undefined;
  }
}
