// DTDL schemas of Telemetry, Properties, Commands and fields: primitives, complex schemas (Array, Enum, Map, Object),
// an Interface's reusable schemas, geospatial and IoT Central schemas; nesting and sizes as the specifications limit
// them and the official parser counts them.
import {
  checkElement,
  checkName,
  didYouMean,
  found,
  isObject,
  join,
  pastLimit,
  show,
  type Fail,
  type Json,
} from './dtdl-common.js';
import { limitOf, limitSource, type DtdlVersion } from './limits.js';
import { GEOSPATIAL_SCHEMAS, type Schema } from './schema.js';

const V3_PRIMITIVES = [
  'boolean',
  'date',
  'dateTime',
  'double',
  'duration',
  'float',
  'integer',
  'long',
  'string',
  'time',
];
const PRIMITIVES: Record<DtdlVersion, ReadonlySet<string>> = {
  2: new Set([...V3_PRIMITIVES, 'bytes']),
  3: new Set(V3_PRIMITIVES),
  4: new Set([
    ...V3_PRIMITIVES,
    'byte',
    'bytes',
    'decimal',
    'short',
    'uuid',
    'unsignedByte',
    'unsignedShort',
    'unsignedInteger',
    'unsignedLong',
  ]),
};
const CENTRAL_SCHEMAS = new Set(['geopoint', 'vector']);
const GEOSPATIAL = new Set<string>(GEOSPATIAL_SCHEMAS);
export const COMPLEX_TYPES = ['Array', 'Enum', 'Map', 'Object'];
const SCHEMA_HINT = '("double", "string", "integer", "boolean", "dateTime", an Object, Enum, Array or Map…)';

/** The Interface a schema is read in: its version and its reusable `schemas`. */
export interface Scope {
  version: DtdlVersion;
  ifaceId: string;
  /** The Interface's reusable `schemas`, by @id. */
  schemas: Map<string, { json: unknown; path: string }>;
  /** Schema ids being resolved, to refuse self-reference (a generator could not produce a finite value). */
  resolving: Set<string>;
}

