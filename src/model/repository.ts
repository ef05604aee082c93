// Models by DTMI from a device models repository (DMR): a folder, or an http(s) URL, laid out as the DMR convention
// says (dtmi/com/example/thermostat-1.json; an .expanded.json beside it holds the model with every Interface it
// depends on, the root first). The Interfaces a model names in `extends` and as Component schemas are looked up the
// same way, recursively. Files fetched from a URL are kept in a cache folder and read from there afterwards: models
// in a repository do not change once published, and a run then needs no network.
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isObject, join, listOf, show, type Json } from './dtdl-common.js';
import { ModelError, readModelText, type ModelSource } from './dtdl.js';
import { isDtmi, repositoryPath } from './dtmi.js';

/** A device models repository. */
export type ModelRepository =
  { kind: 'folder'; dir: string; shown: string } | { kind: 'url'; base: string; cacheDir: string };

/** A model put together from the repository: its Interfaces, the root first, and where each came from. */
export interface RepositoryModel {
  dtmi: string;
  /** The root's file (or URL), as shown. */
  shown: string;
  interfaces: Json[];
  sources: ModelSource[];
}

const FETCH_TIMEOUT_MS = 15_000;
/** Far above any real model (an Interface is at most 1 MiB of text in DTDL v3). */
const MAX_FETCH_BYTES = 32 * 1024 * 1024;

/** Where the repository is, for messages. */
export function describeRepository(repo: ModelRepository): string {
  return repo.kind === 'folder' ? repo.shown : repo.base;
}

/** The folder a URL repository's files are cached in, below `cacheRoot`: one folder per repository. */
export function cacheDirFor(cacheRoot: string, base: string): string {
  const url = new URL(base);
  const name = `${url.host}${url.pathname}`.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '');
  return path.join(cacheRoot, name || 'repository');
}

interface Found {
  text: string;
  /** The file or URL it was read from, as shown. */
  shown: string;
}

interface Lookup {
  found?: Found;
  /** Every place looked at, for "not found" messages. */
  looked: string[];
}

async function readIfFile(file: string): Promise<string | undefined> {
  try {
    if (!(await stat(file)).isFile()) return undefined;
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function fetchText(url: string): Promise<string | undefined> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'follow' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot fetch ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
  }
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`cannot fetch ${url}: HTTP ${response.status}`);
  }
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_FETCH_BYTES) {
    await response.body?.cancel();
    throw new Error(`cannot fetch ${url}: ${length} bytes is more than a model can be`);
  }
  const text = await response.text();
  if (text.length > MAX_FETCH_BYTES) throw new Error(`cannot fetch ${url}: more than ${MAX_FETCH_BYTES} bytes`);
  return text;
}

/** Writes a fetched file into the cache whole or not at all (a run stopped halfway leaves no half file). */
async function keep(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, text);
  await rename(partial, file);
}

/** The expanded form first, then the model alone; from the cache first for a URL repository. */
async function lookUp(repo: ModelRepository, dtmi: string): Promise<Lookup> {
  const files = [repositoryPath(dtmi, true)!, repositoryPath(dtmi)!];
  if (repo.kind === 'folder') {
    const looked: string[] = [];
    for (const relative of files) {
      const file = path.join(repo.dir, relative);
      const shown = path.join(repo.shown, relative);
      looked.push(shown);
      const text = await readIfFile(file);
      if (text !== undefined) return { found: { text, shown }, looked };
    }
    return { looked };
  }
  for (const relative of files) {
    const text = await readIfFile(path.join(repo.cacheDir, relative));
    if (text !== undefined) return { found: { text, shown: new URL(relative, repo.base).href }, looked: [] };
  }
  const looked: string[] = [];
  for (const relative of files) {
    const url = new URL(relative, repo.base).href;
    looked.push(url);
    const text = await fetchText(url);
    if (text === undefined) continue;
    await keep(path.join(repo.cacheDir, relative), text);
    return { found: { text, shown: url }, looked };
  }
  return { looked };
}

/** The DTMIs an Interface names in `extends` and as Component schemas, with the JSON path of each. */
function references(iface: Json, at: string): { dtmi: string; path: string; what: string }[] {
  const out: { dtmi: string; path: string; what: string }[] = [];
  const visit = (node: Json, p: string): void => {
    const ext = node.extends;
    const list = Array.isArray(ext) ? ext : ext === undefined ? [] : [ext];
    list.forEach((e, i) => {
      const ep = Array.isArray(ext) ? join(join(p, 'extends'), i) : join(p, 'extends');
      if (typeof e === 'string') out.push({ dtmi: e, path: ep, what: 'extends' });
      else if (isObject(e)) visit(e, ep);
    });
    if (!Array.isArray(node.contents)) return;
    node.contents.forEach((el, i) => {
      if (!isObject(el)) return;
      const types = Array.isArray(el['@type']) ? el['@type'] : [el['@type']];
      if (!types.includes('Component')) return;
      const sp = join(join(join(p, 'contents'), i), 'schema');
      if (typeof el.schema === 'string') out.push({ dtmi: el.schema, path: sp, what: 'Component schema' });
      else if (isObject(el.schema)) visit(el.schema, sp);
    });
  };
  visit(iface, at);
  return out;
}

