// What the emulator does with a state directory it cannot use as it is: one in use by another emulator, a damaged
// database, one written by another version, one made before the database existed; and --ephemeral, which keeps
// nothing. A refusal is a clear message naming the file and what to do, exit code 2, never a stack trace and
// never a silent fresh start.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EmulatorStateError, startEmulator } from '../../src/emulator/index.js';
import { isolatedStateDir, TEST_STATE_DIR } from '../support/emulator.js';
import { restCall, startChildEmulator, type ChildEmulator } from './abuse-kit.js';
import { emulatorUntilExit } from './durable-kit.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function stateDir(): string {
  const state = isolatedStateDir();
  cleanup.push(() => state.remove());
  return state.dir;
}

async function child(args: string[]): Promise<ChildEmulator> {
  const emu = await startChildEmulator(args);
  cleanup.push(() => emu.stop());
  return emu;
}

/** A database the emulator wrote and closed, with one device in it. */
async function writtenDatabase(dir: string): Promise<string> {
  const emu = await startChildEmulator(['--state-dir', dir]);
  expect((await restCall(emu.info, 'PUT', '/api/devices/kept', {})).status).toBe(200);
  expect(await emu.kill('SIGTERM')).toBe(0);
  return join(dir, 'emulator.db');
}

const noStackTrace = (output: string) => expect(output).not.toMatch(/^\s+at /m);

