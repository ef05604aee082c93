// A test harness, not k6: just enough of k6's JavaScript API on Node to run an exported script's VU code against
// the real emulator. `k6/x/mqtt` is mqtt.js, `k6/crypto` and `k6/encoding` are node:crypto and Buffer, `k6/metrics`
// collects every sample, `k6/execution` hands out iteration numbers, `k6/timers` are Node's. The script is
// transpiled to CommonJS with TypeScript and run with these modules as its `require`.
//
// Where the harness cannot be k6: xk6-mqtt's connect() blocks until CONNACK and throws when refused; here it
// returns at once, and a refused connection records the error and fires the `end` listener.
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { compileFunction } from 'node:vm';
import mqtt, { type MqttClient } from 'mqtt';
import ts from 'typescript';

export interface Sample {
  value: number;
  tags: Record<string, string>;
}

export interface HarnessResult {
  /** Every sample each metric took, by metric name. */
  samples: Map<string, Sample[]>;
  /** Connections refused or failed, as the harness saw them. */
  connectErrors: string[];
  /** The script's exported options. */
  options: Record<string, unknown>;
}

type Listener = (...args: unknown[]) => unknown;

/** `k6/x/mqtt`'s Client on mqtt.js, trusting the emulator's CA. */
class HarnessClient {
  private client: MqttClient | undefined;
  private readonly listeners = new Map<string, Listener>();

  constructor(
    private readonly opts: { client_id?: string; username?: string; password?: string },
    private readonly ca: string,
    private readonly connectErrors: string[],
  ) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  on(event: string, listener: Listener): void {
    this.listeners.set(event, listener);
  }

  connect(url: string, options: { keepalive?: number; connect_timeout?: number } = {}): void {
    const client = mqtt.connect(url, {
      clientId: this.opts.client_id ?? '',
      ...(this.opts.username === undefined ? {} : { username: this.opts.username }),
      ...(this.opts.password === undefined ? {} : { password: this.opts.password }),
      ca: this.ca,
      keepalive: options.keepalive ?? 60,
      connectTimeout: options.connect_timeout ?? 30_000,
      reconnectPeriod: 0,
      protocolVersion: 4,
      clean: true,
    });
    this.client = client;
    client.on('connect', () => void this.listeners.get('connect')?.());
    client.on('message', (topic, payload) => {
      const copy = payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.length);
      void this.listeners.get('message')?.(topic, copy);
    });
    client.on('error', (err) => {
      if (client.connected) return;
      this.connectErrors.push(`${this.opts.client_id}: ${err.message}`);
      client.end(true);
      void this.listeners.get('end')?.();
    });
  }

  publishAsync(topic: string, payload: string | ArrayBuffer, options: { qos?: 0 | 1 } = {}): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.connected) throw new Error('not connected');
    const body = typeof payload === 'string' ? payload : Buffer.from(payload);
    return new Promise((resolve, reject) =>
      client.publish(topic, body, { qos: options.qos ?? 0 }, (err) => (err ? reject(err) : resolve())),
    );
  }

  subscribeAsync(topics: string | string[], options: { qos?: 0 | 1 } = {}): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.connected) throw new Error('not connected');
    return new Promise((resolve, reject) =>
      client.subscribe(topics, { qos: options.qos ?? 0 }, (err, granted) => {
        if (err) reject(err);
        else if (granted?.some((g) => g.qos === 128)) reject(new Error('subscription refused'));
        else resolve();
      }),
    );
  }

  end(): void {
    void this.listeners.get('end')?.();
    this.client?.end(true);
  }
}

function k6Mqtt(ca: string, connectErrors: string[]) {
  return {
    Client: class extends HarnessClient {
      constructor(opts: { client_id?: string; username?: string; password?: string } = {}) {
        super(opts, ca, connectErrors);
      }
    },
  };
}

function k6Metrics(samples: Map<string, Sample[]>) {
  class Metric {
    constructor(readonly name: string) {
      samples.set(name, samples.get(name) ?? []);
    }
    add(value: number | boolean, tags: Record<string, string> = {}): void {
      samples.get(this.name)!.push({ value: Number(value), tags });
    }
  }
  return { Trend: Metric, Counter: Metric, Rate: Metric, Gauge: Metric };
}

const toBuffer = (v: string | ArrayBuffer): Buffer => (typeof v === 'string' ? Buffer.from(v) : Buffer.from(v));

const k6Crypto = {
  hmac: (algorithm: string, secret: string | ArrayBuffer, data: string | ArrayBuffer, encoding: 'base64' | 'hex') =>
    createHmac(algorithm, toBuffer(secret)).update(toBuffer(data)).digest(encoding),
};

const k6Encoding = {
  b64decode: (text: string): ArrayBuffer => {
    const b = Buffer.from(text, 'base64');
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
  },
  b64encode: (data: string | ArrayBuffer): string => toBuffer(data).toString('base64'),
};

/** Transpiles and runs the script: setup(), then `iterations` iterations, started `gapMs` apart. */
export async function runK6Script(
  file: string,
  run: { env: Record<string, string>; ca: string; iterations: number; gapMs: number },
): Promise<HarnessResult> {
  const source = await readFile(file, 'utf8');
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true },
  }).outputText;
  const samples = new Map<string, Sample[]>();
  const connectErrors: string[] = [];
  const scenario = { iterationInTest: 0, startTime: Date.now() };
  const modules: Record<string, unknown> = {
    'k6/x/mqtt': k6Mqtt(run.ca, connectErrors),
    'k6/crypto': k6Crypto,
    'k6/encoding': k6Encoding,
    'k6/metrics': k6Metrics(samples),
    'k6/execution': { __esModule: true, default: { scenario } },
    'k6/timers': { setTimeout, clearTimeout, setInterval, clearInterval },
  };
  const require = (name: string): unknown => {
    if (!(name in modules)) throw new Error(`the harness has no module ${name}`);
    return modules[name];
  };
  const exports: Record<string, unknown> = {};
  compileFunction(js, ['require', 'exports', '__ENV'], { filename: file })(require, exports, run.env);
  (exports.setup as (() => void) | undefined)?.();
  const device = exports.default as () => Promise<void>;
  const iterations: Promise<void>[] = [];
  for (let i = 0; i < run.iterations; i++) {
    scenario.iterationInTest = i;
    iterations.push(device());
    await new Promise((r) => setTimeout(r, run.gapMs));
  }
  await Promise.all(iterations);
  return { samples, connectErrors, options: exports.options as Record<string, unknown> };
}
