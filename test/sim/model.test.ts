import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModelFile, ModelError, parseModel, type DeviceModel } from '../../src/sim/model/dtdl.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

const V2 = 'dtmi:dtdl:context;2';
const V3 = 'dtmi:dtdl:context;3';

function iface(contents: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { '@context': V2, '@id': 'dtmi:com:example:Thing;1', '@type': 'Interface', contents, ...extra };
}

/** Parses and returns the ModelError (fails the test if there is none). */
function errorOf(json: unknown, file = 'model.json', rootId?: string): ModelError {
  try {
    parseModel(json, rootId === undefined ? { file } : { file, rootId });
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    return err as ModelError;
  }
  throw new Error('expected a ModelError, the model parsed');
}

describe('parseModel: the Thermostat (DTDL v2 fixture)', () => {
  it('reads telemetry, writable and read-only properties, and a command with request and object response', async () => {
    const m = await loadModelFile(fixture('thermostat.dtdl.json'));
    expect(m.id).toBe('dtmi:com:example:Thermostat;1');
    expect(m.displayName).toBe('Thermostat');
    expect(m.components).toEqual([]);
    expect(m.telemetry).toEqual([
      { name: 'temperature', schema: 'double', semanticType: 'Temperature', unit: 'degreeCelsius' },
    ]);
    expect(m.properties).toEqual([
      {
        name: 'targetTemperature',
        schema: 'double',
        writable: true,
        semanticType: 'Temperature',
        unit: 'degreeCelsius',
      },
      {
        name: 'maxTempSinceLastReboot',
        schema: 'double',
        writable: false,
        semanticType: 'Temperature',
        unit: 'degreeCelsius',
      },
    ]);
    expect(m.commands).toEqual([
      {
        name: 'getMaxMinReport',
        request: { name: 'since', schema: 'dateTime' },
        response: {
          name: 'tempReport',
          schema: {
            kind: 'object',
            fields: [
              { name: 'maxTemp', schema: 'double' },
              { name: 'minTemp', schema: 'double' },
              { name: 'avgTemp', schema: 'double' },
              { name: 'startTime', schema: 'dateTime' },
              { name: 'endTime', schema: 'dateTime' },
            ],
          },
        },
      },
    ]);
    // Root items carry no component key at all (not even undefined): bodies and twin patches rely on it.
    expect('component' in m.telemetry[0]!).toBe(false);
  });
});

describe('parseModel: a DTDL v3 TemperatureController with components', () => {
  let m: DeviceModel;

  it('resolves Components to the Interfaces of the same array and flattens their contents', async () => {
    m = await loadModelFile(fixture('temperature-controller.v3.dtdl.json'));
    expect(m.id).toBe('dtmi:com:example:TemperatureController;2');
    expect(m.displayName).toBe('Temperature Controller');
    expect(m.components).toEqual([
      { name: 'thermostat1', modelId: 'dtmi:com:example:Thermostat;2' },
      { name: 'thermostat2', modelId: 'dtmi:com:example:Thermostat;2' },
      { name: 'deviceInformation', modelId: 'dtmi:azure:DeviceManagement:DeviceInformation;1' },
    ]);
    expect(m.telemetry.map((t) => [t.component, t.name, t.semanticType])).toEqual([
      [undefined, 'workingSet', 'DataSize'],
      ['thermostat1', 'temperature', 'Temperature'],
      ['thermostat2', 'temperature', 'Temperature'],
    ]);
    expect(m.properties.filter((p) => p.writable).map((p) => `${p.component}.${p.name}`)).toEqual([
      'thermostat1.targetTemperature',
      'thermostat2.targetTemperature',
    ]);
    expect(m.properties.filter((p) => p.component === 'deviceInformation').map((p) => p.name)).toEqual([
      'manufacturer',
      'model',
      'swVersion',
      'osName',
      'processorArchitecture',
      'processorManufacturer',
      'totalStorage',
      'totalMemory',
    ]);
    expect(m.properties.find((p) => p.name === 'serialNumber')).toEqual({
      name: 'serialNumber',
      schema: 'string',
      writable: false,
    });
    expect(m.commands.map((c) => [c.component, c.name])).toEqual([
      [undefined, 'reboot'],
      ['thermostat1', 'getMaxMinReport'],
      ['thermostat2', 'getMaxMinReport'],
    ]);
    expect(m.commands[0]).toEqual({ name: 'reboot', request: { name: 'delay', schema: 'integer' } });
  });

  it('finds the root whatever the order of the array, or takes rootId', () => {
    const json = [
      {
        '@context': V3,
        '@id': 'dtmi:x:Part;1',
        '@type': 'Interface',
        contents: [{ '@type': 'Telemetry', name: 't', schema: 'double' }],
      },
      {
        '@context': V3,
        '@id': 'dtmi:x:Whole;1',
        '@type': 'Interface',
        contents: [{ '@type': 'Component', name: 'p', schema: 'dtmi:x:Part;1' }],
      },
    ];
    expect(parseModel(json).id).toBe('dtmi:x:Whole;1');
    expect(parseModel(json, { rootId: 'dtmi:x:Part;1' }).id).toBe('dtmi:x:Part;1');
    const two = [json[0], { ...json[0], '@id': 'dtmi:x:Other;1' }];
    const e = errorOf(two);
    expect(e.message).toContain('2 Interfaces are not used by any other');
    expect(e.message).toContain('rootId');
  });
});