class Resolver {
  private readonly loaded = new Map<string, { json: Json; source: ModelSource }>();
  private readonly order: string[] = [];

  constructor(private readonly repo: ModelRepository) {}

  /** Loads the file `dtmi` is kept in; `by` is the reference that named it (none for the root). */
  async load(dtmi: string, by?: { file: string; path: string; what: string; from: string }): Promise<void> {
    const where = describeRepository(this.repo);
    const fail = (detail: string): never => {
      throw by === undefined ? new ModelError(undefined, '', detail) : new ModelError(by.file, by.path, detail);
    };
    const named = by === undefined ? `"${dtmi}"` : `${by.what} "${dtmi}" (named by "${by.from}")`;
    if (!isDtmi(dtmi, 2)) {
      fail(
        `${named} cannot be looked up in the model repository ${where}: it keeps models by DTMIs with a version, ` +
          'such as "dtmi:com:example:Thermostat;1"',
      );
    }
    let lookup: Lookup;
    try {
      lookup = await lookUp(this.repo, dtmi);
    } catch (err) {
      return fail(`${named}: ${(err as Error).message}`);
    }
    if (lookup.found === undefined) {
      return fail(`${named} is not in the model repository ${where}: looked up ${lookup.looked.join(' and ')}`);
    }
    this.register(dtmi, lookup.found);
  }

  private register(dtmi: string, found: Found): void {
    const value = readModelText(found.text, found.shown);
    const elements = listOf(value).map((v, i) => ({ v, p: Array.isArray(value) ? `[${i}]` : '' }));
    let holdsIt = false;
    for (const { v, p } of elements) {
      if (!isObject(v)) throw new ModelError(found.shown, p, `expected a DTDL Interface, got ${show(v)}`);
      const id = v['@id'];
      if (id === dtmi) holdsIt = true;
      if (typeof id !== 'string' || this.loaded.has(id)) continue;
      this.loaded.set(id, { json: v, source: { file: found.shown, path: p } });
      this.order.push(id);
    }
    if (!holdsIt) {
      const id = Array.isArray(value) ? undefined : (value as Json)['@id'];
      const got = Array.isArray(value) ? 'none of its Interfaces has it' : `its "@id" is ${show(id)}`;
      const detail = `expected the Interface "${dtmi}" (the DTMI this file is kept under); ${got}`;
      throw new ModelError(found.shown, Array.isArray(value) ? '' : '@id', detail);
    }
  }

  /** Loads what the loaded Interfaces name, until nothing is missing. */
  async complete(): Promise<void> {
    for (let i = 0; i < this.order.length; i++) {
      const entry = this.loaded.get(this.order[i]!)!;
      const from = this.order[i]!;
      for (const ref of references(entry.json, entry.source.path)) {
        if (this.loaded.has(ref.dtmi)) continue;
        await this.load(ref.dtmi, { file: entry.source.file, path: ref.path, what: ref.what, from });
      }
    }
  }

  /** The root and what it reaches, root first: the model a worker parses again finds its root by itself. */
  result(dtmi: string): RepositoryModel {
    const reached: string[] = [];
    const visit = (id: string): void => {
      if (reached.includes(id) || !this.loaded.has(id)) return;
      reached.push(id);
      for (const ref of references(this.loaded.get(id)!.json, '')) visit(ref.dtmi);
    };
    visit(dtmi);
    const entries = reached.map((id) => this.loaded.get(id)!);
    return {
      dtmi,
      shown: entries[0]!.source.file,
      interfaces: entries.map((e) => e.json),
      sources: entries.map((e) => e.source),
    };
  }
}

/**
 * A model and every Interface it depends on, by DTMI. Throws a ModelError: with no file when the DTMI itself is not
 * in the repository, else naming the file and JSON path of the reference that could not be resolved.
 */
export async function resolveModel(dtmi: string, repo: ModelRepository): Promise<RepositoryModel> {
  const resolver = new Resolver(repo);
  await resolver.load(dtmi);
  await resolver.complete();
  return resolver.result(dtmi);
}