describe('one emulator per state directory', () => {
  it('refuses a second emulator, naming the directory and the pid that holds it', async () => {
    const dir = stateDir();
    const first = await child(['--state-dir', dir]);
    const second = await emulatorUntilExit(['--state-dir', dir]);
    expect(second.code).toBe(2);
    expect(second.output).toContain(`the state directory ${dir} is in use by the emulator with pid ${first.pid}`);
    noStackTrace(second.output);
    expect(first.alive()).toBe(true);
    expect((await restCall(first.info, 'GET', '/api/devices')).status).toBe(200);
  });

  it('refuses in-process too, and lets the directory go when the first one closes', async () => {
    const dir = stateDir();
    const first = await startEmulator({ stateDir: dir, mqttPort: 0, httpPort: 0 });
    const refused = await startEmulator({ stateDir: dir, mqttPort: 0, httpPort: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(EmulatorStateError);
    expect((refused as Error).message).toContain(`in use by the emulator with pid ${process.pid}`);
    await first.close();
    const next = await startEmulator({ stateDir: dir, mqttPort: 0, httpPort: 0 });
    await next.close();
  });
});

describe('a database the emulator cannot use', () => {
  it('refuses a damaged file: exit 2, the file named, what to do', async () => {
    const dir = stateDir();
    const path = join(dir, 'emulator.db');
    writeFileSync(path, Buffer.alloc(8192, 'not a database '));
    const r = await emulatorUntilExit(['--state-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.output).toContain(`${path} is damaged or not a database`);
    expect(r.output).toContain('move it (with its -wal and -shm files) away to start with an empty cloud');
    noStackTrace(r.output);
    expect(readFileSync(path).subarray(0, 15).toString()).toBe('not a database ');
  });

  it('refuses a database whose pages were overwritten', async () => {
    const dir = stateDir();
    const path = await writtenDatabase(dir);
    const bytes = readFileSync(path);
    // The page after the header page: where SQLite keeps the first table.
    bytes.fill(0xa5, 4096, 8192);
    writeFileSync(path, bytes);
    const r = await emulatorUntilExit(['--state-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.output).toContain(path);
    expect(r.output).toMatch(/damaged|could not be read back/);
    noStackTrace(r.output);
  });

  it('refuses a SQLite file of another program', async () => {
    const dir = stateDir();
    const other = new Database(join(dir, 'emulator.db'));
    other.exec('CREATE TABLE notes (text TEXT)');
    other.close();
    const r = await emulatorUntilExit(['--state-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.output).toContain('is a SQLite file, but not an edgefleet emulator database');
  });

  it('refuses a database of a newer or an older schema, naming both versions, and leaves it as it was', async () => {
    const dir = stateDir();
    const path = await writtenDatabase(dir);
    for (const [version, says] of [
      [3, 'written by a newer edgefleet (database schema 3; this one reads 2)'],
      [0, 'written by an older edgefleet (database schema 0; this one reads 2)'],
    ] as const) {
      const db = new Database(path);
      db.pragma(`user_version = ${version}`);
      db.close();
      const r = await emulatorUntilExit(['--state-dir', dir]);
      expect(r.code, r.output).toBe(2);
      expect(r.output).toContain(`${path} was ${says}`);
      expect(r.output).toContain('run the version that wrote it');
      noStackTrace(r.output);
    }
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT id FROM devices').all()).toEqual([{ id: 'kept' }]);
    db.close();
  });
});

describe('a database of schema 1', () => {
  it('is upgraded in place: its devices are kept and take twin tags from then on', async () => {
    const dir = stateDir();
    const path = await writtenDatabase(dir);
    const db = new Database(path);
    db.exec('ALTER TABLE devices DROP COLUMN status_reason; ALTER TABLE twins DROP COLUMN tags;');
    db.exec('ALTER TABLE twins DROP COLUMN tags_version;');
    db.pragma('user_version = 1');
    db.close();
    const running = await child(['--state-dir', dir]);
    expect((await restCall(running.info, 'GET', '/api/devices/kept')).status).toBe(200);
    expect(await running.kill('SIGTERM')).toBe(0);
    const after = new Database(path, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(2);
    expect(after.prepare('SELECT tags FROM twins WHERE device_id = ?').get('kept')).toEqual({ tags: '{}' });
    after.close();
  });
});

describe('a secrets.json without the service policies', () => {
  it('gets their keys added, keeps everything else, and the owner connection string uses them', async () => {
    const dir = stateDir();
    const path = join(dir, 'secrets.json');
    const before = JSON.parse(readFileSync(path, 'utf8'));
    delete before.servicePolicies;
    writeFileSync(path, JSON.stringify(before));
    const emu = await startEmulator({ stateDir: dir, ephemeral: true, mqttPort: 0, httpPort: 0, hubHttpsPort: 0 });
    cleanup.push(() => emu.close());
    const after = JSON.parse(readFileSync(path, 'utf8'));
    const { servicePolicies, ...rest } = after;
    expect(rest).toEqual(before);
    for (const policy of ['iothubowner', 'service', 'device', 'registryRead', 'registryReadWrite', 'serviceConnect']) {
      expect(Buffer.from(servicePolicies[policy].primaryKey, 'base64')).toHaveLength(32);
      expect(servicePolicies[policy].secondaryKey).not.toBe(servicePolicies[policy].primaryKey);
    }
    expect(emu.info.serviceConnectionString).toBe(
      `HostName=localhost:${emu.info.hubHttpsPort};SharedAccessKeyName=iothubowner;` +
        `SharedAccessKey=${servicePolicies.iothubowner.primaryKey}`,
    );
  });
});

describe('--sync full', () => {
  it('records what it acknowledges as the default does: the device is there after kill -9', async () => {
    const dir = stateDir();
    const first = await startChildEmulator(['--state-dir', dir, '--sync', 'full']);
    expect((await restCall(first.info, 'PUT', '/api/devices/synced', { displayName: 'fsynced' })).status).toBe(200);
    expect(await first.kill('SIGKILL')).toBe('SIGKILL');
    const second = await child(['--state-dir', dir, '--sync', 'full']);
    expect((await restCall(second.info, 'GET', '/api/devices/synced')).json).toMatchObject({ displayName: 'fsynced' });
  });

  it('refuses a --sync it does not know', async () => {
    const r = await emulatorUntilExit(['--state-dir', stateDir(), '--sync', 'always']);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/sync.*Choices: "normal", "full"/s);
  });
});

describe('state directories without a database', () => {
  it('starts on one made before the database existed: same ID scope and keys, a new database', async () => {
    const dir = stateDir();
    expect(existsSync(join(dir, 'emulator.db'))).toBe(false);
    const emu = await child(['--state-dir', dir]);
    const secrets = JSON.parse(readFileSync(join(TEST_STATE_DIR, 'secrets.json'), 'utf8'));
    expect(emu.info.idScope).toBe(secrets.idScope);
    expect(emu.info.enrollmentGroups).toEqual(secrets.enrollmentGroups);
    expect(emu.info.databasePath).toBe(join(dir, 'emulator.db'));
    expect(existsSync(join(dir, 'emulator.db'))).toBe(true);
  });

  it('with --ephemeral keeps nothing: no database, and a restart starts empty', async () => {
    const dir = stateDir();
    const first = await startChildEmulator(['--state-dir', dir, '--ephemeral']);
    expect(first.info.databasePath).toBeUndefined();
    expect((await restCall(first.info, 'PUT', '/api/devices/forgotten', {})).status).toBe(200);
    expect(await first.kill('SIGTERM')).toBe(0);
    expect(existsSync(join(dir, 'emulator.db'))).toBe(false);
    const second = await child(['--state-dir', dir, '--ephemeral']);
    expect((await restCall(second.info, 'GET', '/api/devices/forgotten')).status).toBe(404);
  });
});
