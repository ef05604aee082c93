// An identity-translation module (IoT Central's pattern): each downstream sensor is provisioned through DPS as
// its own device, attached to this IoT Edge device and module, and connects upstream as itself; the module holds
// those connections. The sensors are ordinary simulated devices, made by the factory the scenario gives.
import type { ModuleApi, ModuleBehaviour } from './types.js';

/** One sensor identity as the module runs it (a SimDevice). */
export interface TranslatedIdentity {
  readonly deviceId: string;
  start(): void;
  quiesce(): void;
  stop(): Promise<void>;
  readonly pendingAcks: number;
}

export interface IdentityTranslationOptions {
  /** The sensors' device ids. */
  sensorIds: string[];
  /** Makes one sensor identity, provisioned as a child of `gatewayId`/`moduleId`, arriving at `arrivalAt`. */
  createSensor(sensorId: string, gatewayId: string, moduleId: string, arrivalAt: number): Promise<TranslatedIdentity>;
}

export class IdentityTranslationModule implements ModuleBehaviour {
  private sensors: TranslatedIdentity[] = [];
  private generation = 0;
  private quiesced = false;

  constructor(private readonly options: IdentityTranslationOptions) {}

  start(api: ModuleApi): void {
    const generation = ++this.generation;
    this.quiesced = false;
    const now = api.scheduler.now();
    for (const id of this.options.sensorIds) {
      void this.options.createSensor(id, api.deviceId, api.moduleId, now).then(
        (sensor) => {
          if (generation !== this.generation || this.quiesced) return;
          this.sensors.push(sensor);
          sensor.start();
        },
        (err: unknown) => api.reportProperties({ sensors: { [id]: { error: (err as Error).message } } }),
      );
    }
  }

  /** The sensors stop sending; their connections stay for what is in flight. */
  quiesce(): void {
    this.quiesced = true;
    for (const s of this.sensors) s.quiesce();
  }

  get pendingAcks(): number {
    let n = 0;
    for (const s of this.sensors) n += s.pendingAcks;
    return n;
  }

  /** The module stops: its sensors disconnect. */
  async stop(): Promise<void> {
    this.generation++;
    const sensors = this.sensors;
    this.sensors = [];
    for (const s of sensors) s.quiesce();
    await Promise.all(sensors.map((s) => s.stop()));
  }
}
