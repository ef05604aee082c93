// Loads a DTDL v2/v3/v4 device model into the flat shape the simulator needs: telemetry, properties and commands,
// each tagged with its component. Validation covers what would make a simulated device send what IoT Central or
// IoT Hub would not accept, and the language's limits as the official parser counts them (limits.ts); it is not a
// full DTDL parser (no RDF, no extensions beyond IoT Central's schemas).
import { readFile } from 'node:fs/promises';
import {
  checkDtmi,
  checkElement,
  checkName,
  didYouMean,
  displayName,
  isObject,
  join,
  listOf,
  pastLimit,
  show,
  type Json,
} from './dtdl-common.js';
import { COMPLEX_TYPES, SchemaReader, schemaElements, typesOf, type Scope } from './dtdl-schemas.js';
import { JsonSyntaxError, parseJsonText, textSpanOf, type Span } from './json-text.js';
import { limitOf, type DtdlVersion } from './limits.js';
import type { Schema } from './schema.js';

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
export type { DtdlVersion } from './limits.js';

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

/** Where an element of a top-level array came from, when the array was put together from several files. */
export interface ModelSource {
  /** The file (or URL) as shown to people. */
  file: string;
  /** The element's JSON path in that file ('' for the whole file). */
  path: string;
}

export interface ParseOptions {
  /** Shown in error messages. */
  file?: string;
  /** Which Interface of an array is the device model; by default the one no other Interface uses. */
  rootId?: string;
  /** For an array put together from several files: where each element came from, for error messages. */
  sources?: readonly ModelSource[];
  /**
   * Where objects of the document are in its text, to measure an Interface's text against DTDL's 1 MiB limit (default:
   * where parseJsonText read them). An Interface whose text is not known is not measured: the limit is on text.
   */
  spanOf?: (node: object) => Span | undefined;
}

const CONTENT_CLASSES = ['Telemetry', 'Property', 'Command', 'Component', 'Relationship'];

/** How an Interface was reached: as a Component's schema, or through `extends`. */
type Via = 'Component' | 'extends';

/** A Telemetry or a Property being read. */
interface FieldKind {
  name: string;
  cotypes: string[];
  property: boolean;
}

function hasType(el: Json, type: string): boolean {
  const t = el['@type'];
  return t === type || (Array.isArray(t) && t.includes(type));
}
const CONTEXTS_HINT = '"dtmi:dtdl:context;2" or "dtmi:dtdl:context;3"';

interface ComponentRef {
  name: string;
  iface: ParsedInterface;
  /** Where the Component is declared. */
  path: string;
}

/** What an Interface declares itself, without what it inherits. */
interface Declared {
  telemetry: TelemetryDef[];
  properties: PropertyDef[];
  commands: CommandDef[];
  components: ComponentRef[];
  /** Name → where it is declared. */
  names: Map<string, string>;
  /** Elements under its contents, as DTDLParser counts them (schemaElements). */
  elements: number;
}

interface ParsedInterface {
  id: string;
  displayName?: string;
  declared: Declared;
  /** Every Interface it extends, directly or not, each once, bases before what extends them. */
  ancestors: ParsedInterface[];
  /** The longest chain of `extends` from it. */
  extendsDepth: number;
  /** Interfaces in its `extends` hierarchy, counted as DTDLParser counts them (a base reached twice counts twice). */
  extendsCount: number;
  /** Elements under its contents, inherited ones included. */
  elements: number;
}

type Inheritance = Pick<ParsedInterface, 'ancestors' | 'extendsDepth' | 'extendsCount'>;

/** An Interface's contents with what it inherits, inherited first (that is how devices send them). */
type ContentKind = 'telemetry' | 'properties' | 'commands' | 'components';

function allOf<K extends ContentKind>(iface: ParsedInterface, key: K): Declared[K] {
  const all: unknown[] = [];
  for (const i of [...iface.ancestors, iface]) all.push(...i.declared[key]);
  return all as Declared[K];
}

