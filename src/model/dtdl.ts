// Loads a DTDL v2/v3/v4 device model into the flat shape the simulator needs: telemetry, properties and commands,
// each tagged with its component. Validation covers what would make a simulated device send what IoT Central or
// IoT Hub would not accept; it is not a full DTDL parser (no RDF, no extensions beyond IoT Central's schemas).
import { readFile } from 'node:fs/promises';
import type { Schema } from './schema.js';
import { GEOSPATIAL_SCHEMAS } from './schema.js';

export type {
  ArraySchema,
  CentralSchema,
  ComplexSchema,
  EnumSchema,
  GeospatialSchema,
  IntegerSchema,
  MapSchema,
  ObjectSchema,
  PrimitiveSchema,
  Schema,
} from './schema.js';

export interface TelemetryDef {
  name: string;
  schema: Schema;
  component?: string;
  /** A co-type such as "Temperature" (v2 semantic type, v3 QuantitativeTypes) or IoT Central's "Event"/"State". */
  semanticType?: string;
  unit?: string;
}

export interface PropertyDef {
  name: string;
  schema: Schema;
  writable: boolean;
  component?: string;
  semanticType?: string;
  unit?: string;
}

export interface CommandPayloadDef {
  name: string;
  schema: Schema;
}

export interface CommandDef {
  name: string;
  component?: string;
  request?: CommandPayloadDef;
  response?: CommandPayloadDef;
}

export interface ComponentDef {
  name: string;
  modelId: string;
}

export interface DeviceModel {
  id: string;
  displayName?: string;
  telemetry: TelemetryDef[];
  properties: PropertyDef[];
  commands: CommandDef[];
  components: ComponentDef[];
}

