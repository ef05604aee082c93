// The emulator's durable state: everything it knows, in one SQLite database in its state directory. What it keeps in
// memory stays its working set (loaded at start); every change is written through in group commits: the changes
// of a few milliseconds go in one transaction, each thing once however often it changed, and whatever acknowledges
// a change (a PUBACK, a twin answer, a DPS assignment, a REST answer) waits for that commit.
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Journal, TotalsChange } from './journal.js';
import { lockStateDir, type StateLock } from './state-lock.js';
import { DATABASE_FILE, EmulatorStateError, openDatabase, type SyncMode } from './store-schema.js';
import { loadAll, TableWriter, type StoreParts } from './store-tables.js';

/** How long changes gather before they are committed together: the most an acknowledgement waits for it. */
export const GROUP_COMMIT_MS = 4;
/** Changes that make a commit happen at once rather than at the end of GROUP_COMMIT_MS. */
const EARLY_COMMIT_CHANGES = 4096;
/** The latency histogram is recorded at most this often (encoding it costs more than a batch of counts). */
const LATENCY_EVERY_MS = 1000;
/** After a failed commit, how long until it is tried again (its acknowledgements wait meanwhile). */
const RETRY_MS = 1000;

const add = <K, V>(map: Map<K, Set<V>>, key: K, value: V) => {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(value);
};

/** What changed since the last commit, each thing once. */
class Changes {
  readonly devices = new Set<string>();
  readonly deletedDevices = new Set<string>();
  readonly deletedModules = new Map<string, Set<string>>();
  /** Per device: module ids, `''` for the device's own twin. */
  readonly twins = new Map<string, Set<string>>();
  readonly lastValues = new Map<string, Set<string>>();
  readonly identityStats = new Set<string>();
  counters = false;
  readonly c2d = new Set<string>();
  readonly manifests = new Set<string>();
  readonly commandHistory = new Map<string, string>();
  readonly relationshipIds = new Map<string, Set<string>>();
  readonly dpsRegistrations = new Set<string>();
  /** How many changes were told (repeats included): a big batch is committed early. */
  told = 0;
}

export interface StoreOptions {
  sync: SyncMode;
  log: (line: string) => void;
}

export class Store implements Journal {
  readonly path: string;
  private changes = new Changes();
  private waiting: (() => void)[] = [];
  /** Callbacks being run after a commit; ones added meanwhile with nothing to wait for go to its end, in order. */
  private releasing: (() => void)[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private early = false;
  /** A commit failed: the next try is on the retry timer, not early. */
  private failing = false;
  private latencyChanged = false;
  private latencyWrittenAt = 0;
  private readonly latencyTimer: NodeJS.Timeout;
  private writer: TableWriter | undefined;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly lock: StateLock,
    private readonly opts: StoreOptions,
    dir: string,
  ) {
    this.path = join(dir, DATABASE_FILE);
    this.latencyTimer = setInterval(() => {
      if (this.latencyChanged) this.schedule();
    }, LATENCY_EVERY_MS);
    this.latencyTimer.unref();
  }

