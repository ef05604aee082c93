// Generators given for a model's telemetry, checked against the model: names it has, values its schemas accept.
// The telemetry source (src/sim/model/generators.ts) refuses with these same checks; the scenario gate runs them
// before a run.
import type { DeviceModel, TelemetryDef } from '../model/dtdl.js';
import { conformsTo, describeSchema, fitInteger, isNumericSchema } from '../model/schema.js';
import { generatorProblem } from './generators.js';

const NUMERIC_KINDS = new Set(['sine', 'randomWalk', 'uniform']);

/** "component.name", or "name" for the root's. */
export function telemetryKey(def: Pick<TelemetryDef, 'component' | 'name'>): string {
  return def.component === undefined ? def.name : `${def.component}.${def.name}`;
}

/** The generator given for a telemetry: "component.name" for one component, "name" for the root or every component. */
export function overrideKeyOf(def: TelemetryDef, overrides: Readonly<Record<string, unknown>>): string | undefined {
  const full = telemetryKey(def);
  return full in overrides ? full : def.name in overrides ? def.name : undefined;
}

/** What is wrong with the generator `key` for a telemetry, as far as can be known before it runs. */
export function overrideProblem(
  key: string,
  spec: unknown,
  def: TelemetryDef,
  fakerProblem?: (method: string) => string | undefined,
): string | undefined {
  const check = (s: unknown, where: string): string | undefined => {
    const loose = s as { kind?: unknown; value?: unknown; values?: unknown };
    if (typeof loose.kind === 'string' && NUMERIC_KINDS.has(loose.kind) && !isNumericSchema(def.schema)) {
      return `override "${key}": a ${loose.kind} generator makes numbers, but ${key} is ${describeSchema(def.schema)}`;
    }
    const values =
      loose.kind === 'constant'
        ? [loose.value]
        : loose.kind === 'step' && Array.isArray(loose.values)
          ? loose.values
          : [];
    for (const v of values) {
      if (!conformsTo(fitInteger(def.schema, v), def.schema)) {
        const schema = describeSchema(def.schema);
        return `override "${key}"${where}: ${JSON.stringify(v)} does not fit ${key}'s schema, ${schema}`;
      }
    }
    if (loose.kind !== 'poisson' || loose.value === undefined) return undefined;
    return check(loose.value, `${where} (poisson value)`);
  };
  const problem = check(spec, '');
  if (problem !== undefined) return problem;
  const specProblem = generatorProblem(spec, fakerProblem);
  return specProblem && `override "${key}": ${specProblem.message}`;
}

/** Generators named for telemetry the model does not have. */
export function unknownOverridesProblem(
  model: DeviceModel,
  overrides: Readonly<Record<string, unknown>>,
): string | undefined {
  const used = new Set(model.telemetry.map((def) => overrideKeyOf(def, overrides)));
  const unknown = Object.keys(overrides).filter((k) => !used.has(k));
  if (unknown.length === 0) return undefined;
  const known = model.telemetry.map(telemetryKey);
  const has = known.length > 0 ? known.map((k) => `"${k}"`).join(', ') : 'none';
  return `override ${unknown.map((k) => `"${k}"`).join(', ')}: no such telemetry in ${model.id}; it has ${has}`;
}