describe('parseModel: DTDL features beyond the samples', () => {
  it('accepts an inline Interface as a Component schema and flattens `extends`', () => {
    const m = parseModel([
      {
        '@context': V2,
        '@id': 'dtmi:x:Base;1',
        '@type': 'Interface',
        contents: [{ '@type': 'Telemetry', name: 'uptime', schema: 'long' }],
      },
      {
        '@context': V2,
        '@id': 'dtmi:x:Device;1',
        '@type': 'Interface',
        extends: 'dtmi:x:Base;1',
        contents: [
          {
            '@type': 'Component',
            name: 'sensor',
            schema: {
              '@type': 'Interface',
              '@id': 'dtmi:x:Sensor;1',
              contents: [{ '@type': 'Telemetry', name: 'lux', schema: 'float' }],
            },
          },
        ],
      },
    ]);
    expect(m.id).toBe('dtmi:x:Device;1');
    expect(m.telemetry).toEqual([
      { name: 'uptime', schema: 'long' },
      { name: 'lux', schema: 'float', component: 'sensor' },
    ]);
    expect(m.components).toEqual([{ name: 'sensor', modelId: 'dtmi:x:Sensor;1' }]);
  });

  it('reads Enum, Map, Array (v3 property), reusable schemas, geospatial and IoT Central schemas; skips cloud properties and relationships', () => {
    const m = parseModel({
      '@context': [V3, 'dtmi:iotcentral:context;2'],
      '@id': 'dtmi:x:Rich;1',
      '@type': 'Interface',
      schemas: [
        {
          '@id': 'dtmi:x:Rich:mode;1',
          '@type': 'Enum',
          valueSchema: 'string',
          enumValues: [
            { name: 'eco', enumValue: 'eco' },
            { name: 'boost', enumValue: 'boost' },
          ],
        },
      ],
      contents: [
        { '@type': ['Telemetry', 'State'], name: 'mode', schema: 'dtmi:x:Rich:mode;1' },
        { '@type': 'Property', name: 'modes', schema: { '@type': 'Array', elementSchema: 'dtmi:x:Rich:mode;1' } },
        {
          '@type': 'Property',
          name: 'modules',
          writable: true,
          schema: {
            '@type': 'Map',
            mapKey: { name: 'moduleName', schema: 'string' },
            mapValue: { name: 'state', schema: 'string' },
          },
        },
        { '@type': 'Telemetry', name: 'position', schema: 'point' },
        { '@type': 'Telemetry', name: 'route', schema: 'dtmi:standard:schema:geospatial:lineString;3' },
        { '@type': ['Telemetry', 'Location'], name: 'tracking', schema: 'geopoint' },
        { '@type': ['Telemetry', 'AccelerationVector'], name: 'accel', schema: 'vector' },
        { '@type': ['Property', 'Cloud', 'StringValue'], name: 'customerName', schema: 'string' },
        { '@type': 'Relationship', name: 'site', target: 'dtmi:x:Site;1' },
      ],
    });
    const mode = {
      kind: 'enum',
      valueSchema: 'string',
      values: [
        { name: 'eco', value: 'eco' },
        { name: 'boost', value: 'boost' },
      ],
    };
    expect(m.telemetry).toEqual([
      { name: 'mode', schema: mode, semanticType: 'State' },
      { name: 'position', schema: 'point' },
      { name: 'route', schema: 'lineString' },
      { name: 'tracking', schema: 'geopoint', semanticType: 'Location' },
      { name: 'accel', schema: 'vector', semanticType: 'AccelerationVector' },
    ]);
    expect(m.properties).toEqual([
      { name: 'modes', schema: { kind: 'array', elementSchema: mode }, writable: false },
      {
        name: 'modules',
        schema: {
          kind: 'map',
          key: { name: 'moduleName', schema: 'string' },
          value: { name: 'state', schema: 'string' },
        },
        writable: true,
      },
    ]);
  });

  it('accepts the DTDL v4 primitives under a v4 context, and v3 DTMIs without version or with major.minor', () => {
    const m = parseModel({
      '@context': 'dtmi:dtdl:context;4',
      '@id': 'dtmi:x:New;1.2',
      '@type': 'Interface',
      contents: [
        'byte',
        'bytes',
        'decimal',
        'short',
        'uuid',
        'unsignedByte',
        'unsignedShort',
        'unsignedInteger',
        'unsignedLong',
      ].map((s) => ({
        '@type': 'Telemetry',
        name: `t_${s}`,
        schema: s,
      })),
    });
    expect(m.telemetry).toHaveLength(9);
    expect(parseModel({ '@context': V3, '@id': 'dtmi:x:NoVersion', '@type': 'Interface' }).id).toBe('dtmi:x:NoVersion');
  });
});

