// The documented limits of IoT Hub tiers, DPS and IoT Central (docs/protocol.md §7), as rates per operation.
// Pure figures and their checks: how they are enforced is in rate.ts and hub-limits.ts.

export const HUB_TIERS = ['F1', 'B1', 'B2', 'B3', 'S1', 'S2', 'S3'] as const;
export type HubTier = (typeof HUB_TIERS)[number];

/** What the emulator can limit. */
export const LIMITED_OPERATIONS = [
  'connect',
  'd2c',
  'c2d',
  'method',
  'twinRead',
  'twinUpdate',
  'registry',
  'query',
  'dps',
] as const;
export type LimitedOperation = (typeof LIMITED_OPERATIONS)[number];

/** What a user asks for: a hub tier and its units, IoT Central's application limits, or DPS alone. */
export interface LimitsConfig {
  hubTier?: HubTier;
  /** Units of the tier (default 1). */
  hubUnits?: number;
  /** IoT Central's application limits instead of a hub tier's. */
  iotCentral?: boolean;
  /** DPS registrations per minute; 1,000 (DPS's limit) whenever a tier is given, 200 for IoT Central. */
  dpsRatePerMinute?: number;
  /** Excess absorbed before shaping starts, as time at the limit rate. Default 60 s. */
  shapingBurstMs?: number;
  /** Excess held (and served late) before refusals, as time at the limit rate. Default 10 s. */
  shapingQueueMs?: number;
  /** Messages a day instead of the tier's quota (in the tier's chunks): for trying what exhausting it does. */
  dailyQuota?: number;
}

export interface OperationRate {
  /** Operations (or metered units) per second, hub-wide. */
  perSecond: number;
  /** What one unit of `perSecond` is, when not one call. */
  meter?: string;
  /** A second limit per identity (IoT Central: one device bursts to 10 messages/s). */
  perIdentityPerSecond?: number;
  /** Counted over a minute and refused past it, never shaped (DPS). */
  perMinuteWindow?: boolean;
}

export interface DailyQuota {
  messages: number;
  chunkBytes: number;
}

/** The resolved limits: a rate for each limited operation, the daily quota, and the shaping. */
export interface LimitsPlan {
  /** `S1 × 2 units`, `iot-central`, `dps only`. */
  name: string;
  rates: Partial<Record<LimitedOperation, OperationRate>>;
  quota?: DailyQuota;
  shapingBurstMs: number;
  shapingQueueMs: number;
}

export const DEFAULT_SHAPING_BURST_MS = 60_000;
export const DEFAULT_SHAPING_QUEUE_MS = 10_000;
export const DPS_REGISTRATIONS_PER_MINUTE = 1_000;
/** Direct methods are metered in 4 KB (docs/protocol.md §7.1). */
export const METHOD_METER_BYTES = 4096;

const MAX_UNITS: Record<HubTier, number> = { F1: 1, B1: 200, B2: 200, B3: 10, S1: 200, S2: 200, S3: 10 };
const QUOTA_PER_UNIT: Record<HubTier, number> = {
  F1: 8_000,
  B1: 400_000,
  S1: 400_000,
  B2: 6_000_000,
  S2: 6_000_000,
  B3: 300_000_000,
  S3: 300_000_000,
};

/** The per-hub throttles of docs/protocol.md §7.1 for a tier and unit count. */
function hubRates(tier: HubTier, units: number): Partial<Record<LimitedOperation, OperationRate>> {
  const size = tier.endsWith('3') ? 3 : tier.endsWith('2') ? 2 : 1;
  const perUnit = (small: number, medium: number, large: number) =>
    (size === 1 ? small : size === 2 ? medium : large) * units;
  const newWork = size === 1 ? Math.max(100, 12 * units) : perUnit(0, 120, 6000);
  return {
    connect: { perSecond: newWork },
    d2c: { perSecond: newWork },
    c2d: { perSecond: perUnit(100, 100, 5000) / 60 },
    method: { perSecond: perUnit(40, 120, 6000), meter: '4 KB' },
    twinRead: { perSecond: size === 1 ? 100 : size === 2 ? Math.max(100, 10 * units) : 500 * units },
    twinUpdate: { perSecond: size === 1 ? 50 : size === 2 ? Math.max(50, 5 * units) : 250 * units },
    registry: { perSecond: perUnit(100, 100, 5000) / 60 },
    query: { perSecond: perUnit(20, 20, 1000) / 60 },
  };
}

