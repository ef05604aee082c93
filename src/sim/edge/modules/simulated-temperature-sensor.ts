// Microsoft's SimulatedTemperatureSensor (Azure/iotedge edge-modules/SimulatedTemperatureSensor), rebuilt from
// what it does: a machine that warms from 21 °C towards 100 °C and then hovers there, its pressure following the
// temperature linearly, and a stable room around it; `reset` (method or `control` input) starts the machine over.
import type { ScheduledHandle } from '../../../core/scheduler.js';
import { envValue, type MethodReply, type ModuleApi, type ModuleBehaviour } from './types.js';

export interface SensorOptions {
  /** The sample's output is `temperatureOutput`. */
  output?: string;
}

/** The sample's configuration defaults (config/appsettings.json), each overridable by an env var of that name. */
const DEFAULTS = {
  MessageCount: 500,
  MessageDelayMs: 5000,
  machineTempMin: 21,
  machineTempMax: 100,
  machinePressureMin: 1,
  machinePressureMax: 10,
  ambientTemp: 21,
};

/** .NET TimeSpan text: `[d.]hh:mm:ss[.fffffff]`; a bare integer means days. */
export function parseTimeSpanMs(text: string): number | undefined {
  const m = /^\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?\s*$/.exec(text);
  if (m === null) return /^\s*\d+\s*$/.test(text) ? Number(text) * 86_400_000 : undefined;
  const [, neg, d, h, min, s, frac] = m;
  const ms =
    ((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(min)) * 60_000 +
    Number(s ?? 0) * 1000 +
    (frac === undefined ? 0 : Number(`0.${frac}`) * 1000);
  return neg === undefined ? ms : -ms;
}

const numberFrom = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
};

const boolFrom = (v: unknown): boolean | undefined => {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
  return undefined;
};

/** A v4-shaped UUID from the module's seeded random, so runs repeat. */
function seededUuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class SimulatedTemperatureSensor implements ModuleBehaviour {
  private readonly output: string;
  private api: ModuleApi | undefined;
  private timer: ScheduledHandle | undefined;
  private sendData = true;
  /** SendInterval from the twin, in ms; it overrides the MessageDelay setting. */
  private desiredIntervalMs: number | undefined;
  private envIntervalMs = DEFAULTS.MessageDelayMs;
  /** Negative: unlimited. */
  private messageCount = DEFAULTS.MessageCount;
  private sent = 0;
  private resetPending = false;
  private lastTickAt = 0;
  private batchId = '';
  private p = { ...DEFAULTS };
  private temperature = DEFAULTS.machineTempMin;

  constructor(options: SensorOptions = {}) {
    this.output = options.output ?? 'temperatureOutput';
  }

  private get intervalMs(): number {
    return this.desiredIntervalMs ?? this.envIntervalMs;
  }

  onDesired(desired: Record<string, unknown>): void {
    // The sample casts SendInterval to whole seconds; fractions are kept here so tests and load runs can go faster.
    const seconds = numberFrom(desired.SendInterval);
    if (seconds !== undefined && seconds > 0) this.setInterval(seconds * 1000);
    const sendData = boolFrom(desired.SendData);
    if (sendData !== undefined) this.sendData = sendData;
  }

  start(api: ModuleApi): void {
    this.api = api;
    const setting = (name: keyof typeof DEFAULTS) => numberFrom(envValue(api.env, name)) ?? DEFAULTS[name];
    this.p = {
      MessageCount: Math.trunc(setting('MessageCount')),
      MessageDelayMs: DEFAULTS.MessageDelayMs,
      machineTempMin: setting('machineTempMin'),
      machineTempMax: setting('machineTempMax'),
      machinePressureMin: setting('machinePressureMin'),
      machinePressureMax: setting('machinePressureMax'),
      ambientTemp: setting('ambientTemp'),
    };
    const delay = envValue(api.env, 'MessageDelay');
    const delayMs = delay === undefined ? undefined : parseTimeSpanMs(delay);
    if (delayMs !== undefined && delayMs > 0) this.envIntervalMs = delayMs;
    this.messageCount = this.p.MessageCount;
    this.temperature = this.p.machineTempMin;
    this.sent = 0;
    this.batchId = seededUuid(() => api.random());
    // The sample sends its first reading as soon as it runs, then waits the interval.
    this.schedule(api.scheduler.now());
  }

  private schedule(at: number): void {
    const api = this.api;
    if (api === undefined) return;
    this.timer?.cancel();
    this.timer = api.scheduler.at(at, (intended) => this.tick(intended));
  }

  private setInterval(ms: number): void {
    if (ms === this.intervalMs) return;
    this.desiredIntervalMs = ms;
    const api = this.api;
    if (api === undefined || this.timer === undefined) return;
    // The next reading comes one new interval after the last one (the sample would finish its current wait first).
    this.schedule(Math.max(api.scheduler.now(), this.lastTickAt + ms));
  }

  private tick(intended: number): void {
    const api = this.api;
    if (api === undefined) return;
    if (this.messageCount >= 0 && this.sent >= this.messageCount) {
      this.timer = undefined; // MessageCount 0 sends nothing
      return;
    }
    this.lastTickAt = intended;
    const p = this.p;
    if (this.resetPending) {
      this.temperature = p.machineTempMin;
      this.resetPending = false;
    }
    // Below the maximum the machine warms by 0.5 on average ([-0.25, 1.25]); above it, it wanders ±0.5.
    this.temperature += this.temperature > p.machineTempMax ? api.random() - 0.5 : -0.25 + api.random() * 1.5;
    if (this.sendData) {
      const t = this.temperature;
      const slope = (p.machinePressureMax - p.machinePressureMin) / (p.machineTempMax - p.machineTempMin);
      this.sent += 1;
      api.sendOutput(
        this.output,
        {
          machine: { temperature: t, pressure: p.machinePressureMin + (t - p.machineTempMin) * slope },
          ambient: { temperature: p.ambientTemp + api.random() - 0.5, humidity: 24 + Math.floor(api.random() * 3) },
          timeCreated: new Date(intended).toISOString(),
        },
        { sequenceNumber: String(this.sent), batchId: this.batchId },
        intended,
      );
    }
    // MessageCount readings, then the module idles (it keeps running); a negative count never ends.
    if (this.messageCount >= 0 && this.sent >= this.messageCount) {
      this.timer = undefined;
      return;
    }
    this.timer = api.scheduler.at(intended + this.intervalMs, (at) => this.tick(at));
  }

  onMethod(name: string): MethodReply | undefined {
    if (name !== 'reset') return undefined;
    this.resetPending = true;
    return { status: 200 };
  }

  onInput(input: string, body: Buffer): void {
    // `{"command":"reset"}` (or an array of such) on the `control` input; the enum also reads as 0.
    if (input !== 'control') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return; // logged and ignored by the sample
    }
    const commands = Array.isArray(parsed) ? parsed : [parsed];
    for (const c of commands) {
      const command = typeof c === 'object' && c !== null ? (c as { command?: unknown }).command : undefined;
      if (command === 0 || (typeof command === 'string' && command.toLowerCase() === 'reset')) this.resetPending = true;
    }
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.api = undefined;
  }

  /** For tests: the machine temperature now. */
  get machineTemperature(): number {
    return this.temperature;
  }
}