class Parser {
  /** Top-level Interfaces by @id (the array form), plus inline ones once parsed. */
  private readonly raw = new Map<string, { json: Json; path: string; version: DtdlVersion | undefined }>();
  private readonly parsed = new Map<string, ParsedInterface>();
  /** Interfaces being parsed, and how each was reached, to refuse cycles. */
  private readonly inProgress: { id: string; via: 'extends' | 'Component' | 'top' }[] = [];
  private readonly schemas: SchemaReader;

  constructor(private readonly opts: ParseOptions) {
    this.schemas = new SchemaReader((path, detail) => this.fail(path, detail));
  }

  fail(path: string, detail: string): never {
    const m = /^\[(\d+)\](.*)$/.exec(path);
    const source = m === null ? undefined : this.opts.sources?.[Number(m[1])];
    if (m === null || source === undefined) throw new ModelError(this.opts.file, path, detail);
    const rest = m[2]!;
    throw new ModelError(source.file, source.path === '' ? rest.replace(/^\./, '') : `${source.path}${rest}`, detail);
  }

  parse(json: unknown): DeviceModel {
    const tops = this.topLevel(json);
    for (const t of tops) {
      const version = this.contextVersion(t.json, t.path);
      if (version === undefined) this.fail(join(t.path, '@context'), `missing: expected ${CONTEXTS_HINT}`);
      this.checkInterfaceType(t.json, t.path);
      const id = this.interfaceId(t.json, t.path, version);
      const seen = this.raw.get(id);
      if (seen !== undefined) {
        this.fail(
          join(t.path, '@id'),
          `duplicate Interface "${id}" (also at ${seen.path === '' ? 'the top' : seen.path})`,
        );
      }
      this.raw.set(id, { json: t.json, path: t.path, version });
    }
    const root = this.chooseRoot(tops);
    const entry = this.raw.get(root)!;
    const iface = this.parseInterface(entry.json, entry.path, entry.version, 'top');
    // Every Interface of the document must be valid, as for the official parser, even one the device does not use.
    for (const t of tops) {
      const other = this.raw.get(t.json['@id'] as string)!;
      this.parseInterface(other.json, other.path, other.version, 'top');
    }
    return this.flatten(iface);
  }

  private topLevel(json: unknown): { json: Json; path: string }[] {
    const interfaceExpected = 'expected a DTDL Interface (an object with "@type": "Interface")';
    if (isObject(json)) return [{ json, path: '' }];
    if (!Array.isArray(json)) return this.fail('', `${interfaceExpected} or an array of Interfaces, got ${show(json)}`);
    if (json.length === 0) this.fail('', 'expected a DTDL Interface or an array of Interfaces, got an empty array');
    return json.map((el, i) => {
      if (!isObject(el)) this.fail(`[${i}]`, `${interfaceExpected}, got ${show(el)}`);
      return { json: el, path: `[${i}]` };
    });
  }

  private flatten(iface: ParsedInterface): DeviceModel {
    const model: DeviceModel = {
      id: iface.id,
      telemetry: allOf(iface, 'telemetry'),
      properties: allOf(iface, 'properties'),
      commands: allOf(iface, 'commands'),
      components: [],
    };
    if (iface.displayName !== undefined) model.displayName = iface.displayName;
    for (const c of allOf(iface, 'components')) {
      model.components.push({ name: c.name, modelId: c.iface.id });
      for (const t of allOf(c.iface, 'telemetry')) model.telemetry.push({ ...t, component: c.name });
      for (const p of allOf(c.iface, 'properties')) model.properties.push({ ...p, component: c.name });
      for (const cmd of allOf(c.iface, 'commands')) model.commands.push({ ...cmd, component: c.name });
    }
    return model;
  }

