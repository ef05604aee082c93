// The emulator's database file: SQLite in WAL mode, one table per kind of thing it knows, readable with the
// sqlite3 shell. Opening it checks that it is one of ours, of this schema version, and readable; anything else is
// an EmulatorStateError naming the file and what to do, never a silent fresh start over someone's data.
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';

/** The database file in the state directory (with `-wal` and `-shm` beside it while open). */
export const DATABASE_FILE = 'emulator.db';

/** Bumped whenever a table changes; a file of another version is refused, never guessed at. */
export const SCHEMA_VERSION = 2;

/** `PRAGMA application_id` of an edgefleet emulator database ("EFLT"): tells ours from other SQLite files. */
const APPLICATION_ID = 0x45464c54;

/** `normal`: a commit survives the process being killed; `full`: it also survives a power loss (fsync per commit). */
export type SyncMode = 'normal' | 'full';

/** The state directory cannot be used as it is; the message names the file and what to do. */
export class EmulatorStateError extends Error {}

const TABLES = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE devices (
  id TEXT PRIMARY KEY, display_name TEXT NOT NULL, iot_edge INTEGER NOT NULL, enabled INTEGER NOT NULL,
  simulated INTEGER NOT NULL, provisioned INTEGER NOT NULL, model_id TEXT, gateway_id TEXT, gateway_module_id TEXT,
  auth_type TEXT NOT NULL, primary_key TEXT, secondary_key TEXT, generation_id TEXT NOT NULL, created_at TEXT NOT NULL,
  etag TEXT NOT NULL, deployment_manifest_id TEXT, status_reason TEXT);
CREATE TABLE modules (
  device_id TEXT NOT NULL, module_id TEXT NOT NULL, generation_id TEXT NOT NULL, managed_by TEXT,
  auth_type TEXT NOT NULL, primary_key TEXT, secondary_key TEXT, created_at TEXT NOT NULL, etag TEXT NOT NULL,
  PRIMARY KEY (device_id, module_id));
CREATE TABLE twins (
  device_id TEXT NOT NULL, module_id TEXT NOT NULL, desired TEXT NOT NULL, desired_version INTEGER NOT NULL,
  desired_updated TEXT NOT NULL, reported TEXT NOT NULL, reported_version INTEGER NOT NULL,
  reported_updated TEXT NOT NULL, tags TEXT NOT NULL, tags_version INTEGER NOT NULL,
  PRIMARY KEY (device_id, module_id));
CREATE TABLE last_values (
  device_id TEXT NOT NULL, module_id TEXT NOT NULL, component TEXT NOT NULL, name TEXT NOT NULL,
  timestamp TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (device_id, module_id, component, name));
CREATE TABLE identity_stats (
  identity TEXT PRIMARY KEY, messages_received INTEGER NOT NULL, bytes_received INTEGER NOT NULL,
  connects INTEGER NOT NULL, disconnects INTEGER NOT NULL, twin_gets INTEGER NOT NULL, twin_patches INTEGER NOT NULL,
  desired_patches_sent INTEGER NOT NULL, method_calls INTEGER NOT NULL, method_responses INTEGER NOT NULL,
  c2d_sent INTEGER NOT NULL, c2d_completed INTEGER NOT NULL);
