// `edgefleet smoke` as CI runs it: the built CLI against the emulator it starts, with JUnit XML; and a broken
// scenario (a module that answers `reset` with 501) that must make its check fail and the command exit 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_STATE_DIR } from '../support/emulator.js';
import { SMOKE_PATTERNS } from '../../src/smoke/patterns.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function smoke(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'smoke', '--state-dir', TEST_STATE_DIR, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/** testcase name → 'pass' | 'fail' | 'skip', per testsuite name. */
function junitCases(xml: string): Record<string, Record<string, string>> {
  const suites: Record<string, Record<string, string>> = {};
  for (const s of xml.matchAll(/<testsuite name="([^"]+)"[^>]*>([\s\S]*?)<\/testsuite>/g)) {
    const cases: Record<string, string> = {};
    for (const c of (s[2] as string).matchAll(/<testcase name="([^"]+)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
      const body = c[3] ?? '';
      cases[c[1] as string] = body.includes('<failure') ? 'fail' : body.includes('<skipped') ? 'skip' : 'pass';
    }
    suites[s[1] as string] = cases;
  }
  return suites;
}

let good: { code: number | null; out: string };
let broken: { code: number | null; out: string };
const goodJunit = join(dir, 'good.xml');
const brokenJunit = join(dir, 'broken.xml');

beforeAll(async () => {
  // Both at once: each starts its own emulator, and the whole file stays well under a minute.
  [good, broken] = await Promise.all([
    // A generous budget: under a loaded test machine the checks still get their answers (the run stops once they have).
    smoke(['--junit', goodJunit, '--reports-dir', join(dir, 'good'), '--timeout', '100s']),
    smoke([
      '--scenarios',
      'test/smoke/fixtures',
      '--pattern',
      'edge-device',
      '--junit',
      brokenJunit,
      '--reports-dir',
      join(dir, 'broken'),
    ]),
  ]);
}, 150_000);

describe('edgefleet smoke', () => {
  it('passes every available check against the emulator, one line each, and lists them all in JUnit', () => {
    expect(good.code, good.out).toBe(0);
    const cases = junitCases(readFileSync(goodJunit, 'utf8'));
    expect(Object.keys(cases)).toEqual(SMOKE_PATTERNS.map((p) => `smoke.${p.name}`));
    for (const p of SMOKE_PATTERNS) {
      expect(Object.keys(cases[`smoke.${p.name}`] ?? {}), p.name).toEqual(p.checks.map((c) => c.name));
      for (const c of p.checks) {
        const verdict = cases[`smoke.${p.name}`]?.[c.name];
        expect(verdict, `${p.name} › ${c.name}`).toBe(p.available ? 'pass' : 'skip');
        expect(good.out).toContain(`${p.available ? 'PASS' : 'SKIP'}  ${p.name} › ${c.name}`);
      }
    }
    // What each pattern's attribution check saw names the right identity.
    expect(good.out).toContain(
      'edge-device › telemetry-attribution: smoke-edge-1/SimulatedTemperatureSensor: machine:',
    );
    expect(good.out).toMatch(
      /transparent › telemetry-attribution: smoke-transparent-1-leaf-1: [\d.]+; smoke-transparent-1-leaf-2/,
    );
    expect(good.out).toMatch(
      new RegExp(
        'protocol-translation › telemetry-attribution: smoke-protocol-1/ProtocolTranslator: ' +
          String.raw`sensorId: (plc|tag)-\d; sensorKind: \w+; sensorKind seen: `,
      ),
    );
    expect(good.out).toMatch(/identity-translation › telemetry-attribution: smoke-identity-1-sensor-1: [\d.]+;/);
    expect(good.out).toMatch(/store-and-forward › store-and-forward: deliveredLate [1-9]\d*, stored 0, expired [1-9]/);
    expect(good.out).toMatch(/smoke passed: \d+ passed, 0 failed, \d+ skipped, in \d+\.\d s/);
  });

  it('fails the command check when the module answers 501, says what it expected and saw, and exits 1', () => {
    expect(broken.code, broken.out).toBe(1);
    expect(broken.out).toContain(
      'FAIL  edge-device › command-round-trip: expected smoke-edge-1/SimulatedTemperatureSensor "reset" → responseCode 200; saw responseCode 501',
    );
    // The rest of the device works: those checks still pass.
    for (const check of ['modules-running', 'telemetry-attribution', 'writable-property-ack', 'ledger-balanced']) {
      expect(broken.out).toContain(`PASS  edge-device › ${check}`);
    }
    expect(broken.out).toMatch(/smoke FAILED: 4 passed, 1 failed, 0 skipped/);
    const cases = junitCases(readFileSync(brokenJunit, 'utf8'));
    expect(cases['smoke.edge-device']).toEqual({
      'modules-running': 'pass',
      'telemetry-attribution': 'pass',
      'command-round-trip': 'fail',
      'writable-property-ack': 'pass',
      'ledger-balanced': 'pass',
    });
  });

  it('refuses a too-short timeout, two patterns whose gateway groups share a name, and the mqtt target, with exit code 2', async () => {
    const r = await smoke(['--timeout', '1s']);
    expect(r.code).toBe(2);
    expect(r.out).toContain('--timeout: expected at least 10s');
    // On one shared target the second group's manifest would replace the first's: refused before anything runs.
    const clash = await smoke([
      '--scenarios',
      'test/smoke/fixtures/clash',
      '--pattern',
      'edge-device',
      '--pattern',
      'transparent',
    ]);
    expect(clash.code, clash.out).toBe(2);
    expect(clash.out).toMatch(
      /clash\/transparent\.yaml: fleet: IoT Edge group "gateway" is also in .*clash\/edge-device\.yaml/,
    );
    expect(clash.out).not.toMatch(/PASS|FAIL/);
    // Every pattern has IoT Edge devices: a plain MQTT broker is not a target for smoke.
    const broker = await smoke(['--target', 'mqtt']);
    expect(broker.code).toBe(2);
    expect(broker.out).toMatch(/target.*mqtt.*Choices: "emulator", "iot-central"/s);
  });
});
