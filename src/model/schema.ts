// DTDL schemas as plain data, and a check that a JSON value fits one (used by tests and by callers that take
// values from users, e.g. generator overrides).

export type IntegerSchema =
  'integer' | 'long' | 'byte' | 'short' | 'unsignedByte' | 'unsignedShort' | 'unsignedInteger' | 'unsignedLong';

export type PrimitiveSchema =
  | IntegerSchema
  | 'boolean'
  | 'date'
  | 'dateTime'
  | 'double'
  | 'duration'
  | 'float'
  | 'string'
  | 'time'
  | 'bytes'
  | 'decimal'
  | 'uuid';

/** DTDL standard geospatial schemas (GeoJSON geometries). */
export type GeospatialSchema = 'point' | 'multiPoint' | 'lineString' | 'multiLineString' | 'polygon' | 'multiPolygon';

/** IoT Central extension schemas: geopoint `{lat, lon, alt?}` and vector `{x, y, z}`. */
export type CentralSchema = 'geopoint' | 'vector';

export interface EnumSchema {
  kind: 'enum';
  valueSchema: 'integer' | 'string';
  values: { name: string; value: string | number }[];
}

export interface ObjectSchema {
  kind: 'object';
  fields: { name: string; schema: Schema }[];
}

export interface ArraySchema {
  kind: 'array';
  elementSchema: Schema;
}

export interface MapSchema {
  kind: 'map';
  key: { name: string; schema: 'string' };
  value: { name: string; schema: Schema };
}

export type ComplexSchema = EnumSchema | ObjectSchema | ArraySchema | MapSchema;
export type Schema = PrimitiveSchema | GeospatialSchema | CentralSchema | ComplexSchema;

/** Inclusive ranges of the integer schemas (long and unsignedLong limited to what a JS number holds exactly). */
export const INTEGER_RANGES: Readonly<Record<IntegerSchema, readonly [number, number]>> = {
  byte: [-128, 127],
  short: [-32768, 32767],
  integer: [-2147483648, 2147483647],
  long: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  unsignedByte: [0, 255],
  unsignedShort: [0, 65535],
  unsignedInteger: [0, 4294967295],
  unsignedLong: [0, Number.MAX_SAFE_INTEGER],
};

export function isIntegerSchema(s: Schema): s is IntegerSchema {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(INTEGER_RANGES, s);
}

/** A number rounded into an integer schema's range (what a generator's value becomes); anything else as it is. */
export function fitInteger(schema: Schema, v: unknown): unknown {
  if (!isIntegerSchema(schema) || typeof v !== 'number' || Number.isNaN(v)) return v;
  const [lo, hi] = INTEGER_RANGES[schema];
  const r = Math.round(v);
  return r < lo ? lo : r > hi ? hi : r;
}

export function isNumericSchema(s: Schema): boolean {
  return isIntegerSchema(s) || s === 'double' || s === 'float' || s === 'decimal';
}

export const GEOSPATIAL_SCHEMAS: readonly GeospatialSchema[] = [
  'point',
  'multiPoint',
  'lineString',
  'multiLineString',
  'polygon',
  'multiPolygon',
];

const FLOAT_MAX = 3.4028234663852886e38;
const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const TIME = /^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;
const DATE_TIME =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPosition(v: unknown): boolean {
  if (!Array.isArray(v) || v.length < 2 || v.length > 3) return false;
  const [lon, lat, alt] = v as unknown[];
  return (
    typeof lon === 'number' &&
    lon >= -180 &&
    lon <= 180 &&
    typeof lat === 'number' &&
    lat >= -90 &&
    lat <= 90 &&
    (alt === undefined || (typeof alt === 'number' && Number.isFinite(alt)))
  );
}

function isLine(v: unknown): boolean {
  return Array.isArray(v) && v.length >= 2 && v.every(isPosition);
}

function isRing(v: unknown): boolean {
  if (!Array.isArray(v) || v.length < 4 || !v.every(isPosition)) return false;
  const first = v[0] as number[];
  const last = v[v.length - 1] as number[];
  return first.length === last.length && first.every((x, i) => x === last[i]);
}