  private chooseRoot(tops: { json: Json; path: string }[]): string {
    const ids = [...this.raw.keys()];
    const rootId = this.opts.rootId;
    if (rootId !== undefined) {
      const has = ids.map((i) => `"${i}"`).join(', ');
      if (!this.raw.has(rootId)) this.fail('', `rootId "${rootId}" is not in this document (it has ${has})`);
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
      if (!Array.isArray(t.json.contents)) continue;
      for (const el of t.json.contents) {
        if (!isObject(el)) continue;
        const types = Array.isArray(el['@type']) ? el['@type'] : [el['@type']];
        if (types.includes('Component')) note(el.schema);
      }
    }
    const roots = ids.filter((id) => !used.has(id));
    if (roots.length === 1) return roots[0]!;
    if (roots.length === 0) {
      this.fail(
        '',
        'every Interface is used by another one as a Component or in "extends": ' +
          'there is no device model at the top (a cycle?)',
      );
    }
    const unused = roots.map((r) => `"${r}"`).join(', ');
    return this.fail(
      '',
      `${roots.length} Interfaces are not used by any other (${unused}): say which one is the device model (rootId)`,
    );
  }

  private contextVersion(json: Json, path: string): DtdlVersion | undefined {
    const ctx = json['@context'];
    if (ctx === undefined) return undefined;
    const p = join(path, '@context');
    const list = Array.isArray(ctx) ? ctx : [ctx];
    for (const c of list) {
      if (typeof c !== 'string') this.fail(p, `expected a context such as "dtmi:dtdl:context;3", got ${show(c)}`);
      const m = /^dtmi:dtdl:context;(\d+)(#limitless)?$/.exec(c);
      if (m === null) continue;
      const v = Number(m[1]);
      if (m[2] !== undefined) {
        this.fail(
          p,
          `"${c}": limit extensions (they raise DTDL's limits) are not supported; use "dtmi:dtdl:context;${v}"`,
        );
      }
      if (v === 2 || v === 3 || v === 4) return v;
      this.fail(p, `DTDL version ${v} is not supported: expected ${CONTEXTS_HINT}`);
    }
    if (list.some((c) => typeof c === 'string' && c.includes('azureiot.com/v1'))) {
      this.fail(
        p,
        'this is a DTDL v1 (preview) model, which is not supported: convert it to DTDL v2 ("dtmi:dtdl:context;2")',
      );
    }
    return this.fail(p, `expected ${CONTEXTS_HINT}, got ${show(ctx)}`);
  }

  private checkInterfaceType(json: Json, path: string): void {
    const t = json['@type'];
    const ok = t === 'Interface' || (Array.isArray(t) && t.includes('Interface'));
    if (!ok) this.fail(join(path, '@type'), `expected "Interface", got ${show(t)}`);
  }

  private interfaceId(json: Json, path: string, version: DtdlVersion): string {
    const id = json['@id'];
    const p = join(path, '@id');
    if (id === undefined) this.fail(p, 'missing: an Interface needs an "@id" such as "dtmi:com:example:Thermostat;1"');
    const example = '"dtmi:com:example:Thermostat;1"';
    if (typeof id !== 'string') this.fail(p, `expected a DTMI such as ${example}, got ${show(id)}`);
    checkDtmi(id, p, version, (at, detail) => this.fail(at, detail), 'interfaceId');
    return id;
  }

  /** A Component's or `extends`' schema: an Interface id defined in this document, or an inline Interface. */
  private resolveInterface(ref: unknown, path: string, version: DtdlVersion, via: Via): ParsedInterface {
    if (typeof ref === 'string') {
      const done = this.parsed.get(ref);
      if (done !== undefined) return done;
      this.refuseCycle(ref, path, via);
      const entry = this.raw.get(ref);
      if (entry === undefined) {
        checkDtmi(ref, path, version, (at, detail) => this.fail(at, detail));
        const known = [...this.raw.keys()];
        this.fail(
          path,
          `${via === 'Component' ? 'Component schema' : 'extends'} "${ref}" is not defined in this document: ` +
            'put that Interface in the same JSON array (the "expanded" model)' +
            (known.length > 0 ? `; defined here: ${known.map((k) => `"${k}"`).join(', ')}` : ''),
        );
      }
      return this.parseInterface(entry.json, entry.path, entry.version ?? version, via);
    }
    if (isObject(ref)) {
      this.checkInterfaceType(ref, path);
      return this.parseInterface(ref, path, this.contextVersion(ref, path) ?? version, via);
    }
    return this.fail(
      path,
      `expected an Interface id such as "dtmi:com:example:Thermostat;1" or an inline Interface, got ${show(ref)}`,
    );
  }

  private refuseCycle(id: string, path: string, via: 'Component' | 'extends'): void {
    const at = this.inProgress.findIndex((e) => e.id === id);
    if (at < 0) return;
    const links = [...this.inProgress.slice(at + 1).map((e) => e.via), via];
    const what = links.every((l) => l === 'extends')
      ? '"extends" makes'
      : links.includes('extends')
        ? 'Components and "extends" make'
        : 'Components make';
    this.fail(path, `${what} a cycle: ${[...this.inProgress.slice(at).map((e) => e.id), id].join(' → ')}`);
  }

  private parseInterface(
    json: Json,
    path: string,
    inherited: DtdlVersion | undefined,
    via: Via | 'top',
  ): ParsedInterface {
    const version = this.contextVersion(json, path) ?? inherited;
    if (version === undefined) return this.fail(join(path, '@context'), `missing: expected ${CONTEXTS_HINT}`);
    this.checkInterfaceType(json, path);
    const id = this.interfaceId(json, path, version);
    const cached = this.parsed.get(id);
    if (cached !== undefined) return cached;
    if (!this.raw.has(id)) this.raw.set(id, { json, path, version });
    checkElement({ ...json, '@id': undefined }, path, version, (at, detail) => this.fail(at, detail));

    this.inProgress.push({ id, via });
    const scope = this.scopeOf(json, path, version, id);
    const { ancestors, extendsDepth, extendsCount } = this.readExtends(json, path, version, id);
    const names = new Map<string, string>();
    for (const a of ancestors) {
      for (const name of a.declared.names.keys()) {
        const prior = names.get(name);
        if (prior !== undefined) {
          this.fail(join(path, 'extends'), `"${name}" is inherited twice (from ${prior} and from "${a.id}")`);
        }
        names.set(name, `"${a.id}"`);
      }
    }
    const declared = this.readContents(json, path, scope, names);
    this.inProgress.pop();

    const iface: ParsedInterface = {
      id,
      declared,
      ancestors,
      extendsDepth,
      extendsCount,
      elements: ancestors.reduce((n, a) => n + a.declared.elements, declared.elements),
    };
    const dn = displayName(json.displayName);
    if (dn !== undefined) iface.displayName = dn;
    this.checkSize(iface, json, path, version, names.size);
    this.parsed.set(id, iface);
    return iface;
  }

  /** The Interface's reusable schemas, each checked even when nothing uses it. */
  private scopeOf(json: Json, path: string, version: DtdlVersion, id: string): Scope {
    const scope: Scope = { version, ifaceId: id, schemas: new Map(), resolving: new Set() };
    const schemas = json.schemas;
    if (schemas === undefined) return scope;
    if (!Array.isArray(schemas)) {
      this.fail(join(path, 'schemas'), `expected an array of Array, Enum, Map or Object schemas, got ${show(schemas)}`);
    }
    schemas.forEach((s, i) => {
      const p = join(join(path, 'schemas'), i);
      if (!isObject(s)) this.fail(p, `expected an Array, Enum, Map or Object schema, got ${show(s)}`);
      const sid = s['@id'];
      if (typeof sid !== 'string') {
        this.fail(join(p, '@id'), 'a reusable schema needs an "@id" (a DTMI) so that contents can refer to it');
      }
      checkDtmi(sid, join(p, '@id'), version, (at, detail) => this.fail(at, detail));
      if (scope.schemas.has(sid)) this.fail(join(p, '@id'), `duplicate schema "${sid}"`);
      scope.schemas.set(sid, { json: s, path: p });
    });
    for (const { json: s, path: p } of scope.schemas.values()) {
      if (!isObject(s) || !COMPLEX_TYPES.some((t) => hasType(s, t))) {
        const got = show(isObject(s) ? s['@type'] : s);
        this.fail(join(p, '@type'), `a reusable schema is an "Array", "Enum", "Map" or "Object", got ${got}`);
      }
      this.schemas.read(s['@id'], p, scope, 0, false);
    }
    return scope;
  }

  private readExtends(json: Json, path: string, version: DtdlVersion, id: string): Inheritance {
    const ext = json.extends;
    const result = { ancestors: [] as ParsedInterface[], extendsDepth: 0, extendsCount: 0 };
    if (ext === undefined) return result;
    const list = listOf(ext);
    const ep = join(path, 'extends');
    const perInterface = limitOf(version, 'extendsPerInterface');
    const distinct = new Set(list.map((e) => (isObject(e) ? e['@id'] : e))).size;
    if (perInterface !== undefined && distinct > perInterface) {
      this.fail(ep, pastLimit(version, 'extendsPerInterface', `extends ${distinct} Interfaces`));
    }
    const seen = new Set<string>();
    list.forEach((e, i) => {
      const base = this.resolveInterface(e, Array.isArray(ext) ? join(ep, i) : ep, version, 'extends');
      for (const a of [...base.ancestors, base]) {
        if (!seen.has(a.id)) result.ancestors.push(a);
        seen.add(a.id);
      }
      result.extendsDepth = Math.max(result.extendsDepth, base.extendsDepth + 1);
      result.extendsCount += base.extendsCount + 1;
    });
    const maxDepth = limitOf(version, 'extendsDepth')!;
    if (result.extendsDepth > maxDepth) {
      this.fail(ep, pastLimit(version, 'extendsDepth', `"${id}" extends a chain of ${result.extendsDepth} Interfaces`));
    }
    const maxCount = limitOf(version, 'extendsInHierarchy');
    if (maxCount !== undefined && result.extendsCount > maxCount) {
      this.fail(
        ep,
        pastLimit(version, 'extendsInHierarchy', `${result.extendsCount} Interfaces in the "extends" hierarchy`),
      );
    }
    return result;
  }

  private readContents(json: Json, path: string, scope: Scope, names: Map<string, string>): Declared {
    const declared: Declared = {
      telemetry: [],
      properties: [],
      commands: [],
      components: [],
      names: new Map(),
      elements: 0,
    };
    const contents = json.contents;
    const cp = join(path, 'contents');
    if (contents !== undefined && !Array.isArray(contents)) {
      this.fail(cp, `expected an array of Telemetry, Property, Command and Component, got ${show(contents)}`);
    }
    (contents ?? []).forEach((el: unknown, i: number) => {
      const p = join(cp, i);
      const name = this.parseContent(el, p, scope, declared);
      const prior = names.get(name);
      if (prior !== undefined) {
        const also = prior.startsWith('"') ? `inherited from ${prior}` : `at ${prior}`;
        this.fail(join(p, 'name'), `duplicate name "${name}" (also ${also}); names must be unique in an Interface`);
      }
      names.set(name, p);
      declared.names.set(name, p);
    });
    return declared;
  }

  /** The limits on an Interface as a whole: its contents, their elements, and its text. */
  private checkSize(iface: ParsedInterface, json: Json, path: string, version: DtdlVersion, contents: number): void {
    const cp = join(path, 'contents');
    const maxContents = limitOf(version, 'contents');
    if (maxContents !== undefined && contents > maxContents) {
      this.fail(cp, pastLimit(version, 'contents', `"${iface.id}" has ${contents} contents, inherited ones included`));
    }
    const maxElements = limitOf(version, 'elementsInHierarchy');
    if (maxElements !== undefined && iface.elements > maxElements) {
      this.fail(
        cp,
        pastLimit(version, 'elementsInHierarchy', `"${iface.id}" has ${iface.elements} elements under its contents`),
      );
    }
    const maxText = limitOf(version, 'interfaceText');
    const length = maxText === undefined ? undefined : this.textLength(json);
    if (length !== undefined && length > maxText!) {
      this.fail(
        path,
        pastLimit(version, 'interfaceText', `the text of Interface "${iface.id}" is ${length} characters long`),
      );
    }
  }

  /**
   * An Interface's text without the Interfaces written inline in it (each counts as its quoted @id), as DTDLParser
   * measures it; undefined when the text is not known.
   */
  private textLength(json: Json): number | undefined {
    const spanOf = this.opts.spanOf ?? textSpanOf;
    const measure = (node: object): number | undefined => {
      const span = spanOf(node);
      return span === undefined ? undefined : span[1] - span[0];
    };
    let length = measure(json);
    if (length === undefined) return undefined;
    const inline = [...listOf(json.extends)]; // a copy: the schemas of the contents join it
    if (Array.isArray(json.contents)) for (const el of json.contents) if (isObject(el)) inline.push(el.schema);
    for (const n of inline) {
      if (isObject(n) && hasType(n, 'Interface')) {
        length += JSON.stringify(String(n['@id'])).length - (measure(n) ?? 0);
      }
    }
    return length;
  }

  /** One element of `contents`; returns its name. */
  private parseContent(el: unknown, p: string, scope: Scope, declared: Declared): string {
    if (!isObject(el)) this.fail(p, `expected a Telemetry, Property, Command or Component object, got ${show(el)}`);
    const fail = (at: string, detail: string) => this.fail(at, detail);
    const types = typesOf(el, p, CONTENT_CLASSES, fail);
    const cls = types.find((t) => CONTENT_CLASSES.includes(t));
    if (cls === undefined) {
      const guess = types.length > 0 ? didYouMean(types[0]!, CONTENT_CLASSES) : '';
      const got = `${show(el['@type'])}${guess}`;
      this.fail(
        join(p, '@type'),
        `expected "Telemetry", "Property", "Command", "Component" or "Relationship", got ${got}`,
      );
    }
    const name = checkName(el.name, join(p, 'name'), scope.version, fail);
    checkElement(el, p, scope.version, fail);
    const cotypes = types.filter((t) => t !== cls);
    declared.elements += 1;
    switch (cls) {
      case 'Telemetry':
      case 'Property':
        this.parseField(el, p, scope, declared, { name, cotypes, property: cls === 'Property' });
        break;
      case 'Command':
        declared.commands.push(this.parseCommand(el, p, scope, declared, name));
        break;
      case 'Component':
        this.parseComponent(el, p, scope, declared, name);
        break;
      default:
        this.parseRelationship(el, p, scope, declared);
    }
    return name;
  }

  /** A Telemetry or a Property. */
  private parseField(el: Json, p: string, scope: Scope, declared: Declared, what: FieldKind): void {
    const schema = this.schemas.read(el.schema, join(p, 'schema'), scope, 0, what.property);
    declared.elements += 1 + schemaElements(schema);
    const semantic = what.cotypes[0] === undefined ? {} : { semanticType: what.cotypes[0] };
    const unit = typeof el.unit === 'string' ? { unit: el.unit } : {};
    if (!what.property) {
      declared.telemetry.push({ name: what.name, schema, ...semantic, ...unit });
      return;
    }
    const w = el.writable;
    if (w !== undefined && typeof w !== 'boolean') {
      this.fail(join(p, 'writable'), `expected true or false, got ${show(w)}`);
    }
    // IoT Central cloud properties live in Central only: a device neither reports nor receives them.
    if (what.cotypes.includes('Cloud')) return;
    declared.properties.push({ name: what.name, schema, writable: w === true, ...semantic, ...unit });
  }

  private parseCommand(el: Json, p: string, scope: Scope, declared: Declared, name: string): CommandDef {
    const def: CommandDef = { name };
    for (const key of ['request', 'response'] as const) {
      const payload = el[key];
      if (payload === undefined) continue;
      const pp = join(p, key);
      if (!isObject(payload)) this.fail(pp, `expected an object with "name" and "schema", got ${show(payload)}`);
      checkElement(payload, pp, scope.version, (at, detail) => this.fail(at, detail));
      const schema = this.schemas.read(payload.schema, join(pp, 'schema'), scope, 0, false);
      const name = checkName(payload.name, join(pp, 'name'), scope.version, (at, detail) => this.fail(at, detail));
      def[key] = { name, schema };
      declared.elements += 2 + schemaElements(schema);
    }
    return def;
  }

  private parseComponent(el: Json, p: string, scope: Scope, declared: Declared, name: string): void {
    if (el.schema === undefined) {
      this.fail(
        join(p, 'schema'),
        'missing: a Component needs the @id of an Interface, e.g. "dtmi:com:example:Thermostat;1"',
      );
    }
    const sub = this.resolveInterface(el.schema, join(p, 'schema'), scope.version, 'Component');
    const inner = allOf(sub, 'components')[0];
    if (inner !== undefined) {
      this.fail(
        inner.path,
        `component "${name}" uses Interface "${sub.id}", which itself has a Component ("${inner.name}"); ` +
          'DTDL does not allow a Component inside a Component',
      );
    }
    declared.components.push({ name, iface: sub, path: p });
    declared.elements += 1 + sub.elements;
  }

  /** No device traffic, but its limits and its properties are checked as the official parser checks them. */
  private parseRelationship(el: Json, p: string, scope: Scope, declared: Declared): void {
    const v = scope.version;
    const fail = (at: string, detail: string) => this.fail(at, detail);
    if (el.target !== undefined) {
      if (typeof el.target !== 'string') {
        this.fail(join(p, 'target'), `expected the DTMI of an Interface, got ${show(el.target)}`);
      }
      checkDtmi(el.target, join(p, 'target'), v, fail);
    }
    const max = el.maxMultiplicity;
    const maxAllowed = limitOf(v, 'maxMultiplicity');
    if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1)) {
      this.fail(join(p, 'maxMultiplicity'), `expected a whole number >= 1, got ${show(max)}`);
    }
    if (typeof max === 'number' && maxAllowed !== undefined && max > maxAllowed) {
      this.fail(join(p, 'maxMultiplicity'), pastLimit(v, 'maxMultiplicity', String(max)));
    }
    if (el.minMultiplicity !== undefined && el.minMultiplicity !== 0) {
      this.fail(join(p, 'minMultiplicity'), `must be 0, got ${show(el.minMultiplicity)}`);
    }
    const props = el.properties ?? [];
    const pp = join(p, 'properties');
    if (!Array.isArray(props)) this.fail(pp, `expected a list of Properties, got ${show(props)}`);
    const maxProps = limitOf(v, 'relationshipProperties');
    if (maxProps !== undefined && props.length > maxProps) {
      this.fail(pp, pastLimit(v, 'relationshipProperties', `${props.length} properties`));
    }
    const names = new Set<string>();
    props.forEach((prop: unknown, i: number) => {
      const ip = join(pp, i);
      if (!isObject(prop)) this.fail(ip, `expected a Property, got ${show(prop)}`);
      checkElement(prop, ip, v, fail);
      const name = checkName(prop.name, join(ip, 'name'), v, fail);
      if (names.has(name)) this.fail(join(ip, 'name'), `duplicate property "${name}" of the Relationship`);
      names.add(name);
      declared.elements += 2 + schemaElements(this.schemas.read(prop.schema, join(ip, 'schema'), scope, 0, true));
    });
  }
}

/** Parses a DTDL document (one Interface, or an array of Interfaces where Components refer to one another). */
export function parseModel(json: unknown, opts: ParseOptions = {}): DeviceModel {
  return new Parser(opts).parse(json);
}

/** Parses DTDL text; syntax errors name the line and column. */
export function parseModelText(text: string, opts: ParseOptions & { file: string }): DeviceModel {
  return parseModel(readModelText(text, opts.file), opts);
}

/**
 * JSON text of a model (its positions kept for the 1 MiB limit), or a ModelError naming the line and column of a
 * syntax error.
 */
export function readModelText(text: string, file: string): unknown {
  try {
    return parseJsonText(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new ModelError(file, '', err.message);
    throw err;
  }
}

/** Reads and parses a DTDL file; JSON syntax errors are reported with line and column. */
export async function loadModelFile(path: string, opts: Omit<ParseOptions, 'file'> = {}): Promise<DeviceModel> {
  return parseModelText(await readFile(path, 'utf8'), { ...opts, file: path });
}
