// The mqtt target's templates (topics, client id, user name): the placeholders each one documents are accepted,
// anything else is refused when the scenario loads, naming the file and the path; `edgefleet run` exits 2.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadScenario } from '../../src/config/load.js';
import { mqttTargetSchema } from '../../src/config/scenario.js';
import { configError, scenarioDir, write } from './helpers.js';

function scenario(mqtt: string): string {
  return [
    'name: templates',
    'target: mqtt',
    'targets:',
    '  mqtt:',
    '    host: 127.0.0.1',
    ...mqtt.split('\n').map((line) => `    ${line}`),
    'fleet:',
    '  - { group: north, kind: device, count: 1, idPattern: "n-{index}", auth: sas }',
    '',
  ].join('\n');
}

async function load(mqtt: string) {
  const dir = await scenarioDir();
  const file = await write(dir, 's.yaml', scenario(mqtt));
  return { file, load: () => loadScenario(file, { target: 'mqtt' }) };
}

describe('mqtt target templates', () => {
  it('accept {deviceId} and {group} everywhere, {moduleId} in the module topic, and ${ENV} references', async () => {
    process.env.EF_TEST_MQTT_USER = 'fleet-user';
    onTestFinished(() => void delete process.env.EF_TEST_MQTT_USER);
    const { load: loading } = await load(
      [
        'clientId: "sim-{group}-{deviceId}"',
        'username: "${EF_TEST_MQTT_USER}-{group}"',
        'topics:',
        '  telemetry: "fleet/{group}/{deviceId}"',
        '  moduleTelemetry: "fleet/{group}/{deviceId}/{moduleId}"',
      ].join('\n'),
    );
    const loaded = await loading();
    expect(loaded.target.kind === 'mqtt' && loaded.target.settings).toMatchObject({
      clientId: 'sim-{group}-{deviceId}',
      username: 'fleet-user-{group}',
      topics: { telemetry: 'fleet/{group}/{deviceId}', moduleTelemetry: 'fleet/{group}/{deviceId}/{moduleId}' },
    });
  });

  it('refuse unknown placeholders, {moduleId} without a module, stray braces: with file and path', async () => {
    const { file, load: loading } = await load(
      [
        'clientId: "sim-{deviceID}"',
        'username: "{moduleId}"',
        'topics:',
        '  telemetry: "fleet/{group/{deviceId}"',
        '  moduleTelemetry: "fleet/{module}"',
      ].join('\n'),
    );
    const error = await configError(loading);
    const at = `${file}: targets.mqtt`;
    expect(error.message.split('\n').sort()).toEqual([
      `${at}.clientId: unknown placeholder {deviceID}; expected {deviceId} or {group} (line 6, column 15)`,
      `${at}.topics.moduleTelemetry: unknown placeholder {module}; expected {deviceId}, {moduleId} or {group} ` +
        '(line 10, column 24)',
      `${at}.topics.telemetry: a "{" or "}" that is no placeholder; placeholders are {deviceId} or {group} ` +
        '(line 9, column 18)',
      `${at}.username: {moduleId} is only for topics.moduleTelemetry: a device has no module id (line 7, column 15)`,
    ]);
  });

  it('document in the JSON schema which placeholders each template takes', () => {
    const schema = mqttTargetSchema.toJSONSchema({ io: 'input' }) as { properties: Record<string, any> };
    expect(schema.properties.clientId.description).toBe('MQTT client id. Placeholders: {deviceId} and {group}.');
    expect(schema.properties.topics.properties.moduleTelemetry.description).toMatch(
      /Placeholders: \{deviceId\}, \{moduleId\} and \{group\}\.$/,
    );
  });

  it('make `edgefleet run` exit 2 before anything connects', async () => {
    const dir = await scenarioDir();
    const file = await write(dir, 's.yaml', scenario('topics: { telemetry: "fleet/{grup}/{deviceId}" }'));
    const cli = path.join(process.cwd(), 'dist/cli/main.js');
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const args = [cli, 'run', file, '--reports-dir', path.join(dir, 'reports')];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.stderr.on('data', (d) => (text += d));
      child.on('exit', (exitCode) => resolve({ code: exitCode, out: text }));
    });
    expect(out).toContain(`${file}: targets.mqtt.topics.telemetry: unknown placeholder {grup}; expected {deviceId} or`);
    expect(code).toBe(2);
  });
});
