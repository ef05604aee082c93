import { describe, expect, it } from 'vitest';
import { profileJsonSchema, scenarioJsonSchema } from '../../src/config/schema.js';

type Json = Record<string, any>;

describe('JSON Schema', () => {
  it('describes the scenario, its groups of both kinds and their fields', () => {
    const schema = scenarioJsonSchema() as Json;
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.title).toBe('edgefleet scenario');
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'fleet']));
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.target.enum).toEqual(['emulator', 'iot-central', 'iot-hub', 'mqtt']);
    expect(schema.properties.duration.description).toMatch(/overrides the profile/);
    const groups = schema.properties.fleet.items.oneOf as Json[];
    expect(groups.map((g) => g.properties.kind.const)).toEqual(['device', 'iotEdge']);
    const [device, edge] = groups as [Json, Json];
    expect(Object.keys(device.properties)).toEqual(
      expect.arrayContaining([
        'group',
        'count',
        'idPattern',
        'auth',
        'connectionStrings',
        'model',
        'telemetry',
        'properties',
        'commands',
      ]),
    );
    expect(device.properties.count.minimum).toBe(1);
    expect(device.properties.idPattern.description).toMatch(/\{index:NN\}/);
    expect(device.properties.telemetry.properties.interval.default).toBe('10s');
    expect(Object.keys(edge.properties)).toEqual(expect.arrayContaining(['manifest', 'modules']));
    expect(edge.properties).not.toHaveProperty('telemetry');
    expect(edge.required).toEqual(expect.arrayContaining(['group', 'kind', 'count', 'manifest']));
    const text = JSON.stringify(schema);
    for (const word of [
      'simulated-temperature-sensor',
      'passthrough',
      'randomWalk',
      'poisson',
      'groupKeys',
      'moduleTelemetry',
    ]) {
      expect(text).toContain(word);
    }
  });

  it('describes generators once, by reference', () => {
    const schema = scenarioJsonSchema() as Json;
    const generator = schema.$defs.GeneratorSpec as Json;
    expect(generator.description).toMatch(/How a value is generated/);
    expect(generator.oneOf.map((option: Json) => option.properties.kind.const)).toEqual([
      'constant',
      'sine',
      'randomWalk',
      'step',
      'uniform',
      'faker',
      'poisson',
    ]);
  });

  it('describes the profile', () => {
    const schema = profileJsonSchema() as Json;
    expect(schema.title).toBe('edgefleet profile');
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'duration', 'arrivals']));
    expect(schema.properties.arrivals.properties.stages.items.required).toEqual(['duration', 'target']);
    expect(schema.properties.drain.default).toBe('5s');
    expect(schema.properties.telemetry.properties.rateMultiplier.description).toMatch(/Scales/);
    const actions = schema.properties.actions.items.oneOf as Json[];
    expect(actions.map((a) => a.properties.kind.const)).toEqual(['command', 'writeProperty']);
    const events = schema.properties.events.items.oneOf as Json[];
    expect(events.map((e) => e.properties.kind.const)).toEqual([
      'dropConnections',
      'targetOutage',
      'networkDrop',
      'targetRestart',
    ]);
  });

  it('is plain JSON', () => {
    expect(JSON.parse(JSON.stringify(scenarioJsonSchema()))).toEqual(scenarioJsonSchema());
  });
});