function isPolygon(v: unknown): boolean {
  return Array.isArray(v) && v.length >= 1 && v.every(isRing);
}

const GEO_TYPES: Record<GeospatialSchema, [string, (c: unknown) => boolean]> = {
  point: ['Point', isPosition],
  multiPoint: ['MultiPoint', (c) => Array.isArray(c) && c.every(isPosition)],
  lineString: ['LineString', isLine],
  multiLineString: ['MultiLineString', (c) => Array.isArray(c) && c.every(isLine)],
  polygon: ['Polygon', isPolygon],
  multiPolygon: ['MultiPolygon', (c) => Array.isArray(c) && c.every(isPolygon)],
};

/** Whether a JSON value is a valid serialization of `schema` (every declared Object field present). */
export function conformsTo(value: unknown, schema: Schema): boolean {
  if (typeof schema === 'string') return conformsToNamed(value, schema);
  switch (schema.kind) {
    case 'enum':
      return schema.values.some((v) => v.value === value);
    case 'array':
      return Array.isArray(value) && value.every((v) => conformsTo(v, schema.elementSchema));
    case 'map':
      return isPlainObject(value) && Object.values(value).every((v) => conformsTo(v, schema.value.schema));
    case 'object': {
      if (!isPlainObject(value)) return false;
      const names = new Set(schema.fields.map((f) => f.name));
      if (Object.keys(value).some((k) => !names.has(k))) return false;
      return schema.fields.every((f) => f.name in value && conformsTo(value[f.name], f.schema));
    }
  }
}

/** The same for a schema named by a word: a primitive, a geospatial or an IoT Central one. */
function conformsToNamed(value: unknown, schema: Exclude<Schema, ComplexSchema>): boolean {
  if (isIntegerSchema(schema)) {
    const [lo, hi] = INTEGER_RANGES[schema];
    return typeof value === 'number' && Number.isInteger(value) && value >= lo && value <= hi;
  }
  switch (schema) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'double':
    case 'decimal':
      return typeof value === 'number' && Number.isFinite(value);
    case 'float':
      return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= FLOAT_MAX;
    case 'string':
      return typeof value === 'string';
    case 'date':
      return typeof value === 'string' && DATE.test(value);
    case 'time':
      return typeof value === 'string' && TIME.test(value);
    case 'dateTime':
      return typeof value === 'string' && DATE_TIME.test(value);
    case 'duration':
      return typeof value === 'string' && DURATION.test(value);
    case 'uuid':
      return typeof value === 'string' && UUID.test(value);
    case 'bytes':
      return typeof value === 'string' && BASE64.test(value);
    case 'geopoint':
      return isGeopoint(value);
    case 'vector':
      return (
        isPlainObject(value) && ['x', 'y', 'z'].every((k) => typeof value[k] === 'number' && Number.isFinite(value[k]))
      );
    default: {
      const [type, check] = GEO_TYPES[schema];
      return isPlainObject(value) && value.type === type && check(value.coordinates);
    }
  }
}

/** IoT Central's geopoint: latitude and longitude in range, an optional altitude. */
function isGeopoint(value: unknown): boolean {
  return (
    isPlainObject(value) &&
    typeof value.lat === 'number' &&
    value.lat >= -90 &&
    value.lat <= 90 &&
    typeof value.lon === 'number' &&
    value.lon >= -180 &&
    value.lon <= 180 &&
    (value.alt === undefined || typeof value.alt === 'number')
  );
}

/** Short human description of a schema for messages: "double", "an Enum of integer", "an Object {a, b}". */
export function describeSchema(schema: Schema): string {
  if (typeof schema === 'string') return `"${schema}"`;
  switch (schema.kind) {
    case 'enum':
      return `an Enum of ${schema.valueSchema} (${schema.values.map((v) => JSON.stringify(v.value)).join(', ')})`;
    case 'array':
      return `an Array of ${describeSchema(schema.elementSchema)}`;
    case 'map':
      return `a Map of ${describeSchema(schema.value.schema)}`;
    case 'object':
      return `an Object {${schema.fields.map((f) => f.name).join(', ')}}`;
  }
}
