// The part of an exported k6 script that is the same for every scenario: types of the fleet data, settings from
// __ENV, SAS tokens, the value interpreter, DPS registration and the device on its hub. Kept as text (it runs in
// k6, not here); the tests typecheck it against @types/k6 and run it on a harness against the emulator.
// No template literals inside: the text is itself one.

export const K6_RUNTIME_TYPES = String.raw`type Plan =
  | { k: 'const'; v: unknown }
  | ({ k: 'sine'; min: number; max: number; period: number; noise: number } & Fit)
  | ({ k: 'walk'; start: number; step: number; min: number | null; max: number | null } & Fit)
  | { k: 'step'; values: unknown[]; every: number }
  | ({ k: 'uniform'; min: number; max: number; integer: boolean } & Fit)
  | { k: 'pick'; values: unknown[]; p: number }
  | { k: 'poisson'; perMinute: number; value: Plan | null }
  | { k: 'uuid'; once: boolean }
  | { k: 'time'; format: 'dateTime' | 'date' | 'time'; offsetSeconds: number }
  | { k: 'duration' }
  | { k: 'bytes' }
  | { k: 'geo'; shape: string }
  | { k: 'object'; fields: [string, Plan][]; ordered: string[][] }
  | { k: 'array'; item: Plan }
  | { k: 'map'; key: string; value: Plan };
interface Fit {
  dp?: number;
  int?: readonly [number, number];
}
interface Command {
  status: number;
  delayMs: number;
  response: Plan | null;
}
interface Group {
  name: string;
  count: number;
  idPattern: string;
  firstIndex: number;
  modelId: string | null;
  intervalMs: number;
  qos: 0 | 1;
  telemetry: { component: string | null; fields: [string, Plan][] }[];
  reported: [string, Plan][];
  writable: string[] | null;
  ack: { code: number; delayMs: number; description: string };
  commands: Record<string, Command>;
}
interface Fleet {
  scenario: string;
  seed: number;
  durationMs: number;
  drainMs: number;
  groups: Group[];
}
`;

