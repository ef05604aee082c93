// Module behaviours by name, and how a module gets one: explicit configuration, else its image name.
import { pathToFileURL } from 'node:url';
import { createTelemetrySource, type DeviceModel, type GeneratorSpec } from '../../model/index.js';
import type { TelemetrySource } from '../../thing.js';
import { DtdlModule } from './dtdl.js';
import { FilterModule, type FilterOptions } from './filter.js';
import { IdentityTranslationModule, type IdentityTranslationOptions } from './identity-translation.js';
import { PassthroughModule, type PassthroughOptions } from './passthrough.js';
import { ProtocolTranslationModule, type ProtocolTranslationOptions } from './protocol-translation.js';
import { SimulatedTemperatureSensor, type SensorOptions } from './simulated-temperature-sensor.js';
import type { ModuleBehaviour } from './types.js';

export type { ModuleApi, ModuleBehaviour, MethodReply } from './types.js';
export { SimulatedTemperatureSensor } from './simulated-temperature-sensor.js';
export { DtdlModule } from './dtdl.js';
export { FilterModule, inputRouteMessage } from './filter.js';
export { PassthroughModule } from './passthrough.js';
export {
  ProtocolTranslationModule,
  sensorIds,
  type TranslatedSensorSpec,
  type SensorCounters,
} from './protocol-translation.js';
export { IdentityTranslationModule, type TranslatedIdentity } from './identity-translation.js';

/** How one module behaves. Plain data (bar a custom factory), so the engine can map a scenario onto it. */
export type ModuleConfig =
  | ({ behaviour: 'simulated-temperature-sensor' } & SensorOptions)
  | {
      behaviour: 'dtdl';
      output?: string;
      /** Between two messages, ms (default 10 s). */
      intervalMs?: number;
      /** A parsed model; or give the module a source in EdgeDeviceConfig.telemetrySources. */
      model?: DeviceModel;
      values?: Record<string, GeneratorSpec>;
    }
  | ({ behaviour: 'filter' } & FilterOptions)
  | ({ behaviour: 'passthrough' } & PassthroughOptions)
  | ({ behaviour: 'protocol-translation' } & ProtocolTranslationOptions)
  /** The sensor factory comes from the engine (it knows the target and the DPS group key). */
  | ({ behaviour: 'identity-translation' } & IdentityTranslationOptions)
  /** A file whose default export is `(options) => ModuleBehaviour`, or the factory itself. */
  | {
      behaviour: 'custom';
      file?: string;
      create?: (options: Record<string, unknown>) => ModuleBehaviour;
      options?: Record<string, unknown>;
    };

export type ModuleBehaviourName = ModuleConfig['behaviour'];

/** A dtdl module's source: given as is, or built from a seed. */
export type TelemetrySourceSpec = TelemetrySource | ((seed: number) => TelemetrySource);

const DEFAULT_FALLBACK: ModuleConfig = { behaviour: 'passthrough', output: 'output1' };

/** Explicit configuration first, then the image name (the sample's image), then the fallback. */
export function chooseModuleConfig(
  image: string,
  configured: ModuleConfig | undefined,
  fallback: ModuleConfig = DEFAULT_FALLBACK,
): ModuleConfig {
  if (configured !== undefined) return configured;
  if (/simulated-?temperature-?sensor/i.test(image)) return { behaviour: 'simulated-temperature-sensor' };
  return fallback;
}

const customModules = new Map<string, Promise<(options: Record<string, unknown>) => ModuleBehaviour>>();

async function loadCustom(file: string): Promise<(options: Record<string, unknown>) => ModuleBehaviour> {
  let loading = customModules.get(file);
  if (loading === undefined) {
    loading = import(pathToFileURL(file).href).then((m: { default?: unknown }) => {
      if (typeof m.default !== 'function')
        throw new Error(`${file}: the default export must be a function (options) => behaviour`);
      return m.default as (options: Record<string, unknown>) => ModuleBehaviour;
    });
    customModules.set(file, loading);
  }
  return loading;
}

/** A new behaviour instance; throws (or rejects) when the configuration cannot work. */
export async function createBehaviour(
  moduleId: string,
  config: ModuleConfig,
  seed: number,
  source?: TelemetrySourceSpec,
): Promise<ModuleBehaviour> {
  switch (config.behaviour) {
    case 'simulated-temperature-sensor':
      return new SimulatedTemperatureSensor(config);
    case 'dtdl': {
      let telemetry: TelemetrySource;
      if (source !== undefined) telemetry = typeof source === 'function' ? source(seed) : source;
      else if (config.model !== undefined) telemetry = createTelemetrySource(config.model, config.values ?? {}, seed);
      else throw new Error(`module ${moduleId}: a dtdl behaviour needs a model or a telemetry source`);
      return new DtdlModule({
        source: telemetry,
        ...(config.output === undefined ? {} : { output: config.output }),
        ...(config.intervalMs === undefined ? {} : { intervalMs: config.intervalMs }),
      });
    }
    case 'filter':
      return new FilterModule(config);
    case 'passthrough':
      return new PassthroughModule(config);
    case 'protocol-translation':
      return new ProtocolTranslationModule({ seed, ...config });
    case 'identity-translation':
      return new IdentityTranslationModule(config);
    case 'custom': {
      const create = config.create ?? (config.file === undefined ? undefined : await loadCustom(config.file));
      if (create === undefined)
        throw new Error(`module ${moduleId}: a custom behaviour needs a file or a create function`);
      return create(config.options ?? {});
    }
  }
}
