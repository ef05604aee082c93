// No credential reaches the console, the reports or the logs: a real run, as a user starts it, then a scan of
// everything it wrote for the keys it used (group keys, device keys, the API token, SAS tokens, private keys).
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadScenario } from '../../src/config/load.js';
import { planFleet } from '../../src/config/plan.js';
import { deriveDeviceKey } from '../../src/protocol/sas.js';
import { isolatedStateDir, TEST_STATE_DIR } from '../support/emulator.js';

interface Secret {
  kind: string;
  value: string;
}
interface Finding {
  where: string;
  kind: string;
}

/** The forms a value takes when it leaks: as is, URL-encoded, base64url (no padding). */
function variants(value: string): string[] {
  const forms = new Set([
    value,
    encodeURIComponent(value),
    value.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
  ]);
  return [...forms].filter((f) => f.length >= 12);
}

// Credentials of any origin, known or not; the redacted forms ("SharedAccessSignature [redacted]", "sig=[redacted]")
// do not match.
const SHAPES: ReadonlyArray<[string, RegExp]> = [
  ['SAS token', /SharedAccessSignature(?:\s|%20|\+)+sr(?:=|%3D)/i],
  ['SAS signature', /\bsig(?:=|%3D)(?!\[redacted)[A-Za-z0-9%+/_-]{8,}/i],
  ['private key block', /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/],
  ['connection string key', /SharedAccessKey=(?!\[redacted)[^;\s"']{8,}/i],
];

function scanText(text: string, secrets: readonly Secret[]): string[] {
  const kinds = new Set<string>();
  for (const s of secrets) if (variants(s.value).some((v) => text.includes(v))) kinds.add(s.kind);
  for (const [kind, re] of SHAPES) if (re.test(text)) kinds.add(kind);
  return [...kinds];
}

/** Every regular file under dir (symlinks such as reports/latest are not followed: their target is scanned anyway). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

function scanFiles(dir: string, secrets: readonly Secret[]): Finding[] {
  return filesUnder(dir).flatMap((file) =>
    scanText(readFileSync(file, 'utf8'), secrets).map((kind) => ({ where: file, kind })),
  );
}

const report = (findings: readonly Finding[]) => findings.map((f) => `${f.where}: ${f.kind}`).join('\n');

const dir = mkdtempSync(join(tmpdir(), 'edgefleet-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the secret scanner', () => {
  const groupKey = Buffer.alloc(32, 3).toString('base64');
  const deviceKey = deriveDeviceKey(groupKey, 'dev-1');
  const secrets: Secret[] = [
    { kind: 'group key devices.primaryKey', value: groupKey },
    { kind: 'device key dev-1', value: deviceKey },
  ];

  it('finds a key in a file, naming the file and the kind of secret', () => {
    const reports = join(dir, 'fake-reports');
    mkdirSync(join(reports, 'run-1'), { recursive: true });
    writeFileSync(
      join(reports, 'run-1', 'summary.json'),
      JSON.stringify({ errors: { auth: { lastMessage: `bad key ${deviceKey}` } } }),
    );
    writeFileSync(join(reports, 'run-1', 'timeseries.csv'), 'time,connected\n1,2\n');
    const findings = scanFiles(reports, secrets);
    expect(findings).toEqual([{ where: join(reports, 'run-1', 'summary.json'), kind: 'device key dev-1' }]);
  });

  it('finds keys URL-encoded or base64url, and credentials it was not told about', () => {
    expect(scanText(`?key=${encodeURIComponent(groupKey)}`, secrets)).toEqual(['group key devices.primaryKey']);
    expect(scanText(`k=${deviceKey.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`, secrets)).toEqual([
      'device key dev-1',
    ]);
    expect(scanText('password: SharedAccessSignature sr=hub%2Fdevices%2Fd&sig=abcdEFGH1234%3D&se=1', [])).toEqual([
      'SAS token',
      'SAS signature',
    ]);
    expect(scanText('GET /x?sig%3DabcdEFGH1234', [])).toEqual(['SAS signature']);
    expect(scanText('-----BEGIN RSA PRIVATE KEY-----\nMIIE', [])).toEqual(['private key block']);
    expect(scanText('HostName=h;DeviceId=d;SharedAccessKey=abcdefgh1234', [])).toEqual(['connection string key']);
  });

  it('does not flag what redaction leaves', () => {
    const redacted = [
      'SharedAccessSignature [redacted]',
      'sig=[redacted] SharedAccessKey=[redacted]',
      '[redacted private key]',
      'primaryKey: [redacted] [redacted key]',
      'run-t-001 connected in 12 ms',
    ].join('\n');
    expect(scanText(redacted, secrets)).toEqual([]);
  });
});

const CLI = join(process.cwd(), 'dist/cli/main.js');

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Everything the run could leak: what secrets.json holds, device keys derived for the run's ids, the emulator's
 * private keys.
 */
async function secretsOfTheRun(scenarioFile: string): Promise<Secret[]> {
  const stored = JSON.parse(readFileSync(join(TEST_STATE_DIR, 'secrets.json'), 'utf8')) as {
    enrollmentGroups: Record<string, { primaryKey: string; secondaryKey: string }>;
    apiToken: string;
  };
  const out: Secret[] = [{ kind: 'API token', value: stored.apiToken }];
  const apiSig = /sig=([^&]+)/.exec(stored.apiToken)?.[1];
  if (apiSig) out.push({ kind: 'API token signature', value: apiSig });
  const groupKeys: Secret[] = [];
  for (const [group, keys] of Object.entries(stored.enrollmentGroups)) {
    groupKeys.push(
      { kind: `group key ${group}.primaryKey`, value: keys.primaryKey },
      { kind: `group key ${group}.secondaryKey`, value: keys.secondaryKey },
    );
  }
  out.push(...groupKeys);
  const loaded = await loadScenario(scenarioFile, { duration: '6s' });
  const ids = planFleet({
    scenario: loaded.scenario,
    profile: loaded.profile,
    durationMs: loaded.durationMs,
  }).identities.map((i) => i.deviceId);
  expect(ids.length).toBeGreaterThan(0);
  for (const id of ids)
    for (const g of groupKeys)
      out.push({ kind: `device key of ${id} (from ${g.kind})`, value: deriveDeviceKey(g.value, id) });
  for (const file of readdirSync(TEST_STATE_DIR).filter((f) => f.endsWith('-key.pem'))) {
    const body = readFileSync(join(TEST_STATE_DIR, file), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('-----'));
    out.push({ kind: `private key ${file}`, value: body.join('') });
    for (const line of body) if (line.length >= 24) out.push({ kind: `private key ${file}`, value: line });
  }
  return out;
}

describe('a run as a user starts it', () => {
  it(
    'writes no key, token or private key to the console, the report folder or the log file',
    { timeout: 120_000 },
    async () => {
      expect(existsSync(CLI), 'dist/cli/main.js is missing: run "npm run build" (npm test does)').toBe(true);
      const scenario = 'test/fixtures/run-devices.yaml';
      const secrets = await secretsOfTheRun(scenario);
      const reports = join(dir, 'reports');
      const logFile = join(dir, 'logs', 'run.log');
      // A copy of the test state directory: the same keys (those looked for), a database of its own.
      const state = isolatedStateDir();
      const r = await runCli([
        'run',
        scenario,
        '--duration',
        '6s',
        '--reports-dir',
        reports,
        '--state-dir',
        state.dir,
        '--log-level',
        'debug',
        '--log-file',
        logFile,
      ]).finally(() => state.remove());
      expect(r.code, r.stdout + r.stderr).toBe(0);

      // The run did run (an empty report would prove nothing), with the identities whose keys we look for.
      const runs = readdirSync(reports).filter((d) => d !== 'latest');
      expect(runs).toHaveLength(1);
      const summary = JSON.parse(readFileSync(join(reports, runs[0]!, 'summary.json'), 'utf8'));
      expect(summary.operations.provision.count, r.stdout + r.stderr).toBe(30);
      expect(summary.operations.telemetry.count, r.stdout + r.stderr).toBeGreaterThan(0);

      const findings: Finding[] = [
        ...scanText(r.stdout, secrets).map((kind) => ({ where: 'stdout', kind })),
        ...scanText(r.stderr, secrets).map((kind) => ({ where: 'stderr', kind })),
        ...scanFiles(reports, secrets).map((f) => ({ ...f, where: relative(dir, f.where) })),
      ];
      expect(existsSync(logFile), 'the run was given --log-file and wrote none').toBe(true);
      findings.push(
        ...scanText(readFileSync(logFile, 'utf8'), secrets).map((kind) => ({ where: 'logs/run.log', kind })),
      );
      expect(findings, `secrets leaked:\n${report(findings)}`).toEqual([]);
    },
  );
});