/** A model the simulator cannot use; the message names the file, the JSON path and what was expected. */
export class ModelError extends Error {
  override readonly name = 'ModelError';
  constructor(
    readonly file: string | undefined,
    /** JSON path inside the document, e.g. `contents[3].schema` or `[1].contents[0].name`; '' for the document. */
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${file !== undefined ? `${file}: ` : ''}${path === '' ? '(document)' : path}: ${detail}`);
  }
}

export interface ParseOptions {
  /** Shown in error messages. */
  file?: string;
  /** Which Interface of an array is the device model; by default the one no other Interface uses. */
  rootId?: string;
}

type Version = 2 | 3 | 4;
type Json = Record<string, unknown>;

const V3_PRIMITIVES = ['boolean', 'date', 'dateTime', 'double', 'duration', 'float', 'integer', 'long', 'string', 'time'];
const PRIMITIVES: Record<Version, ReadonlySet<string>> = {
  2: new Set([...V3_PRIMITIVES, 'bytes']),
  3: new Set(V3_PRIMITIVES),
  4: new Set([
    ...V3_PRIMITIVES,
    'byte', 'bytes', 'decimal', 'short', 'uuid', 'unsignedByte', 'unsignedShort', 'unsignedInteger', 'unsignedLong',
  ]),
};
const CENTRAL_SCHEMAS = new Set(['geopoint', 'vector']);
const GEOSPATIAL = new Set<string>(GEOSPATIAL_SCHEMAS);
const COMPLEX_TYPES = ['Array', 'Enum', 'Map', 'Object'];
const CONTENT_CLASSES = ['Telemetry', 'Property', 'Command', 'Component', 'Relationship'];
const NAME = /^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$/;
const NAME_MAX: Record<Version, number> = { 2: 64, 3: 512, 4: 512 };
const MAX_DEPTH: Record<Version, number> = { 2: 5, 3: 5, 4: 8 };
const SEGMENT = '[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?';
// v2 requires a one-part version; v3 made it optional and allowed major.minor.
const DTMI_V2 = new RegExp(`^dtmi:${SEGMENT}(?::${SEGMENT})*;[1-9][0-9]{0,8}$`);
const DTMI_V3 = new RegExp(`^dtmi:${SEGMENT}(?::${SEGMENT})*(?:;[1-9][0-9]{0,8}(?:\\.[1-9][0-9]{0,5})?)?$`);
const INTERFACE_ID_MAX = 128;
const SCHEMA_HINT = '("double", "string", "integer", "boolean", "dateTime", an Object, Enum, Array or Map…)';

interface Scope {
  version: Version;
  ifaceId: string;
  /** The Interface's reusable `schemas`, by @id. */
  schemas: Map<string, { json: unknown; path: string }>;
  /** Schema ids being resolved, to refuse self-reference (a generator could not produce a finite value). */
  resolving: Set<string>;
}

interface ParsedInterface {
  id: string;
  displayName?: string;
  telemetry: TelemetryDef[];
  properties: PropertyDef[];
  commands: CommandDef[];
  components: { name: string; schema: unknown; path: string; version: Version }[];
  /** name → where it was declared, for duplicate messages across `extends`. */
  names: Map<string, string>;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const ch of long) if (ch === short[i]) i++;
  return i === short.length;
}

/** " (did you mean "double"?)" for typos, abbreviations and wrong case; '' when nothing is close. */
function didYouMean(got: string, candidates: Iterable<string>): string {
  const lower = got.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    let score: number;
    if (cl === lower) score = 0;
    else {
      const d = editDistance(lower, cl);
      if (d <= Math.max(1, Math.floor(c.length / 3))) score = d;
      else if (lower.length >= 3 && isSubsequence(lower, cl)) score = 10 + cl.length - lower.length;
      else continue;
    }
    if (score < bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

class Parser {
  /** Top-level Interfaces by @id (the array form), plus inline ones once parsed. */
  private readonly raw = new Map<string, { json: Json; path: string; version: Version | undefined }>();
  private readonly parsed = new Map<string, ParsedInterface>();
  private readonly extending: string[] = [];

  constructor(private readonly file: string | undefined) {}

  fail(path: string, detail: string): never {
    throw new ModelError(this.file, path, detail);
  }

  parse(json: unknown, rootId: string | undefined): DeviceModel {
    const tops: { json: Json; path: string }[] = [];
    if (Array.isArray(json)) {
      if (json.length === 0) this.fail('', 'expected a DTDL Interface or an array of Interfaces, got an empty array');
      json.forEach((el, i) => {
        if (!isObject(el)) this.fail(`[${i}]`, `expected a DTDL Interface (an object with "@type": "Interface"), got ${show(el)}`);
        tops.push({ json: el, path: `[${i}]` });
      });
    } else if (isObject(json)) {
      tops.push({ json, path: '' });
    } else {
      this.fail('', `expected a DTDL Interface (an object with "@type": "Interface") or an array of Interfaces, got ${show(json)}`);
    }

    for (const t of tops) {
      const version = this.contextVersion(t.json, t.path);
      if (version === undefined) this.fail(join(t.path, '@context'), 'missing: expected "dtmi:dtdl:context;2" or "dtmi:dtdl:context;3"');
      this.checkInterfaceType(t.json, t.path);
      const id = this.interfaceId(t.json, t.path, version);
      const seen = this.raw.get(id);
      if (seen !== undefined) this.fail(join(t.path, '@id'), `duplicate Interface "${id}" (also at ${seen.path === '' ? 'the top' : seen.path})`);
      this.raw.set(id, { json: t.json, path: t.path, version });
    }

    const root = this.chooseRoot(tops, rootId);
    const entry = this.raw.get(root)!;
    const iface = this.parseInterface(entry.json, entry.path, entry.version);

    const model: DeviceModel = {
      id: iface.id,
      telemetry: [...iface.telemetry],
      properties: [...iface.properties],
      commands: [...iface.commands],
      components: [],
    };
    if (iface.displayName !== undefined) model.displayName = iface.displayName;
    for (const c of iface.components) {
      const sub = this.resolveInterface(c.schema, join(c.path, 'schema'), c.version, 'Component');
      if (sub.components.length > 0) {
        const inner = sub.components[0]!;
        this.fail(
          inner.path,
          `component "${c.name}" uses Interface "${sub.id}", which itself has a Component ("${inner.name}"); DTDL does not allow a Component inside a Component`,
        );
      }
      model.components.push({ name: c.name, modelId: sub.id });
      for (const t of sub.telemetry) model.telemetry.push({ ...t, component: c.name });
      for (const p of sub.properties) model.properties.push({ ...p, component: c.name });
      for (const cmd of sub.commands) model.commands.push({ ...cmd, component: c.name });
    }
    return model;
  }

  private chooseRoot(tops: { json: Json; path: string }[], rootId: string | undefined): string {
    const ids = [...this.raw.keys()];
    if (rootId !== undefined) {
      if (!this.raw.has(rootId)) this.fail('', `rootId "${rootId}" is not an Interface of this document (it has ${ids.map((i) => `"${i}"`).join(', ')})`);
      return rootId;
    }
    if (ids.length === 1) return ids[0]!;
    // The device model is the Interface nobody else uses as a Component or extends.
    const used = new Set<string>();
    const note = (v: unknown): void => {
      if (typeof v === 'string') used.add(v);
      else if (Array.isArray(v)) v.forEach(note);
    };
    for (const t of tops) {
      note(t.json.extends);
      if (Array.isArray(t.json.contents)) {
        for (const el of t.json.contents) {
          if (!isObject(el)) continue;
          const types = Array.isArray(el['@type']) ? el['@type'] : [el['@type']];
          if (types.includes('Component')) note(el.schema);
        }
      }
    }
    const roots = ids.filter((id) => !used.has(id));
    if (roots.length === 1) return roots[0]!;
    if (roots.length === 0) this.fail('', 'every Interface is used by another one as a Component or in "extends": there is no device model at the top (a cycle?)');
    return this.fail('', `${roots.length} Interfaces are not used by any other (${roots.map((r) => `"${r}"`).join(', ')}): say which one is the device model (rootId)`);
  }

  private contextVersion(json: Json, path: string): Version | undefined {
    const ctx = json['@context'];
    if (ctx === undefined) return undefined;
    const p = join(path, '@context');
    const list = Array.isArray(ctx) ? ctx : [ctx];
    for (const c of list) {
      if (typeof c !== 'string') this.fail(p, `expected a context such as "dtmi:dtdl:context;3", got ${show(c)}`);
      const m = /^dtmi:dtdl:context;(\d+)(#limitless)?$/.exec(c);
      if (m === null) continue;
      const v = Number(m[1]);
      if (v === 2 || v === 3 || v === 4) return v;
      this.fail(p, `DTDL version ${v} is not supported: expected "dtmi:dtdl:context;2" or "dtmi:dtdl:context;3"`);
    }
    if (list.some((c) => typeof c === 'string' && c.includes('azureiot.com/v1'))) {
      this.fail(p, 'this is a DTDL v1 (preview) model, which is not supported: convert it to DTDL v2 ("dtmi:dtdl:context;2")');
    }
    return this.fail(p, `expected "dtmi:dtdl:context;2" or "dtmi:dtdl:context;3", got ${show(ctx)}`);
  }

  private checkInterfaceType(json: Json, path: string): void {
    const t = json['@type'];
    const ok = t === 'Interface' || (Array.isArray(t) && t.includes('Interface'));
    if (!ok) this.fail(join(path, '@type'), `expected "Interface", got ${show(t)}`);
  }

  private interfaceId(json: Json, path: string, version: Version): string {
    const id = json['@id'];
    const p = join(path, '@id');
    if (id === undefined) this.fail(p, 'missing: an Interface needs an "@id" such as "dtmi:com:example:Thermostat;1"');
    if (typeof id !== 'string') this.fail(p, `expected a DTMI such as "dtmi:com:example:Thermostat;1", got ${show(id)}`);
    this.checkDtmi(id, p, version);
    if (id.length > INTERFACE_ID_MAX) this.fail(p, `an Interface @id may have at most ${INTERFACE_ID_MAX} characters, this one has ${id.length}`);
    return id;
  }

  private checkDtmi(id: string, path: string, version: Version): void {
    const re = version === 2 ? DTMI_V2 : DTMI_V3;
    if (re.test(id)) return;
    const why =
      version === 2 && /;\d+\.\d+$|^[^;]*$/.test(id)
        ? ' (DTDL v2 needs a one-part version such as ";1")'
        : ' (segments of letters, digits and underscores starting with a letter, then ";" and a version)';
    this.fail(path, `expected a DTMI such as "dtmi:com:example:Thermostat;1", got ${show(id)}${why}`);
  }

  /** A Component's or `extends`' schema: an Interface id defined in this document, or an inline Interface. */
  private resolveInterface(ref: unknown, path: string, version: Version, what: 'Component' | 'extends'): ParsedInterface {
    if (typeof ref === 'string') {
      const done = this.parsed.get(ref);
      if (done !== undefined) return done;
      const entry = this.raw.get(ref);
      if (entry === undefined) {
        this.checkDtmi(ref, path, version);
        const known = [...this.raw.keys()];
        this.fail(
          path,
          `${what === 'Component' ? 'Component schema' : 'extends'} "${ref}" is not defined in this document: put that Interface in the same JSON array (the "expanded" model)` +
            (known.length > 0 ? `; defined here: ${known.map((k) => `"${k}"`).join(', ')}` : ''),
        );
      }
      return this.parseInterface(entry.json, entry.path, entry.version ?? version);
    }
    if (isObject(ref)) {
      this.checkInterfaceType(ref, path);
      return this.parseInterface(ref, path, this.contextVersion(ref, path) ?? version);
    }
    return this.fail(path, `expected an Interface id such as "dtmi:com:example:Thermostat;1" or an inline Interface, got ${show(ref)}`);
  }

  private parseInterface(json: Json, path: string, inherited: Version | undefined): ParsedInterface {
    const version = this.contextVersion(json, path) ?? inherited;
    if (version === undefined) return this.fail(join(path, '@context'), 'missing: expected "dtmi:dtdl:context;2" or "dtmi:dtdl:context;3"');
    this.checkInterfaceType(json, path);
    const id = this.interfaceId(json, path, version);
    const cached = this.parsed.get(id);
    if (cached !== undefined) return cached;
    if (this.extending.includes(id)) this.fail(join(path, 'extends'), `"extends" makes a cycle: ${[...this.extending, id].join(' → ')}`);
    if (!this.raw.has(id)) this.raw.set(id, { json, path, version });

    const iface: ParsedInterface = { id, telemetry: [], properties: [], commands: [], components: [], names: new Map() };
    const dn = displayName(json.displayName);
    if (dn !== undefined) iface.displayName = dn;

    const scope: Scope = { version, ifaceId: id, schemas: new Map(), resolving: new Set() };
    const schemas = json.schemas;
    if (schemas !== undefined) {
      if (!Array.isArray(schemas)) this.fail(join(path, 'schemas'), `expected an array of Array, Enum, Map or Object schemas, got ${show(schemas)}`);
      schemas.forEach((s, i) => {
        const p = join(join(path, 'schemas'), i);
        if (!isObject(s)) this.fail(p, `expected an Array, Enum, Map or Object schema, got ${show(s)}`);
        const sid = s['@id'];
        if (typeof sid !== 'string') this.fail(join(p, '@id'), 'a reusable schema needs an "@id" (a DTMI) so that contents can refer to it');
        this.checkDtmi(sid, join(p, '@id'), version);
        if (scope.schemas.has(sid)) this.fail(join(p, '@id'), `duplicate schema "${sid}"`);
        scope.schemas.set(sid, { json: s, path: p });
      });
    }

    // Inherited contents come first, as if declared in this Interface (that is how devices send them).
    const ext = json.extends;
    if (ext !== undefined) {
      const list = Array.isArray(ext) ? ext : [ext];
      this.extending.push(id);
      list.forEach((e, i) => {
        const p = Array.isArray(ext) ? join(join(path, 'extends'), i) : join(path, 'extends');
        const base = this.resolveInterface(e, p, version, 'extends');
        for (const [name] of base.names) {
          if (iface.names.has(name)) this.fail(p, `"${name}" is inherited twice (from ${iface.names.get(name)} and from "${base.id}")`);
          iface.names.set(name, `"${base.id}"`);
        }
        iface.telemetry.push(...base.telemetry);
        iface.properties.push(...base.properties);
        iface.commands.push(...base.commands);
        iface.components.push(...base.components);
      });
      this.extending.pop();
    }

    const contents = json.contents;
    if (contents !== undefined && !Array.isArray(contents)) this.fail(join(path, 'contents'), `expected an array of Telemetry, Property, Command and Component, got ${show(contents)}`);
    (contents ?? []).forEach((el: unknown, i: number) => this.parseContent(el, join(join(path, 'contents'), i), scope, iface));

    this.parsed.set(id, iface);
    return iface;
  }

  private parseContent(el: unknown, p: string, scope: Scope, iface: ParsedInterface): void {
    if (!isObject(el)) this.fail(p, `expected a Telemetry, Property, Command or Component object, got ${show(el)}`);
    const types = this.types(el, p, CONTENT_CLASSES);
    const cls = types.find((t) => CONTENT_CLASSES.includes(t));
    if (cls === undefined) {
      const guess = types.length > 0 ? didYouMean(types[0]!, CONTENT_CLASSES) : '';
      this.fail(join(p, '@type'), `expected "Telemetry", "Property", "Command", "Component" or "Relationship", got ${show(el['@type'])}${guess}`);
    }
    const name = this.name(el.name, join(p, 'name'), scope.version);
    const prior = iface.names.get(name);
    if (prior !== undefined) this.fail(join(p, 'name'), `duplicate name "${name}" (also ${prior.startsWith('"') ? `inherited from ${prior}` : `at ${prior}`}); names must be unique in an Interface`);
    iface.names.set(name, p);
    const cotypes = types.filter((t) => t !== cls);

    switch (cls) {
      case 'Telemetry': {
        const def: TelemetryDef = { name, schema: this.schema(el.schema, join(p, 'schema'), scope, 0, false) };
        if (cotypes[0] !== undefined) def.semanticType = cotypes[0];
        if (typeof el.unit === 'string') def.unit = el.unit;
        iface.telemetry.push(def);
        return;
      }
      case 'Property': {
        // IoT Central cloud properties live in Central only: a device neither reports nor receives them.
        if (cotypes.includes('Cloud')) return;
        const w = el.writable;
        if (w !== undefined && typeof w !== 'boolean') this.fail(join(p, 'writable'), `expected true or false, got ${show(w)}`);
        const def: PropertyDef = { name, schema: this.schema(el.schema, join(p, 'schema'), scope, 0, true), writable: w === true };
        if (cotypes[0] !== undefined) def.semanticType = cotypes[0];
        if (typeof el.unit === 'string') def.unit = el.unit;
        iface.properties.push(def);
        return;
      }
      case 'Command': {
        const def: CommandDef = { name };
        for (const key of ['request', 'response'] as const) {
          const payload = el[key];
          if (payload === undefined) continue;
          const pp = join(p, key);
          if (!isObject(payload)) this.fail(pp, `expected an object with "name" and "schema", got ${show(payload)}`);
          def[key] = {
            name: this.name(payload.name, join(pp, 'name'), scope.version),
            schema: this.schema(payload.schema, join(pp, 'schema'), scope, 0, false),
          };
        }
        iface.commands.push(def);
        return;
      }
      case 'Component':
        if (el.schema === undefined) this.fail(join(p, 'schema'), 'missing: a Component needs the @id of an Interface, e.g. "dtmi:com:example:Thermostat;1"');
        iface.components.push({ name, schema: el.schema, path: p, version: scope.version });
        return;
      default:
        return; // Relationship: no device traffic.
    }
  }

  private types(el: Json, p: string, expected: string[]): string[] {
    const t = el['@type'];
    if (typeof t === 'string') return [t];
    if (Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string')) return t as string[];
    return this.fail(join(p, '@type'), `${t === undefined ? 'missing' : `got ${show(t)}`}: expected ${expected.map((e) => `"${e}"`).join(', ')}`);
  }

  private name(v: unknown, p: string, version: Version): string {
    if (typeof v !== 'string') return this.fail(p, `${v === undefined ? 'missing' : `got ${show(v)}`}: expected a name such as "temperature"`);
    if (!NAME.test(v)) this.fail(p, `"${v}" is not a valid DTDL name: letters, digits and underscores only, starting with a letter and not ending with "_"`);
    if (v.length > NAME_MAX[version]) this.fail(p, `"${v.slice(0, 20)}…" is ${v.length} characters long; DTDL v${version} allows ${NAME_MAX[version]}`);
    return v;
  }

  private schema(raw: unknown, p: string, scope: Scope, depth: number, inProperty: boolean): Schema {
    if (typeof raw === 'string') return this.namedSchema(raw, p, scope, depth, inProperty);
    if (!isObject(raw)) return this.fail(p, `${raw === undefined ? 'missing' : `got ${show(raw)}`}: expected a DTDL schema ${SCHEMA_HINT}`);
    const types = this.types(raw, p, COMPLEX_TYPES);
    const kind = types.find((t) => COMPLEX_TYPES.includes(t));
    if (kind === undefined) this.fail(join(p, '@type'), `expected "Object", "Enum", "Array" or "Map", got ${show(raw['@type'])}${didYouMean(types[0]!, COMPLEX_TYPES)}`);
    const level = depth + 1;
    if (level > MAX_DEPTH[scope.version]) this.fail(p, `complex schemas are nested more than ${MAX_DEPTH[scope.version]} levels deep (the DTDL v${scope.version} limit)`);

    switch (kind) {
      case 'Array':
        if (inProperty && scope.version === 2) {
          this.fail(p, 'DTDL v2 does not allow an Array in a Property schema: use "dtmi:dtdl:context;3", or a Map or Object');
        }
        return { kind: 'array', elementSchema: this.schema(raw.elementSchema, join(p, 'elementSchema'), scope, level, inProperty) };
      case 'Map': {
        const key = raw.mapKey;
        const value = raw.mapValue;
        const kp = join(p, 'mapKey');
        const vp = join(p, 'mapValue');
        if (!isObject(key)) this.fail(kp, `${key === undefined ? 'missing' : `got ${show(key)}`}: expected { "name": …, "schema": "string" }`);
        if (!isObject(value)) this.fail(vp, `${value === undefined ? 'missing' : `got ${show(value)}`}: expected { "name": …, "schema": … }`);
        if (key.schema !== 'string') this.fail(join(kp, 'schema'), `a Map key must be "string", got ${show(key.schema)}`);
        return {
          kind: 'map',
          key: { name: this.name(key.name, join(kp, 'name'), scope.version), schema: 'string' },
          value: { name: this.name(value.name, join(vp, 'name'), scope.version), schema: this.schema(value.schema, join(vp, 'schema'), scope, level, inProperty) },
        };
      }
      case 'Object': {
        const fields = raw.fields ?? [];
        const fp = join(p, 'fields');
        if (!Array.isArray(fields)) this.fail(fp, `expected an array of { "name": …, "schema": … }, got ${show(fields)}`);
        const seen = new Map<string, string>();
        return {
          kind: 'object',
          fields: fields.map((f: unknown, i: number) => {
            const ip = join(fp, i);
            if (!isObject(f)) this.fail(ip, `expected { "name": …, "schema": … }, got ${show(f)}`);
            const name = this.name(f.name, join(ip, 'name'), scope.version);
            const prior = seen.get(name);
            if (prior !== undefined) this.fail(join(ip, 'name'), `duplicate field "${name}" (also at ${prior})`);
            seen.set(name, ip);
            return { name, schema: this.schema(f.schema, join(ip, 'schema'), scope, level, inProperty) };
          }),
        };
      }
      default: {
        const vs = raw.valueSchema;
        if (vs !== 'integer' && vs !== 'string') this.fail(join(p, 'valueSchema'), `${vs === undefined ? 'missing' : `got ${show(vs)}`}: an Enum's valueSchema is "integer" or "string"`);
        const ev = raw.enumValues;
        const ep = join(p, 'enumValues');
        if (ev === undefined && scope.version === 2) this.fail(ep, 'missing: a DTDL v2 Enum needs at least one { "name": …, "enumValue": … }');
        if (ev !== undefined && !Array.isArray(ev)) this.fail(ep, `expected an array of { "name": …, "enumValue": … }, got ${show(ev)}`);
        const names = new Map<string, string>();
        const values = new Map<string | number, string>();
        return {
          kind: 'enum',
          valueSchema: vs,
          values: ((ev ?? []) as unknown[]).map((e, i) => {
            const ip = join(ep, i);
            if (!isObject(e)) this.fail(ip, `expected { "name": …, "enumValue": … }, got ${show(e)}`);
            const name = this.name(e.name, join(ip, 'name'), scope.version);
            const value = e.enumValue;
            const fits = vs === 'integer' ? typeof value === 'number' && Number.isInteger(value) : typeof value === 'string';
            if (!fits) this.fail(join(ip, 'enumValue'), `expected ${vs === 'integer' ? 'an integer' : 'a string'} (the Enum's valueSchema is "${vs}"), got ${show(value)}`);
            const v = value as string | number;
            if (names.has(name)) this.fail(join(ip, 'name'), `duplicate enum name "${name}" (also at ${names.get(name)})`);
            if (values.has(v)) this.fail(join(ip, 'enumValue'), `duplicate enumValue ${show(v)} (also at ${values.get(v)})`);
            names.set(name, ip);
            values.set(v, ip);
            return { name, value: v };
          }),
        };
      }
    }
  }

  private namedSchema(s: string, p: string, scope: Scope, depth: number, inProperty: boolean): Schema {
    const v = scope.version;
    if (PRIMITIVES[v].has(s)) return s as Schema;
    const inVersions = ([2, 3, 4] as const).filter((x) => PRIMITIVES[x].has(s));
    if (inVersions.length > 0) {
      this.fail(p, `"${s}" is a DTDL ${inVersions.map((x) => `v${x}`).join('/')} schema, but this Interface uses DTDL v${v} ("dtmi:dtdl:context;${v}")`);
    }
    if (CENTRAL_SCHEMAS.has(s)) return s as Schema;
    const central = /^dtmi:iotcentral:schema:(geopoint|vector);\d+$/.exec(s);
    if (central !== null) return central[1] as Schema;
    const geoIri = /^dtmi:standard:schema:geospatial:([A-Za-z]+);\d+$/.exec(s);
    const geo = geoIri !== null ? geoIri[1]! : s;
    if (GEOSPATIAL.has(geo)) {
      if (inProperty && v === 2) {
        this.fail(p, `DTDL v2 does not allow geospatial schemas ("${geo}") in a Property: use "dtmi:dtdl:context;3", or IoT Central's "geopoint"`);
      }
      return geo as Schema;
    }
    const local = scope.schemas.get(s);
    if (local !== undefined) {
      if (scope.resolving.has(s)) this.fail(p, `schema "${s}" refers to itself; the simulator cannot generate values for recursive schemas`);
      scope.resolving.add(s);
      try {
        return this.schema(local.json, local.path, scope, depth, inProperty);
      } finally {
        scope.resolving.delete(s);
      }
    }
    if (s.startsWith('dtmi:')) {
      const known = [...scope.schemas.keys()];
      this.fail(
        p,
        `"${s}" is not defined in the "schemas" of Interface "${scope.ifaceId}"` +
          (known.length > 0 ? `; defined there: ${known.map((k) => `"${k}"`).join(', ')}` : ''),
      );
    }
    const candidates = [...PRIMITIVES[v], ...CENTRAL_SCHEMAS, ...GEOSPATIAL, ...COMPLEX_TYPES];
    return this.fail(p, `expected a DTDL schema ${SCHEMA_HINT}, got "${s}"${didYouMean(s, candidates)}`);
  }
}