/** IoT Central's application limits (docs/protocol.md §7.3). */
function centralRates(): Partial<Record<LimitedOperation, OperationRate>> {
  return {
    d2c: { perSecond: 200, perIdentityPerSecond: 10 },
    method: { perSecond: 20 },
    twinUpdate: { perSecond: 100 },
  };
}

export class LimitsConfigError extends Error {}

function check(ok: boolean, message: string): void {
  if (!ok) throw new LimitsConfigError(message);
}

function checkConfig(c: LimitsConfig): void {
  check(!(c.iotCentral === true && c.hubTier !== undefined), 'give a hub tier or IoT Central limits, not both');
  if (c.hubTier !== undefined) {
    check(HUB_TIERS.includes(c.hubTier), `hub tier must be one of ${HUB_TIERS.join(', ')} (got ${c.hubTier})`);
  }
  if (c.hubUnits !== undefined) {
    check(c.hubTier !== undefined, 'hub units need a hub tier (--hub-tier F1|B1|B2|B3|S1|S2|S3)');
    const max = MAX_UNITS[c.hubTier as HubTier];
    check(
      Number.isInteger(c.hubUnits) && c.hubUnits >= 1 && c.hubUnits <= max,
      `hub units of ${String(c.hubTier)} must be a whole number from 1 to ${max} (got ${c.hubUnits})`,
    );
  }
  const positive = (v: number | undefined, what: string) =>
    check(v === undefined || (Number.isFinite(v) && v > 0), `${what} must be more than 0 (got ${v})`);
  const notNegative = (v: number | undefined, what: string) =>
    check(v === undefined || (Number.isFinite(v) && v >= 0), `${what} must be 0 or more (got ${v})`);
  positive(c.dpsRatePerMinute, 'the DPS rate (registrations per minute)');
  positive(c.dailyQuota, 'the daily quota (messages)');
  notNegative(c.shapingBurstMs, 'the shaping burst');
  notNegative(c.shapingQueueMs, 'the shaping queue');
  check(c.dailyQuota === undefined || c.hubTier !== undefined, 'a daily quota needs a hub tier (IoT Central has none)');
}

/** The limits a configuration stands for; undefined when it limits nothing. Throws LimitsConfigError. */
export function planLimits(c: LimitsConfig): LimitsPlan | undefined {
  checkConfig(c);
  const units = c.hubUnits ?? 1;
  let rates: Partial<Record<LimitedOperation, OperationRate>> = {};
  let quota: DailyQuota | undefined;
  let name = 'DPS only';
  let dpsDefault: number | undefined;
  if (c.hubTier !== undefined) {
    rates = hubRates(c.hubTier, units);
    const messages = c.dailyQuota ?? QUOTA_PER_UNIT[c.hubTier] * units;
    quota = { messages, chunkBytes: c.hubTier === 'F1' ? 512 : 4096 };
    name = `${c.hubTier} × ${units} unit${units === 1 ? '' : 's'}`;
    dpsDefault = DPS_REGISTRATIONS_PER_MINUTE;
  } else if (c.iotCentral === true) {
    rates = centralRates();
    name = 'iot-central';
    dpsDefault = 200;
  }
  const dps = c.dpsRatePerMinute ?? dpsDefault;
  if (dps !== undefined) rates.dps = { perSecond: dps / 60, perMinuteWindow: true };
  if (Object.keys(rates).length === 0) return undefined;
  return {
    name,
    rates,
    ...(quota === undefined ? {} : { quota }),
    shapingBurstMs: c.shapingBurstMs ?? DEFAULT_SHAPING_BURST_MS,
    shapingQueueMs: c.shapingQueueMs ?? DEFAULT_SHAPING_QUEUE_MS,
  };
}
