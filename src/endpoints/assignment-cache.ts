// The assignment cache: what DPS assigned each identity (its hub, its device id, the register payload it was
// registered with), kept per target and ID scope in the state directory, so that the next run of the same fleet
// connects straight to its hub as real devices do between boots (docs/protocol.md §9) and spares DPS and its quota.
// A client-side cache in one JSON file (assignments.json), not a store: losing it costs registrations, nothing else.
// One writer per run (the coordinator), atomically (a temporary file renamed over the old one).
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegisterPayload } from '../protocol/index.js';
import type { Target } from './target.js';

export const ASSIGNMENTS_FILE = 'assignments.json';
const SCHEMA = 'edgefleet.assignments/v1';
/**
 * Targets kept in the file; the least recently used go first (an emulator is one target per ID scope, whatever its
 * ports).
 */
const TARGETS_KEPT = 16;

/** One identity's assignment as DPS made it. Never a key: the file holds no secret. */
export interface CachedAssignment {
  assignedHub: string;
  deviceId: string;
  /** The register payload it was registered with (modelId, iotcGateway); another payload registers again. */
  payload?: RegisterPayload;
  /** ISO 8601. */
  assignedAt: string;
}

/** Assignments by registration id. */
export type AssignmentEntries = Record<string, CachedAssignment>;

/** A worker's news for the cache: new assignments, and `null` for one to forget. */
export type AssignmentChanges = Record<string, CachedAssignment | null>;

/** Whose assignments: a DPS endpoint (`host:port`, or `emulator`) and an ID scope. */
export interface CacheScope {
  target: string;
  idScope: string;
  /**
   * Where every cached identity's hub is now, for a target whose hub moves between runs: the emulator has one hub,
   * on the listener of its DPS, and its ports may be new each run (its ID scope, kept in its state directory, is not).
   */
  hubNow?: string;
}

interface ScopeRecord extends CacheScope {
  usedAt: string;
  identities: AssignmentEntries;
}

interface CacheFile {
  schema: typeof SCHEMA;
  scopes: ScopeRecord[];
}

/** The scope of a target's assignments; undefined for a target without DPS (mqtt). */
export function cacheScopeOf(target: Target): CacheScope | undefined {
  if (target.kind === 'mqtt' || target.dps === undefined) return undefined;
  const { host, port, idScope } = target.dps;
  if (target.kind === 'emulator') {
    return { target: 'emulator', idScope, hubNow: port === 8883 ? host : `${host}:${port}` };
  }
  return { target: `${host.toLowerCase()}:${port}`, idScope };
}

/** The payloads' equality as IoT Central would read them: the same fields with the same values. */
export function samePayload(a: RegisterPayload | undefined, b: RegisterPayload | undefined): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([x], [y]) => x.localeCompare(y));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/** The assignments of one scope, read from the state directory and written back with the run's changes. */
export class AssignmentCache {
  /** Changes not written yet: a write applies them to what the file holds then (other runs may share the file). */
  private pending: AssignmentChanges = {};
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly scope: CacheScope,
    private readonly entries: AssignmentEntries,
    private readonly warn: (line: string) => void,
  ) {}

  /**
   * Reads `stateDir/assignments.json` for `scope`. `ignore` (--reprovision): starts empty, every identity registers
   * through DPS; what it is assigned is still written for the next run. A file that cannot be read is a warning.
   */
  static async open(
    stateDir: string,
    scope: CacheScope,
    options: { ignore?: boolean; warn?: (line: string) => void } = {},
  ): Promise<AssignmentCache> {
    const warn = options.warn ?? (() => {});
    const file = join(stateDir, ASSIGNMENTS_FILE);
    const kept = options.ignore === true ? undefined : await readCacheFile(file, warn);
    const record = kept?.scopes.find((s) => sameScope(s, scope));
    return new AssignmentCache(file, scope, { ...(record?.identities ?? {}) }, warn);
  }

  get size(): number {
    return Object.keys(this.entries).length;
  }

  /** The entries of these registration ids (a worker's share). */
  entriesFor(ids: Iterable<string>): AssignmentEntries {
    const out: AssignmentEntries = {};
    for (const id of ids) {
      const entry = this.entries[id];
      if (!isAssignment(entry)) continue;
      out[id] = this.scope.hubNow === undefined ? entry : { ...entry, assignedHub: this.scope.hubNow };
    }
    return out;
  }

  apply(changes: AssignmentChanges): void {
    for (const [id, entry] of Object.entries(changes)) {
      if (entry === null) delete this.entries[id];
      else this.entries[id] = entry;
      this.pending[id] = entry;
      this.dirty = true;
    }
  }

  /** Writes the file when something changed since the last write (one write at a time); a failure is a warning. */
  save(): Promise<void> {
    if (!this.dirty) return this.writing;
    this.dirty = false;
    const changes = this.pending;
    this.pending = {};
    this.writing = this.writing
      .then(() => this.write(changes))
      .catch((err: Error) => {
        this.warn(
          `could not write the assignment cache ${this.file}: ${err.message} ` + '(the next run registers through DPS)',
        );
      });
    return this.writing;
  }

  private async write(changes: AssignmentChanges): Promise<void> {
    // What the file holds now, with this run's changes: other runs' scopes and identities stay as they wrote them.
    const current = await readCacheFile(this.file, () => {});
    const others = (current?.scopes ?? []).filter((s) => !sameScope(s, this.scope));
    const before = current?.scopes.find((s) => sameScope(s, this.scope));
    const identities: AssignmentEntries = { ...(before?.identities ?? {}) };
    for (const [id, entry] of Object.entries(changes)) {
      if (entry === null) delete identities[id];
      else identities[id] = entry;
    }
    const mine: ScopeRecord = {
      target: this.scope.target,
      idScope: this.scope.idScope,
      usedAt: new Date().toISOString(),
      identities,
    };
    const scopes = [mine, ...others.sort((a, b) => b.usedAt.localeCompare(a.usedAt))].slice(0, TARGETS_KEPT);
    const body: CacheFile = { schema: SCHEMA, scopes };
    await mkdir(join(this.file, '..'), { recursive: true });
    const temporary = `${this.file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    await writeFile(temporary, `${JSON.stringify(body)}\n`);
    await rename(temporary, this.file);
  }
}

const sameScope = (a: CacheScope, b: CacheScope) => a.target === b.target && a.idScope === b.idScope;

async function readCacheFile(file: string, warn: (line: string) => void): Promise<CacheFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const why = (err as Error).message;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn(`could not read the assignment cache ${file}: ${why}`);
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<CacheFile>;
    if (parsed.schema !== SCHEMA || !Array.isArray(parsed.scopes)) throw new Error(`expected "schema": "${SCHEMA}"`);
    return { schema: SCHEMA, scopes: parsed.scopes.filter(isScopeRecord) };
  } catch (err) {
    warn(
      `the assignment cache ${file} is not one this version reads (${(err as Error).message}): ` +
        'every identity registers through DPS, and the file is rewritten',
    );
    return undefined;
  }
}

function isAssignment(a: unknown): a is CachedAssignment {
  const r = a as Partial<CachedAssignment> | undefined;
  const text = (v: unknown) => typeof v === 'string' && v.length > 0;
  return text(r?.assignedHub) && text(r?.deviceId);
}

function isScopeRecord(s: unknown): s is ScopeRecord {
  const r = s as Partial<ScopeRecord>;
  return (
    typeof r?.target === 'string' &&
    typeof r.idScope === 'string' &&
    typeof r.usedAt === 'string' &&
    typeof r.identities === 'object' &&
    r.identities !== null
  );
}