function displayName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (!isObject(v)) return undefined;
  const en = v.en ?? Object.values(v)[0];
  return typeof en === 'string' ? en : undefined;
}

/** Parses a DTDL document (one Interface, or an array of Interfaces where Components refer to one another). */
export function parseModel(json: unknown, opts: ParseOptions = {}): DeviceModel {
  return new Parser(opts.file).parse(json, opts.rootId);
}

/**
 * Offset of the first JSON syntax error in `text` (JSON.parse's message has no position on some Node 20
 * releases); -1 when the scanner finds none.
 */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const lit = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail();
  };
  const str = (): void => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          ws();
          if (text[i] !== '"') fail();
          str();
          ws();
          if (text[i] !== ':') fail();
          i++;
        }
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return;
        }
        fail();
      }
    }
    if (c === '"') return str();
    if (c === 't') return lit('true');
    if (c === 'f') return lit('false');
    if (c === 'n') return lit('null');
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m === null) fail();
    i += m![0].length;
  };
  try {
    value();
    ws();
    return i < text.length ? i : -1;
  } catch (at) {
    return at as number;
  }
}

/** Reads and parses a DTDL file; JSON syntax errors are reported with line and column. */
export async function loadModelFile(path: string, opts: Omit<ParseOptions, 'file'> = {}): Promise<DeviceModel> {
  const raw = await readFile(path, 'utf8');
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const at = jsonErrorOffset(text);
    if (at < 0) throw new ModelError(path, '', `not valid JSON: ${(err as Error).message.replace(/\s+/g, ' ')}`);
    const before = text.slice(0, at);
    const what = at >= text.length ? 'unexpected end of file' : `unexpected ${JSON.stringify(text.slice(at, at + 12))}`;
    throw new ModelError(path, '', `not valid JSON (line ${before.split('\n').length}, column ${at - before.lastIndexOf('\n')}): ${what}`);
  }
  return parseModel(json, { ...opts, file: path });
}
