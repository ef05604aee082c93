import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/metrics/log.js';
import { redactDeep, redactText } from '../../src/metrics/redact.js';
import { deriveDeviceKey } from '../../src/protocol/sas.js';

const dir = mkdtempSync(join(tmpdir(), 'edgefleet-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Shapes of real credentials (values made up here).
const GROUP_KEY = Buffer.alloc(32, 7).toString('base64'); // 44 chars ending "="
const DEVICE_KEY = deriveDeviceKey(GROUP_KEY, 'run-t-001');
const LONG_KEY = Buffer.alloc(64, 9).toString('base64'); // 88 chars ending "=="
const SIG = 'q7XyZ%2Bab%2Fcd12345%3D';
const SAS = `SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Frun-t-001&sig=${SIG}&se=1700000000`;
const PEM =
  '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIDeadBeefDeadBeefDeadBeefDeadBeefDeadBeefoAoGCCqGSM49\n-----END EC PRIVATE KEY-----';
const BASIC = Buffer.from('operator:hunter2-password').toString('base64');

const SECRET_TEXTS: Array<[string, string, string[]]> = [
  ['SAS token', `CONNECT refused for ${SAS}`, [SIG, 'q7XyZ']],
  ['URL-encoded SAS token', `GET /x?authorization=SharedAccessSignature%20sr%3Dhub%26sig%3D${SIG}%26se%3D1`, ['q7XyZ']],
  ['encoded sig alone', `query sig%3Dq7XyZ%2Bab%26se%3D1`, ['q7XyZ']],
  ['connection string', `HostName=h.azure-devices.net;DeviceId=run-t-001;SharedAccessKey=${DEVICE_KEY}`, [DEVICE_KEY]],
  ['private key block', `loaded ${PEM} ok`, ['MHcCAQEEIDeadBeef']],
  [
    'JSON key field',
    `{"idScope":"0ne00","primaryKey":"${GROUP_KEY}","secondaryKey":"${LONG_KEY}"}`,
    [GROUP_KEY, LONG_KEY],
  ],
  ['YAML key field', `groupKeys:\n  devices:\n    primaryKey: ${GROUP_KEY}`, [GROUP_KEY]],
  ['inspect key field', `{ deviceKey: '${DEVICE_KEY}', apiToken: 'abc.def-ghi' }`, [DEVICE_KEY, 'abc.def-ghi']],
  ['Authorization Basic', `Authorization: Basic ${BASIC}`, [BASIC]],
  ['Authorization raw SAS', `headers {"authorization":"${SAS}"}`, [SIG, 'q7XyZ']],
  ['Authorization raw token', `authorization=abcdef0123456789`, ['abcdef0123456789']],
  ['Bearer', 'Bearer eyJhbGciOi.eyJzdWIi.sIgNaTuRe', ['eyJhbGciOi']],
  ['bare 32-byte key', `derived ${DEVICE_KEY} for run-t-001`, [DEVICE_KEY]],
  ['bare 64-byte key', `key ${LONG_KEY}.`, [LONG_KEY]],
  ['password field', `password: 'hunter2-secret'`, ['hunter2-secret']],
];

describe('redactText', () => {
  it.each(SECRET_TEXTS)('scrubs a %s', (_kind, text, secrets) => {
    const out = redactText(text);
    for (const s of secrets) expect(out, out).not.toContain(s);
    expect(out).toContain('redacted');
    expect(redactText(out)).toBe(out);
  });

  it('leaves ordinary lines alone', () => {
    for (const line of [
      'worker 0: dropped 3 connections',
      'run-t-001 gave up: CONNACK 5 not authorized',
      'key=temperature value=21.5',
      'telemetry p99 was 12.5 ms; tokens renewed: 30',
      'https://localhost:8443/api/devices/run-t-001?api-version=2022-07-31',
      'sha256 abc123 short base64 AAAA= and a long hex 0123456789abcdef0123456789abcdef0123456789abcdef',
    ]) {
      expect(redactText(line)).toBe(line);
    }
  });

  it('redactDeep drops values under secret names, keeps numbers, scrubs strings and errors', () => {
    const out = redactDeep({
      deviceId: 'run-t-001',
      deviceKey: DEVICE_KEY,
      tokenTtlSeconds: 3600,
      nested: { password: 'p4ss', note: `sig=${SIG}` },
      list: [SAS],
      err: new Error(`refused: ${SAS}`),
    }) as Record<string, any>;
    const text = JSON.stringify(out);
    for (const s of [DEVICE_KEY, 'p4ss', 'q7XyZ']) expect(text).not.toContain(s);
    expect(out.deviceId).toBe('run-t-001');
    expect(out.deviceKey).toBe('[redacted]');
    expect(out.tokenTtlSeconds).toBe(3600);
    expect(out.err.message).toBe('refused: SharedAccessSignature [redacted]');
  });
});

function capture() {
  const lines: string[] = [];
  return { lines, stderr: { write: (s: string) => void lines.push(s) } };
}

describe('createLogger', () => {
  it('writes human lines at or above its level', () => {
    const c = capture();
    const log = createLogger({ level: 'warn', stderr: c.stderr });
    log.debug('d');
    log.info('i');
    log.warn('w', { device: 'run-t-001', count: 2, why: 'a b' });
    log.error('e\nsecond line');
    log.log('warn', 'via log');
    expect(c.lines).toEqual([
      '[warn] w device=run-t-001 count=2 why="a b"\n',
      '[error] e\n    second line\n',
      '[warn] via log\n',
    ]);
    expect(log.enabled('info')).toBe(false);
    expect(log.enabled('error')).toBe(true);
    expect(log.level).toBe('warn');
  });

  it('writes JSON lines to --log-file, with its own level, created private', () => {
    const file = join(dir, 'nested', 'run.log');
    const c = capture();
    const now = new Date('2026-11-26T21:40:05.123Z');
    const log = createLogger({ level: 'error', file, fileLevel: 'debug', stderr: c.stderr, now: () => now });
    expect(log.level).toBe('debug'); // what workers must send
    log.debug('connecting', { deviceId: 'run-t-001' });
    log.child({ worker: 2 }).info('dropped', { n: 3 });
    log.error('boom');
    log.close();
    log.error('after close'); // stderr only
    const records = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toEqual([
      { t: '2026-11-26T21:40:05.123Z', level: 'debug', msg: 'connecting', deviceId: 'run-t-001' },
      { t: '2026-11-26T21:40:05.123Z', level: 'info', msg: 'dropped', worker: 2, n: 3 },
      { t: '2026-11-26T21:40:05.123Z', level: 'error', msg: 'boom' },
    ]);
    expect(c.lines).toEqual(['[error] boom\n', '[error] after close\n']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('a field cannot overwrite t, level or msg', () => {
    const file = join(dir, 'fields.log');
    const log = createLogger({ level: 'info', file, stderr: null });
    log.info('real', { t: 'fake', level: 'error', msg: 'fake' });
    log.close();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ level: 'info', msg: 'real' });
  });

  it('scrubs every secret form from both the console and the file', () => {
    const file = join(dir, 'secrets.log');
    const c = capture();
    const log = createLogger({ level: 'debug', file, stderr: c.stderr });
    for (const [kind, text] of SECRET_TEXTS)
      log.warn(`${kind}: ${text}`, { detail: text, groupKey: GROUP_KEY, err: new Error(text) });
    log.close();
    const outputs = { console: c.lines.join(''), file: readFileSync(file, 'utf8') };
    for (const [where, out] of Object.entries(outputs)) {
      for (const [kind, , secrets] of SECRET_TEXTS) {
        for (const s of secrets) expect(out.includes(s), `${kind} leaked into the ${where}: ${s}`).toBe(false);
      }
      expect(out).not.toMatch(/PRIVATE KEY-----/);
      expect(out).not.toMatch(/SharedAccessSignature sr=/);
    }
    // Still JSON, one record per line.
    for (const line of outputs.file.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});