  /** Locks the state directory and opens its database (created when missing); throws EmulatorStateError. */
  static open(dir: string, opts: StoreOptions): Store {
    const lock = lockStateDir(dir);
    try {
      return new Store(openDatabase(join(dir, DATABASE_FILE), opts.sync), lock, opts, dir);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** Puts what is recorded back into `parts` (which tell this store of their changes from then on). */
  load(parts: StoreParts): void {
    try {
      this.db.transaction(() => loadAll(this.db, parts))();
    } catch (err) {
      throw new EmulatorStateError(
        `${this.path} could not be read back (${(err as Error).message}): move it (with its ` +
          '-wal and -shm files) away to start with an empty cloud, or run the version that wrote it',
      );
    }
    this.writer = new TableWriter(this.db, parts);
  }

  // ---- Journal ----

  device(deviceId: string): void {
    this.changes.devices.add(deviceId);
    this.told();
  }

  deviceDeleted(deviceId: string): void {
    this.changes.deletedDevices.add(deviceId);
    this.told();
  }

  moduleDeleted(deviceId: string, moduleId: string): void {
    add(this.changes.deletedModules, deviceId, moduleId);
    this.told();
  }

  twin(deviceId: string, moduleId: string | undefined): void {
    add(this.changes.twins, deviceId, moduleId ?? '');
    this.told();
  }

  lastValue(deviceId: string, key: string): void {
    add(this.changes.lastValues, deviceId, key);
    this.told();
  }

  identityStats(identity: string): void {
    this.changes.identityStats.add(identity);
    this.told();
  }

  totals(change: TotalsChange): void {
    // The histogram alone waits for its own timer; acknowledgements never wait for it.
    if (change === 'latency') this.latencyChanged = true;
    else {
      this.changes.counters = true;
      this.told();
    }
  }

  c2d(deviceId: string): void {
    this.changes.c2d.add(deviceId);
    this.told();
  }

  manifest(manifestId: string): void {
    this.changes.manifests.add(manifestId);
    this.told();
  }

  commandHistory(deviceId: string, key: string): void {
    this.changes.commandHistory.set(key, deviceId);
    this.told();
  }

  relationshipId(source: string, target: string): void {
    add(this.changes.relationshipIds, source, target);
    this.told();
  }

  dpsRegistration(registrationId: string): void {
    this.changes.dpsRegistrations.add(registrationId);
    this.told();
  }

  afterCommit(fn: () => void): void {
    if (this.closed) {
      fn();
    } else if (this.changes.told > 0 || this.waiting.length > 0) {
      this.waiting.push(fn);
      this.schedule();
    } else if (this.releasing !== undefined) {
      this.releasing.push(fn);
    } else {
      fn();
    }
  }

  committed(): Promise<void> {
    return new Promise((resolve) => this.afterCommit(resolve));
  }

  private told(): void {
    this.changes.told += 1;
    if (this.changes.told >= EARLY_COMMIT_CHANGES && !this.early && !this.failing && !this.closed) {
      this.early = true;
      setImmediate(() => this.commit());
    } else {
      this.schedule();
    }
  }

  private schedule(delayMs = GROUP_COMMIT_MS): void {
    if (this.timer === undefined && !this.closed) this.timer = setTimeout(() => this.commit(), delayMs);
  }

  // ---- committing ----

  /** Writes what changed in one transaction, then runs the callbacks that waited for it. */
  private commit(final = false): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.early = false;
    const writer = this.writer;
    if (writer === undefined) return;
    const latency = this.latencyChanged && (final || Date.now() - this.latencyWrittenAt >= LATENCY_EVERY_MS);
    const changes = this.changes;
    if (changes.told === 0 && !latency) return this.release();
    try {
      this.db.transaction(() => write(writer, changes, latency))();
    } catch (err) {
      if (final) throw err;
      const why = (err as Error).message;
      this.opts.log(`could not record changes in ${this.path}, retrying in ${RETRY_MS / 1000} s: ${why}`);
      this.failing = true;
      this.schedule(RETRY_MS);
      return;
    }
    this.failing = false;
    this.changes = new Changes();
    if (latency) {
      this.latencyChanged = false;
      this.latencyWrittenAt = Date.now();
    }
    this.release();
  }

  private release(): void {
    const waiting = this.waiting;
    this.waiting = [];
    this.releasing = waiting;
    for (let i = 0; i < waiting.length; i++) {
      try {
        (waiting[i] as () => void)();
      } catch (err) {
        this.opts.log(`internal error after a commit: ${(err as Error).stack ?? String(err)}`);
      }
    }
    this.releasing = undefined;
  }

  /** Commits what is left (the histogram too), then closes the database and lets go of the state directory. */
  close(): void {
    if (this.closed) return;
    clearInterval(this.latencyTimer);
    try {
      this.commit(true);
    } finally {
      this.closed = true;
      clearTimeout(this.timer);
      this.db.close();
      this.lock.release();
    }
  }
}

/** One batch, deletions first: a device deleted and made again within it starts from nothing. */
function write(w: TableWriter, c: Changes, latency: boolean): void {
  for (const id of c.deletedDevices) w.deleteDevice(id);
  for (const [deviceId, modules] of c.deletedModules) for (const m of modules) w.deleteModule(deviceId, m);
  for (const id of c.devices) w.device(id);
  for (const [deviceId, modules] of c.twins) for (const m of modules) w.twin(deviceId, m);
  for (const [deviceId, keys] of c.lastValues) for (const key of keys) w.lastValue(deviceId, key);
  for (const identity of c.identityStats) w.identityStats(identity);
  if (c.counters || latency) w.totals(latency);
  for (const id of c.c2d) w.c2d(id);
  for (const id of c.manifests) w.manifest(id);
  for (const [key, deviceId] of c.commandHistory) w.commandHistory(deviceId, key);
  for (const [source, targets] of c.relationshipIds) for (const t of targets) w.relationshipId(source, t);
  for (const id of c.dpsRegistrations) w.dpsRegistration(id);
}