export const K6_RUNTIME_CORE = String.raw`
// ---- the same in every exported script ----------------------------------------------------------------------

const trends = {
  provision: new Trend('provision', true),
  connect: new Trend('connect', true),
  telemetry: new Trend('telemetry', true),
  twinGet: new Trend('twinGet', true),
  reportedPatch: new Trend('reportedPatch', true),
};
const ledger = {
  generated: new Counter('ledger_generated'),
  acknowledged: new Counter('ledger_acknowledged'),
  failed: new Counter('ledger_failed'),
};
const errorCount = new Counter('error_count');
const errors = new Rate('errors');
const commandsAnswered = new Counter('commands_answered');
const desiredAcknowledged = new Counter('desired_acknowledged');
const c2dReceived = new Counter('c2d_received');

/** A setting from k6 run -e NAME=…, or its default; never written into the script. */
function setting(name: string, fallback?: string): string {
  const value = __ENV[name];
  if (value !== undefined && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new Error(
    name + ' is not set: add -e ' + name + '=… to k6 run (this script’s header lists every setting)',
  );
}

/** Checks the settings once, before any device starts. */
export function setup(): void {
  for (const name of REQUIRED_SETTINGS) setting(name);
}

function succeeded(operation: string): void {
  errors.add(false, { operation: operation });
}

function failed(operation: string, cls: string, message: string): void {
  errors.add(true, { operation: operation });
  errorCount.add(1, { class: cls, operation: operation });
  if (operation === 'provision' || operation === 'connect') console.warn('edgefleet: ' + message);
}

/** The error class edgefleet would give a failure, from its message. */
function classify(err: unknown): { cls: string; message: string } {
  const message =
    typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
  const m = message.toLowerCase();
  const cls = /not authori[sz]ed|bad user name or password|identifier rejected/.test(m)
    ? 'auth'
    : /timeout|timed out/.test(m)
      ? 'timeout'
      : /unavailable/.test(m)
        ? 'server'
        : /eof|reset|refused|closed|not connected|network|dial|tls|x509|certificate|connection/.test(m)
          ? 'network'
          : 'other';
  return { cls: cls, message: message };
}

function statusClass(status: number): string {
  if (status === 401 || status === 403 || status === 404) return 'auth';
  if (status === 429) return 'throttled';
  return status >= 500 ? 'server' : 'protocol';
}

// ---- identities and SAS -----------------------------------------------------------------------------------------

interface DeviceRef {
  group: Group;
  id: string;
}

/** The device of the n-th iteration over the whole test (unique across k6-operator execution segments). */
function deviceAt(ordinal: number): DeviceRef | undefined {
  let rest = ordinal;
  for (const group of FLEET.groups) {
    if (rest < group.count) return { group: group, id: deviceId(group, group.firstIndex + rest) };
    rest -= group.count;
  }
  return undefined;
}

function deviceId(group: Group, index: number): string {
  return group.idPattern
    .replace(/\{\s*group\s*\}/g, group.name)
    .replace(/\{\s*index(?::(\d{1,2}))?\s*\}/g, function (_all: string, width?: string): string {
      let text = String(index);
      while (text.length < Number(width || 0)) text = '0' + text;
      return text;
    });
}

function encodeStrict(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, function (c: string): string {
    return '%' + c.charCodeAt(0).toString(16).toUpperCase();
  });
}

/** base64(HMAC-SHA256(base64decode(key), message)): device keys from the group key, and SAS signatures. */
function sign(base64Key: string, message: string): string {
  return hmac('sha256', b64decode(base64Key, 'std'), message, 'base64');
}

function sasToken(resource: string, key: string, expiry: number, keyName?: string): string {
  const sr = encodeStrict(resource);
  const sig = encodeStrict(sign(key, sr + '\n' + expiry));
  const skn = keyName === undefined ? '' : '&skn=' + encodeStrict(keyName);
  return 'SharedAccessSignature sr=' + sr + '&sig=' + sig + skn + '&se=' + expiry;
}

function utf8(buffer: ArrayBuffer): string {
  const bytes = new Uint8Array(buffer);
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const n = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    let code = n === 1 ? b : b & (0xff >> (n + 1));
    for (let j = 1; j < n; j++) code = (code << 6) | ((bytes[i + j] ?? 0) & 0x3f);
    out += String.fromCodePoint(code);
    i += n;
  }
  return out;
}

function queryOf(topic: string): Record<string, string> {
  const out: Record<string, string> = {};
  const at = topic.indexOf('?');
  if (at < 0) return out;
  for (const part of topic.slice(at + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[decodeURIComponent(part.slice(0, eq))] = decodeURIComponent(part.slice(eq + 1));
  }
  return out;
}

function parsed(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch (_err) {
    return text;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
`;