describe('parseModel: errors name the file, the JSON path and what was expected', () => {
  it('an unknown schema, with a suggestion', () => {
    const json = iface([
      { '@type': 'Telemetry', name: 'a', schema: 'double' },
      { '@type': 'Telemetry', name: 'b', schema: 'double' },
      { '@type': 'Telemetry', name: 'temperature', schema: 'dbl' },
    ]);
    const e = errorOf(json, 'thermostat.json');
    expect(e.message).toBe(
      'thermostat.json: contents[2].schema: expected a DTDL schema ("double", "string", "integer", "boolean", "dateTime", an Object, Enum, Array or Map…), got "dbl" (did you mean "double"?)',
    );
    expect(e.file).toBe('thermostat.json');
    expect(e.path).toBe('contents[2].schema');
    expect(errorOf(iface([{ '@type': 'Telemetry', name: 'x', schema: 'DateTime' }])).message).toContain(
      'got "DateTime" (did you mean "dateTime"?)',
    );
  });

  it('an unknown schema deep inside a command response, and in the second Interface of an array', () => {
    const thermo = parseFixtureJson('thermostat.dtdl.json');
    thermo.contents[3].response.schema.fields[1].schema = 'doubel';
    const message = errorOf(thermo, 'thermostat.json').message;
    expect(message).toMatch(
      /^thermostat\.json: contents\[3\]\.response\.schema\.fields\[1\]\.schema: expected a DTDL schema .* got "doubel"/,
    );
    expect(message).toMatch(/ got "doubel" \(did you mean "double"\?\)$/);

    const tc = parseFixtureJson('temperature-controller.v3.dtdl.json');
    tc[2].contents[6].schema = 'number';
    expect(errorOf(tc, 'tc.json').message).toMatch(/^tc\.json: \[2\]\.contents\[6\]\.schema: expected a DTDL schema/);
  });

  it('a wrong, missing or v1 context', () => {
    let e = errorOf(iface([], { '@context': 'dtmi:dtdl:context;1' }));
    expect(e.path).toBe('@context');
    expect(e.message).toContain('DTDL version 1 is not supported');
    e = errorOf(iface([], { '@context': 'https://www.w3.org/ns/td' }));
    expect(e.message).toBe(
      'model.json: @context: expected "dtmi:dtdl:context;2" or "dtmi:dtdl:context;3", got "https://www.w3.org/ns/td"',
    );
    const noContext = iface([]);
    delete noContext['@context'];
    expect(errorOf(noContext).message).toBe(
      'model.json: @context: missing: expected "dtmi:dtdl:context;2" or "dtmi:dtdl:context;3"',
    );
    expect(errorOf(iface([], { '@context': 'http://azureiot.com/v1/contexts/IoTModel.json' })).message).toContain(
      'DTDL v1 (preview)',
    );
  });

  it('a missing or malformed @id, and @type other than Interface', () => {
    const noId = iface([]);
    delete noId['@id'];
    expect(errorOf(noId).message).toBe(
      'model.json: @id: missing: an Interface needs an "@id" such as "dtmi:com:example:Thermostat;1"',
    );
    expect(errorOf(iface([], { '@id': 'com:example:Thermostat;1' })).message).toContain('@id: expected a DTMI');
    // v2 needs a version; v3 does not.
    expect(errorOf(iface([], { '@id': 'dtmi:com:example:Thermostat' })).message).toContain('one-part version');
    expect(errorOf(iface([], { '@id': 'dtmi:com:example:Thermostat;1.2' })).message).toContain('one-part version');
    expect(errorOf(iface([], { '@type': 'Interfaces' })).message).toBe(
      'model.json: @type: expected "Interface", got "Interfaces"',
    );
    expect(errorOf(42).message).toContain('(document): expected a DTDL Interface');
  });

  it('duplicate and invalid names', () => {
    const dup = iface([
      { '@type': 'Telemetry', name: 'temperature', schema: 'double' },
      { '@type': 'Property', name: 'other', schema: 'double' },
      { '@type': 'Property', name: 'temperature', schema: 'double' },
    ]);
    expect(errorOf(dup).message).toBe(
      'model.json: contents[2].name: duplicate name "temperature" (also at contents[0]); names must be unique in an Interface',
    );
    for (const bad of ['max temp', '_private', 'temp_', '1st', '']) {
      const e = errorOf(iface([{ '@type': 'Telemetry', name: bad, schema: 'double' }]));
      expect(e.path).toBe('contents[0].name');
      expect(e.message).toContain('is not a valid DTDL name');
    }
    expect(errorOf(iface([{ '@type': 'Telemetry', name: 'x'.repeat(65), schema: 'double' }])).message).toContain(
      'DTDL v2 allows 64',
    );
    const fields = iface([
      {
        '@type': 'Telemetry',
        name: 'o',
        schema: {
          '@type': 'Object',
          fields: [
            { name: 'a', schema: 'double' },
            { name: 'a', schema: 'string' },
          ],
        },
      },
    ]);
    expect(errorOf(fields).message).toBe(
      'model.json: contents[0].schema.fields[1].name: duplicate field "a" (also at contents[0].schema.fields[0])',
    );
  });

  it('content types, enums, writable and version rules', () => {
    expect(errorOf(iface([{ '@type': 'Telemtry', name: 't', schema: 'double' }])).message).toBe(
      'model.json: contents[0].@type: expected "Telemetry", "Property", "Command", "Component" or "Relationship", got "Telemtry" (did you mean "Telemetry"?)',
    );
    const badEnum = iface([
      {
        '@type': 'Telemetry',
        name: 's',
        schema: { '@type': 'Enum', valueSchema: 'integer', enumValues: [{ name: 'on', enumValue: 'ON' }] },
      },
    ]);
    expect(errorOf(badEnum).message).toBe(
      'model.json: contents[0].schema.enumValues[0].enumValue: expected an integer (the Enum\'s valueSchema is "integer"), got "ON"',
    );
    expect(errorOf(iface([{ '@type': 'Property', name: 'p', schema: 'double', writable: 'yes' }])).message).toBe(
      'model.json: contents[0].writable: expected true or false, got "yes"',
    );
    expect(errorOf(iface([{ '@type': 'Telemetry', name: 'u', schema: 'uuid' }], { '@context': V3 })).message).toBe(
      'model.json: contents[0].schema: "uuid" is a DTDL v4 schema, but this Interface uses DTDL v3 ("dtmi:dtdl:context;3")',
    );
    const arrayProp = iface([
      {
        '@type': 'Property',
        name: 'p',
        schema: {
          '@type': 'Object',
          fields: [{ name: 'list', schema: { '@type': 'Array', elementSchema: 'double' } }],
        },
      },
    ]);
    expect(errorOf(arrayProp).message).toContain(
      'contents[0].schema.fields[0].schema: DTDL v2 does not allow an Array in a Property schema',
    );
    expect(() => parseModel({ ...arrayProp, '@context': V3 })).not.toThrow();
    const ref = iface([{ '@type': 'Telemetry', name: 't', schema: 'dtmi:x:missing;1' }]);
    expect(errorOf(ref).message).toContain(
      'contents[0].schema: "dtmi:x:missing;1" is not defined in the "schemas" of Interface "dtmi:com:example:Thing;1"',
    );
    let deep: unknown = 'double';
    for (let i = 0; i < 6; i++) deep = { '@type': 'Array', elementSchema: deep };
    expect(errorOf(iface([{ '@type': 'Telemetry', name: 'd', schema: deep }])).message).toContain(
      'nested more than 5 levels',
    );
  });

  it('components that cannot be resolved or nest, and extends cycles', () => {
    const missing = iface([{ '@type': 'Component', name: 'thermostat1', schema: 'dtmi:com:example:Thermostat;1' }]);
    expect(errorOf(missing).message).toBe(
      'model.json: contents[0].schema: Component schema "dtmi:com:example:Thermostat;1" is not defined in this document: put that Interface in the same JSON array (the "expanded" model); defined here: "dtmi:com:example:Thing;1"',
    );
    const nested = [
      {
        '@context': V2,
        '@id': 'dtmi:x:A;1',
        '@type': 'Interface',
        contents: [{ '@type': 'Component', name: 'b', schema: 'dtmi:x:B;1' }],
      },
      {
        '@context': V2,
        '@id': 'dtmi:x:B;1',
        '@type': 'Interface',
        contents: [{ '@type': 'Component', name: 'c', schema: 'dtmi:x:C;1' }],
      },
      { '@context': V2, '@id': 'dtmi:x:C;1', '@type': 'Interface', contents: [] },
    ];
    const e = errorOf(nested);
    expect(e.path).toBe('[1].contents[0]');
    expect(e.message).toContain('DTDL does not allow a Component inside a Component');
    const cycle = [
      { '@context': V2, '@id': 'dtmi:x:A;1', '@type': 'Interface', extends: 'dtmi:x:B;1' },
      { '@context': V2, '@id': 'dtmi:x:B;1', '@type': 'Interface', extends: 'dtmi:x:A;1' },
    ];
    expect(errorOf(cycle, 'c.json', 'dtmi:x:A;1').message).toContain(
      '"extends" makes a cycle: dtmi:x:A;1 → dtmi:x:B;1 → dtmi:x:A;1',
    );
    const dupInherited = [
      {
        '@context': V2,
        '@id': 'dtmi:x:Base;1',
        '@type': 'Interface',
        contents: [{ '@type': 'Telemetry', name: 't', schema: 'double' }],
      },
      {
        '@context': V2,
        '@id': 'dtmi:x:D;1',
        '@type': 'Interface',
        extends: 'dtmi:x:Base;1',
        contents: [{ '@type': 'Telemetry', name: 't', schema: 'double' }],
      },
    ];
    expect(errorOf(dupInherited).message).toBe(
      'model.json: [1].contents[0].name: duplicate name "t" (also inherited from "dtmi:x:Base;1"); names must be unique in an Interface',
    );
    const dupId = [iface([]), iface([])];
    expect(errorOf(dupId).message).toBe(
      'model.json: [1].@id: duplicate Interface "dtmi:com:example:Thing;1" (also at [0])',
    );
  });

  it('loadModelFile reports JSON syntax errors with the file, line and column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefleet-model-'));
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{\n  "@context": "dtmi:dtdl:context;2",\n  "@id": oops\n}\n');
    const err = await loadModelFile(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).message).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\(document\\): not valid JSON \\(line 3, column 10\\): unexpected "oops\\\\n}\\\\n"$`,
      ),
    );
    writeFileSync(file, '[{"a": 1},');
    await expect(loadModelFile(file)).rejects.toThrow('not valid JSON (line 1, column 11): unexpected end of file');
    writeFileSync(file, '{"a": "tab\there"}');
    await expect(loadModelFile(file)).rejects.toThrow('not valid JSON (line 1, column 11)');
  });
});

/** A fixture as mutable JSON, to break one spot of a known-good model. */

function parseFixtureJson(name: string): any {
  return JSON.parse(readFileSync(fixture(name), 'utf8'));
}