/** Types of an element: its "@type" as a list. */
export function typesOf(el: Json, p: string, expected: string[], fail: Fail): string[] {
  const t = el['@type'];
  if (typeof t === 'string') return [t];
  if (Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string')) return t;
  const wanted = expected.map((e) => `"${e}"`).join(', ');
  return fail(join(p, '@type'), `${t === undefined ? 'missing' : `got ${show(t)}`}: expected ${wanted}`);
}

/**
 * Elements a schema adds under an Interface's contents, as DTDLParser counts them for the 100,000 limit: an Array's
 * elementSchema, a Map's mapValue and its schema, an Object's fields and their schemas, an Enum's values.
 */
export function schemaElements(schema: Schema): number {
  if (typeof schema === 'string') return 0;
  switch (schema.kind) {
    case 'array':
      return 1 + schemaElements(schema.elementSchema);
    case 'map':
      return 2 + schemaElements(schema.value.schema);
    case 'object':
      return schema.fields.reduce((n, f) => n + 2 + schemaElements(f.schema), 0);
    case 'enum':
      return schema.values.length;
  }
}

export class SchemaReader {
  constructor(private readonly fail: Fail) {}

  /**
   * `chain` is how many complex schemas hold this one through elementSchema, a field's schema or mapValue's schema
   * (0 for a content's own schema). As in DTDLParser, a complex schema at the depth limit may not hold another schema.
   */
  read(raw: unknown, p: string, scope: Scope, chain: number, inProperty: boolean): Schema {
    if (typeof raw === 'string') return this.named(raw, p, scope, chain, inProperty);
    if (!isObject(raw)) return this.fail(p, `${found(raw)}: expected a DTDL schema ${SCHEMA_HINT}`);
    const types = typesOf(raw, p, COMPLEX_TYPES, this.fail);
    const kind = types.find((t) => COMPLEX_TYPES.includes(t));
    if (kind === undefined) {
      this.fail(
        join(p, '@type'),
        `expected "Object", "Enum", "Array" or "Map", got ${show(raw['@type'])}${didYouMean(types[0]!, COMPLEX_TYPES)}`,
      );
    }
    checkElement(raw, p, scope.version, this.fail);
    switch (kind) {
      case 'Array':
        return this.array(raw, p, scope, chain, inProperty);
      case 'Map':
        return this.map(raw, p, scope, chain, inProperty);
      case 'Object':
        return this.object(raw, p, scope, chain, inProperty);
      default:
        return this.enum(raw, p, scope);
    }
  }

  private tooDeep(p: string, scope: Scope, chain: number): void {
    const max = limitOf(scope.version, 'schemaDepth')!;
    if (chain >= max) {
      this.fail(
        p,
        `complex schemas are nested more than ${max} levels deep${limitSource(scope.version, 'schemaDepth')}`,
      );
    }
  }

  private array(raw: Json, p: string, scope: Scope, chain: number, inProperty: boolean): Schema {
    if (inProperty && scope.version === 2) {
      this.fail(
        p,
        'DTDL v2 does not allow an Array in a Property schema: use "dtmi:dtdl:context;3", or a Map or Object',
      );
    }
    this.tooDeep(p, scope, chain);
    const elementSchema = this.read(raw.elementSchema, join(p, 'elementSchema'), scope, chain + 1, inProperty);
    return { kind: 'array', elementSchema };
  }

  private map(raw: Json, p: string, scope: Scope, chain: number, inProperty: boolean): Schema {
    const key = raw.mapKey;
    const value = raw.mapValue;
    const kp = join(p, 'mapKey');
    const vp = join(p, 'mapValue');
    if (!isObject(key)) this.fail(kp, `${found(key)}: expected { "name": …, "schema": "string" }`);
    if (!isObject(value)) this.fail(vp, `${found(value)}: expected { "name": …, "schema": … }`);
    if (key.schema !== 'string') this.fail(join(kp, 'schema'), `a Map key must be "string", got ${show(key.schema)}`);
    checkElement(key, kp, scope.version, this.fail);
    checkElement(value, vp, scope.version, this.fail);
    this.tooDeep(p, scope, chain);
    return {
      kind: 'map',
      key: { name: checkName(key.name, join(kp, 'name'), scope.version, this.fail), schema: 'string' },
      value: {
        name: checkName(value.name, join(vp, 'name'), scope.version, this.fail),
        schema: this.read(value.schema, join(vp, 'schema'), scope, chain + 1, inProperty),
      },
    };
  }

  private object(raw: Json, p: string, scope: Scope, chain: number, inProperty: boolean): Schema {
    const v = scope.version;
    const fields = raw.fields ?? (v === 2 ? undefined : []);
    const fp = join(p, 'fields');
    if (!Array.isArray(fields)) this.fail(fp, `${found(fields)}: expected a list of { "name": …, "schema": … }`);
    if (fields.length === 0 && v === 2) this.fail(fp, 'a DTDL v2 Object needs at least one field');
    const max = limitOf(v, 'objectFields');
    if (max !== undefined && fields.length > max) {
      this.fail(fp, pastLimit(v, 'objectFields', `${fields.length} fields`));
    }
    if (fields.length > 0) this.tooDeep(p, scope, chain);
    const seen = new Map<string, string>();
    return {
      kind: 'object',
      fields: fields.map((f: unknown, i: number) => {
        const ip = join(fp, i);
        if (!isObject(f)) this.fail(ip, `expected { "name": …, "schema": … }, got ${show(f)}`);
        checkElement(f, ip, v, this.fail);
        const name = checkName(f.name, join(ip, 'name'), v, this.fail);
        const prior = seen.get(name);
        if (prior !== undefined) this.fail(join(ip, 'name'), `duplicate field "${name}" (also at ${prior})`);
        seen.set(name, ip);
        return { name, schema: this.read(f.schema, join(ip, 'schema'), scope, chain + 1, inProperty) };
      }),
    };
  }

  private enum(raw: Json, p: string, scope: Scope): Schema {
    const v = scope.version;
    const vs = raw.valueSchema;
    if (vs !== 'integer' && vs !== 'string') {
      this.fail(
        join(p, 'valueSchema'),
        `${vs === undefined ? 'missing' : `got ${show(vs)}`}: an Enum's valueSchema is "integer" or "string"`,
      );
    }
    const ev = raw.enumValues;
    const ep = join(p, 'enumValues');
    const shape = '{ "name": …, "enumValue": … }';
    if (ev === undefined && v === 2) this.fail(ep, `missing: a DTDL v2 Enum needs at least one ${shape}`);
    if (ev !== undefined && !Array.isArray(ev)) this.fail(ep, `expected a list of ${shape}, got ${show(ev)}`);
    const list = (ev ?? []) as unknown[];
    if (list.length === 0 && v === 2) this.fail(ep, `a DTDL v2 Enum needs at least one ${shape}`);
    const max = limitOf(v, 'enumValues');
    if (max !== undefined && list.length > max) this.fail(ep, pastLimit(v, 'enumValues', `${list.length} values`));
    const names = new Map<string, string>();
    const values = new Map<string | number, string>();
    return {
      kind: 'enum',
      valueSchema: vs,
      values: list.map((e, i) => {
        const ip = join(ep, i);
        if (!isObject(e)) this.fail(ip, `expected { "name": …, "enumValue": … }, got ${show(e)}`);
        checkElement(e, ip, v, this.fail);
        const name = checkName(e.name, join(ip, 'name'), v, this.fail);
        const value = e.enumValue;
        const fits = vs === 'integer' ? Number.isInteger(value) : typeof value === 'string';
        if (!fits) {
          const expected = vs === 'integer' ? 'an integer' : 'a string';
          this.fail(
            join(ip, 'enumValue'),
            `expected ${expected} (the Enum's valueSchema is "${vs}"), got ${show(value)}`,
          );
        }
        const val = value as string | number;
        if (names.has(name)) this.fail(join(ip, 'name'), `duplicate enum name "${name}" (also at ${names.get(name)})`);
        if (values.has(val)) {
          this.fail(join(ip, 'enumValue'), `duplicate enumValue ${show(val)} (also at ${values.get(val)})`);
        }
        names.set(name, ip);
        values.set(val, ip);
        return { name, value: val };
      }),
    };
  }

  private named(s: string, p: string, scope: Scope, chain: number, inProperty: boolean): Schema {
    const v = scope.version;
    if (PRIMITIVES[v].has(s)) return s as Schema;
    const inVersions = ([2, 3, 4] as const).filter((x) => PRIMITIVES[x].has(s));
    if (inVersions.length > 0) {
      const versions = inVersions.map((x) => `v${x}`).join('/');
      this.fail(
        p,
        `"${s}" is a DTDL ${versions} schema, but this Interface uses DTDL v${v} ("dtmi:dtdl:context;${v}")`,
      );
    }
    if (CENTRAL_SCHEMAS.has(s)) return s as Schema;
    const central = /^dtmi:iotcentral:schema:(geopoint|vector);\d+$/.exec(s);
    if (central !== null) return central[1] as Schema;
    const geoIri = /^dtmi:standard:schema:geospatial:([A-Za-z]+);\d+$/.exec(s);
    const geo = geoIri !== null ? geoIri[1]! : s;
    if (GEOSPATIAL.has(geo)) {
      if (inProperty && v === 2) {
        this.fail(
          p,
          `DTDL v2 does not allow geospatial schemas ("${geo}") in a Property: ` +
            'use "dtmi:dtdl:context;3", or IoT Central\'s "geopoint"',
        );
      }
      return geo as Schema;
    }
    const local = scope.schemas.get(s);
    if (local !== undefined) {
      if (scope.resolving.has(s)) {
        this.fail(p, `schema "${s}" refers to itself; the simulator cannot generate values for recursive schemas`);
      }
      scope.resolving.add(s);
      try {
        return this.read(local.json, local.path, scope, chain, inProperty);
      } finally {
        scope.resolving.delete(s);
      }
    }
    if (s.startsWith('dtmi:')) {
      const known = [...scope.schemas.keys()];
      this.fail(
        p,
        `"${s}" is not defined in the "schemas" of Interface "${scope.ifaceId}" ` +
          '(an Interface may use only its own schemas)' +
          (known.length > 0 ? `; defined there: ${known.map((k) => `"${k}"`).join(', ')}` : ''),
      );
    }
    const candidates = [...PRIMITIVES[v], ...CENTRAL_SCHEMAS, ...GEOSPATIAL, ...COMPLEX_TYPES];
    return this.fail(p, `expected a DTDL schema ${SCHEMA_HINT}, got "${s}"${didYouMean(s, candidates)}`);
  }
}