export const K6_RUNTIME_VALUES = String.raw`
// ---- values -----------------------------------------------------------------------------------------------------

type Draw = (seconds: number) => unknown;
type Random = () => number;

/** mulberry32 from a seed of the scenario's seed and the device id: the same device draws the same values. */
function randomFor(deviceId: string): Random {
  let h = 0x811c9dc5;
  const text = FLEET.seed + ':' + deviceId;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  let state = h >>> 0;
  return function (): number {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fitted(fit: Fit, v: number): number {
  if (fit.int !== undefined) return Math.min(fit.int[1], Math.max(fit.int[0], Math.round(v)));
  if (fit.dp === undefined) return v;
  const f = Math.pow(10, fit.dp);
  return Math.round(v * f) / f;
}

function numberDraw(plan: Plan & { k: 'sine' | 'walk' | 'uniform' }, random: Random): Draw {
  if (plan.k === 'sine') {
    const p = plan;
    const phase = random() * 2 * Math.PI;
    const mid = (p.min + p.max) / 2;
    const amp = Math.max(0, (p.max - p.min) / 2 - p.noise);
    return function (t: number): unknown {
      let v = mid + amp * Math.sin(((2 * Math.PI) / p.period) * (t % p.period) + phase);
      if (p.noise > 0) v += p.noise * (2 * random() - 1);
      return fitted(p, Math.min(p.max, Math.max(p.min, v)));
    };
  }
  if (plan.k === 'walk') {
    const p = plan;
    const min = p.min === null ? -Infinity : p.min;
    const max = p.max === null ? Infinity : p.max;
    let x = p.start;
    return function (): unknown {
      const v = x;
      x += p.step * (2 * random() - 1);
      if (x > max) x = 2 * max - x;
      if (x < min) x = 2 * min - x;
      if (x > max) x = max;
      return fitted(p, v);
    };
  }
  const u = plan;
  const lo = u.integer ? Math.ceil(u.min) : u.min;
  const hi = u.integer ? Math.floor(u.max) : u.max;
  return function (): unknown {
    return fitted(u, u.integer ? lo + Math.floor(random() * (hi - lo + 1)) : lo + random() * (hi - lo));
  };
}

function pickDraw(values: unknown[], p: number, random: Random): Draw {
  const one = function (): unknown {
    return values[Math.floor(random() * values.length)];
  };
  let value = one();
  return function (): unknown {
    if (p > 0 && random() < p) value = one();
    return value;
  };
}

function poissonDraw(perMinute: number, inner: Draw, random: Random): Draw {
  let last = NaN;
  return function (t: number): unknown {
    const dt = t - last;
    last = t;
    if (!(dt > 0)) return undefined;
    return random() < 1 - Math.exp((-perMinute / 60) * dt) ? inner(t) : undefined;
  };
}

function uuidDraw(once: boolean, random: Random): Draw {
  const make = function (): string {
    let hex = '';
    for (let i = 0; i < 32; i++) {
      const nibble = i === 12 ? 4 : i === 16 ? 8 + Math.floor(random() * 4) : Math.floor(random() * 16);
      hex += nibble.toString(16);
    }
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
  };
  const fixed = once ? make() : undefined;
  return function (): unknown {
    return fixed !== undefined ? fixed : make();
  };
}

function timeDraw(format: string, offsetSeconds: number): Draw {
  return function (t: number): unknown {
    const iso = new Date(Math.floor((t + offsetSeconds) * 1000)).toISOString();
    return format === 'date' ? iso.slice(0, 10) : format === 'time' ? iso.slice(11, 19) : iso;
  };
}

function bytesDraw(random: Random): Draw {
  return function (): unknown {
    const bytes = new Uint8Array(12);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    return b64encode(bytes.buffer, 'std');
  };
}

function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

function geoLine(lon: number, lat: number): number[][] {
  return [0, 1, 2].map(function (i: number): number[] {
    return [round6(lon + 0.001 * i), round6(lat + 0.001 * (i % 2))];
  });
}

function geoRing(lon: number, lat: number): number[][] {
  const e = 0.001;
  const corner = function (x: number, y: number): number[] {
    return [round6(lon + x * e), round6(lat + y * e)];
  };
  return [corner(-1, -1), corner(1, -1), corner(1, 1), corner(-1, 1), corner(-1, -1)];
}

/** A GeoJSON geometry of the given DTDL geospatial schema around a position. */
function geoShape(shape: string, lon: number, lat: number): unknown {
  switch (shape) {
    case 'multiPoint':
      return { type: 'MultiPoint', coordinates: geoLine(lon, lat) };
    case 'lineString':
      return { type: 'LineString', coordinates: geoLine(lon, lat) };
    case 'multiLineString':
      return { type: 'MultiLineString', coordinates: [geoLine(lon, lat), geoLine(lon + 0.002, lat + 0.002)] };
    case 'polygon':
      return { type: 'Polygon', coordinates: [geoRing(lon, lat)] };
    case 'multiPolygon':
      return { type: 'MultiPolygon', coordinates: [[geoRing(lon, lat)], [geoRing(lon + 0.004, lat + 0.004)]] };
    default:
      return { type: 'Point', coordinates: [lon, lat] };
  }
}

/** A home position and a slow wander around it: IoT Central's geopoint and vector, and the GeoJSON shapes. */
function geoDraw(shape: string, random: Random): Draw {
  const home = [random() * 358 - 179, random() * 120 - 55];
  const d = [0, 0];
  let alt = random() * 500;
  const phases = [random() * 2 * Math.PI, random() * 2 * Math.PI, random() * 2 * Math.PI];
  return function (t: number): unknown {
    if (shape === 'vector') {
      const v = phases.map(function (phase: number): number {
        const x = 9.5 * Math.sin(((2 * Math.PI) / 60) * (t % 60) + phase) + (random() - 0.5);
        return Math.round(x * 1000) / 1000;
      });
      return { x: v[0], y: v[1], z: v[2] };
    }
    for (let i = 0; i < 2; i++) d[i] = Math.max(-0.05, Math.min(0.05, d[i]! + 0.0005 * (2 * random() - 1)));
    const lon = round6(home[0]! + d[0]!);
    const lat = round6(home[1]! + d[1]!);
    alt = Math.min(2000, Math.max(0, alt + 2 * random() - 1));
    return shape === 'geopoint' ? { lat: lat, lon: lon, alt: Math.round(alt * 10) / 10 } : geoShape(shape, lon, lat);
  };
}

function objectDraw(fields: [string, Plan][], ordered: string[][], random: Random): Draw {
  const draws = fields.map(function (f: [string, Plan]): [string, Draw] {
    return [f[0], draw(f[1], random)];
  });
  return function (t: number): unknown {
    const o: Record<string, unknown> = {};
    for (const f of draws) {
      const v = f[1](t);
      if (v !== undefined) o[f[0]] = v;
    }
    // Related statistics (minTemp, avgTemp, maxTemp) keep their order, as the engine keeps it.
    for (const names of ordered) {
      const values = names.map(function (n: string): unknown {
        return o[n];
      });
      if (
        !values.every(function (v: unknown): boolean {
          return typeof v === 'number';
        })
      )
        continue;
      (values as number[]).sort(function (a: number, b: number): number {
        return a - b;
      });
      names.forEach(function (n: string, i: number): void {
        o[n] = values[i];
      });
    }
    return o;
  };
}

function listDraw(plan: Plan & { k: 'array' | 'map' }, random: Random): Draw {
  const n = plan.k === 'array' ? 1 + Math.floor(random() * 3) : 2 + Math.floor(random() * 2);
  const draws: Draw[] = [];
  for (let i = 0; i < n; i++) draws.push(draw(plan.k === 'array' ? plan.item : plan.value, random));
  return function (t: number): unknown {
    if (plan.k === 'array') {
      return draws
        .map(function (d: Draw): unknown {
          return d(t);
        })
        .filter(function (v: unknown): boolean {
          return v !== undefined;
        });
    }
    const o: Record<string, unknown> = {};
    draws.forEach(function (d: Draw, i: number): void {
      const v = d(t);
      if (v !== undefined) o[plan.key + (i + 1)] = v;
    });
    return o;
  };
}

/** How a plan draws its values for one device. */
function draw(plan: Plan, random: Random): Draw {
  switch (plan.k) {
    case 'const':
      return function (): unknown {
        return plan.v;
      };
    case 'sine':
    case 'walk':
    case 'uniform':
      return numberDraw(plan, random);
    case 'step':
      return function (t: number): unknown {
        const n = plan.values.length;
        const i = Math.floor(t / plan.every) % n;
        return plan.values[i < 0 ? i + n : i];
      };
    case 'pick':
      return pickDraw(plan.values, plan.p, random);
    case 'poisson':
      return poissonDraw(
        plan.perMinute,
        plan.value === null
          ? function (): unknown {
              return true;
            }
          : draw(plan.value, random),
        random,
      );
    case 'uuid':
      return uuidDraw(plan.once, random);
    case 'time':
      return timeDraw(plan.format, plan.offsetSeconds);
    case 'duration':
      return function (): unknown {
        return 'PT' + (1 + Math.floor(random() * 3600)) + 'S';
      };
    case 'bytes':
      return bytesDraw(random);
    case 'geo':
      return geoDraw(plan.shape, random);
    case 'object':
      return objectDraw(plan.fields, plan.ordered, random);
    case 'array':
    case 'map':
      return listDraw(plan, random);
  }
}
`;
