// One emulator per state directory: the holder keeps a write lock on `emulator.lock` (a small SQLite file) for as
// long as it runs. The operating system drops the lock when the process ends, even by kill -9, so a stale lock
// cannot exist; the holder's pid, host and start time are in the file for the message a second emulator gives.
import { closeSync, existsSync, openSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EmulatorStateError } from './store-schema.js';

export const LOCK_FILE = 'emulator.lock';

export interface StateLock {
  release(): void;
}

interface Holder {
  pid: number;
  host: string;
  since: string;
}

const isBusy = (err: unknown) => /^SQLITE_BUSY/.test((err as { code?: string }).code ?? '');

function inUse(dir: string, holder: Holder | undefined): EmulatorStateError {
  const where = holder === undefined || holder.host === hostname() ? '' : ` on ${holder.host}`;
  const who =
    holder === undefined ? 'another emulator' : `the emulator with pid ${holder.pid}${where} (since ${holder.since})`;
  return new EmulatorStateError(
    `the state directory ${dir} is in use by ${who}: stop it first, or give this one ` +
      'another --state-dir (or --ephemeral to keep nothing)',
  );
}

function readHolder(db: Database.Database): Holder | undefined {
  try {
    return db.prepare('SELECT pid, host, since FROM holder').get() as Holder | undefined;
  } catch {
    return undefined;
  }
}

/** Takes the state directory's lock, or throws an EmulatorStateError saying who holds it. */
export function lockStateDir(dir: string): StateLock {
  const path = join(dir, LOCK_FILE);
  let db: Database.Database;
  try {
    // Waits a little for a holder that is writing its own row, never for one that runs.
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    db = new Database(path, { timeout: 1000 });
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, host TEXT NOT NULL, since TEXT NOT NULL)');
  } catch (err) {
    if (isBusy(err)) throw inUse(dir, undefined);
    throw new EmulatorStateError(
      `cannot use ${path}: ${(err as Error).message}; it holds nothing but the lock: ` +
        `check the directory's permissions, or remove the file if no emulator runs on ${dir}`,
    );
  }
  const take = () => {
    db.pragma('busy_timeout = 0');
    db.exec('BEGIN IMMEDIATE');
  };
  try {
    take();
    db.prepare('DELETE FROM holder').run();
    db.prepare('INSERT INTO holder (pid, host, since) VALUES (?, ?, ?)').run(
      process.pid,
      hostname(),
      new Date().toISOString(),
    );
    db.exec('COMMIT');
    // Held from here until release: a transaction that writes nothing keeps the write lock and lets others read.
    take();
  } catch (err) {
    db.pragma('busy_timeout = 1000');
    const holder = readHolder(db);
    db.close();
    if (isBusy(err)) throw inUse(dir, holder);
    throw new EmulatorStateError(`cannot lock ${path}: ${(err as Error).message}`);
  }
  return { release: () => db.close() };
}