CREATE TABLE totals (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE c2d_messages (
  device_id TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL, properties TEXT NOT NULL,
  PRIMARY KEY (device_id, seq));
CREATE TABLE manifests (
  id TEXT PRIMARY KEY, display_name TEXT NOT NULL, data TEXT NOT NULL, etag TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE command_history (command_key TEXT PRIMARY KEY, device_id TEXT NOT NULL, records TEXT NOT NULL);
CREATE INDEX command_history_device ON command_history (device_id);
CREATE TABLE relationship_ids (
  source TEXT NOT NULL, target TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (source, target));
CREATE INDEX relationship_ids_target ON relationship_ids (target);
CREATE TABLE dps_registrations (
  registration_id TEXT PRIMARY KEY, enrollment TEXT NOT NULL, model_id TEXT, gateway_id TEXT, gateway_module_id TEXT,
  device_id TEXT NOT NULL, assigned_hub TEXT NOT NULL, substatus TEXT NOT NULL, created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL);
`;

const AWAY = 'move it (with its -wal and -shm files) away to start with an empty cloud';

/** Why SQLite refused the file, in words a user can act on. */
function unreadable(path: string, err: unknown): EmulatorStateError {
  const code = (err as { code?: string }).code ?? '';
  const message = (err as Error).message;
  if (/^SQLITE_(NOTADB|CORRUPT)/.test(code)) {
    return new EmulatorStateError(
      `${path} is damaged or not a database (${message}): ${AWAY}, ` +
        'or put back a copy made while the emulator was stopped',
    );
  }
  return new EmulatorStateError(
    `cannot use ${path}: ${message} (${code || 'error'}); check the file and its directory ` +
      `(permissions, free space), or ${AWAY}`,
  );
}

/** Refuses a file that is not an edgefleet emulator database of this schema version. */
function checkVersion(db: Database.Database, path: string): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (applicationId !== APPLICATION_ID) {
    throw new EmulatorStateError(`${path} is a SQLite file, but not an edgefleet emulator database: ${AWAY}`);
  }
  const schemas = `database schema ${version}; this one reads ${SCHEMA_VERSION}`;
  if (version > SCHEMA_VERSION) {
    throw new EmulatorStateError(
      `${path} was written by a newer edgefleet (${schemas}): run the version that wrote ` + `it, or ${AWAY}`,
    );
  }
  if (version < SCHEMA_VERSION && !Object.hasOwn(UPGRADES, version)) {
    throw new EmulatorStateError(
      `${path} was written by an older edgefleet (${schemas}) and cannot be converted: ` +
        `run the version that wrote it, or ${AWAY}`,
    );
  }
  const problems = (db.pragma('quick_check') as { quick_check: string }[]).map((r) => r.quick_check);
  if (problems.length !== 1 || problems[0] !== 'ok') {
    const found = problems
      .flatMap((p) => p.split('\n'))
      .filter((l) => !l.startsWith('***'))
      .slice(0, 3)
      .join('; ');
    throw new EmulatorStateError(`${path} is damaged (${found}): ${AWAY}`);
  }
}

/**
 * What brings a database of an earlier schema to the next one, per version; each keeps everything recorded. 1 → 2:
 * the hub service API's device status reason and twin tags.
 */
const UPGRADES: Record<number, string> = {
  1: `ALTER TABLE devices ADD COLUMN status_reason TEXT;
ALTER TABLE twins ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
ALTER TABLE twins ADD COLUMN tags_version INTEGER NOT NULL DEFAULT 0;`,
};

/** Brings a database of an earlier schema (checked: one UPGRADES knows) to SCHEMA_VERSION, in one transaction. */
function upgrade(db: Database.Database): void {
  let version = db.pragma('user_version', { simple: true }) as number;
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    while (version < SCHEMA_VERSION) {
      db.exec(UPGRADES[version] as string);
      version += 1;
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

function createTables(db: Database.Database, now: string): void {
  db.transaction(() => {
    db.exec(TABLES);
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('countingSince', now);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/**
 * Opens (or creates) the database at `path`: WAL, `synchronous` as asked. A missing or empty file becomes a new
 * database; anything else must be ours, of this version, and pass SQLite's quick check.
 */
export function openDatabase(path: string, sync: SyncMode): Database.Database {
  const existed = existsSync(path) && statSync(path).size > 0;
  let db: Database.Database;
  try {
    // Owner-only, like the keys beside it (it holds device keys); SQLite gives its -wal and -shm the same mode.
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    // Only the emulator writes; a sqlite3 shell that holds the write lock delays a commit 200 ms at most, then the
    // commit is tried again later (its acknowledgements wait), rather than the whole emulator waiting for it.
    db = new Database(path, { timeout: 200 });
  } catch (err) {
    throw unreadable(path, err);
  }
  try {
    if (existed) checkVersion(db, path);
    if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') {
      throw new EmulatorStateError(`${path}: SQLite cannot use write-ahead logging here (a network file system?)`);
    }
    db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    if (!existed) createTables(db, new Date().toISOString());
    else upgrade(db);
    return db;
  } catch (err) {
    db.close();
    throw err instanceof EmulatorStateError ? err : unreadable(path, err);
  }
}
