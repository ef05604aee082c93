// Which duration a run has: --duration, then a profile named on the command line, then the scenario's `duration:`
// (which belongs to the scenario's own profile), then that profile's.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, runDuration } from '../../src/config/load.js';
import { REPO, scenarioDir, write } from './helpers.js';

describe('runDuration', () => {
  const profile = 180_000;
  it('--duration wins over everything', () => {
    expect(runDuration({ commandLine: 5_000, profileFromCommandLine: true, scenario: 60_000, profile })).toBe(5_000);
    expect(runDuration({ commandLine: 5_000, profileFromCommandLine: false, scenario: 60_000, profile })).toBe(5_000);
  });

  it("a profile named on the command line keeps its own duration over the scenario's", () => {
    expect(runDuration({ profileFromCommandLine: true, scenario: 60_000, profile })).toBe(profile);
  });

  it("the scenario's duration shortens or lengthens its own profile", () => {
    expect(runDuration({ profileFromCommandLine: false, scenario: 60_000, profile })).toBe(60_000);
  });

  it("without either, the profile's duration", () => {
    expect(runDuration({ profileFromCommandLine: false, profile })).toBe(profile);
    expect(runDuration({ profileFromCommandLine: true, profile })).toBe(profile);
  });
});

describe('a profile chosen on the command line keeps its shape', () => {
  it('quickstart with --profile reconnect-storm runs 3 minutes: the storm at 90s happens, no warning', async () => {
    const loaded = await loadScenario(path.join(REPO, 'scenarios/quickstart.yaml'), { profile: 'reconnect-storm' });
    expect(loaded.durationMs).toBe(180_000);
    expect(loaded.profile.duration).toBe(180_000);
    expect(loaded.profile.events).toEqual([{ at: 90_000, kind: 'dropConnections', fraction: 1 }]);
    expect(loaded.warnings.filter((w) => w.includes('after the end of the run'))).toEqual([]);
  });

  it("quickstart without --profile keeps the scenario's 60s with its own profile", async () => {
    const loaded = await loadScenario(path.join(REPO, 'scenarios/quickstart.yaml'));
    expect(loaded.profile.name).toBe('smoke');
    expect(loaded.durationMs).toBe(60_000);
  });

  it('--duration still cuts a command-line profile, and says its events will not happen', async () => {
    const loaded = await loadScenario(path.join(REPO, 'scenarios/quickstart.yaml'), {
      profile: 'reconnect-storm',
      duration: '60s',
    });
    expect(loaded.durationMs).toBe(60_000);
    expect(loaded.warnings.some((w) => w.includes('dropConnections at 1m30s') && w.includes('will not happen'))).toBe(
      true,
    );
  });

  it("the scenario's profile: named in the file is the scenario's own, so its duration: applies", async () => {
    const dir = await scenarioDir();
    await write(dir, 'long.profile.yaml', 'name: long\ndescription: x\nduration: 10m\narrivals: { startRate: 5 }\n');
    const file = await write(
      dir,
      's.yaml',
      'name: x\nprofile: ./long.profile.yaml\nduration: 30s\nfleet:\n  - { group: a, kind: device, count: 1 }\n',
    );
    expect((await loadScenario(file)).durationMs).toBe(30_000);
    expect((await loadScenario(file, { profile: path.join(dir, 'long.profile.yaml') })).durationMs).toBe(600_000);
  });
});
