// `edgefleet emulator`: run the embedded cloud until SIGINT or SIGTERM.
import type { CommandModule } from 'yargs';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, startEmulator, writeInfoFile, type Emulator } from '../emulator/index.js';

interface EmulatorArgs {
  'state-dir': string;
  host: string;
  'mqtt-port': number;
  'http-port': number;
  'hub-https-port': number;
  'hub-hostname': string;
  'trust-ca': string[];
  'info-file'?: string;
  'dps-retry-after': number;
  'handshake-timeout': number;
  verbose: boolean;
}

/**
 * The emulator process must outlive any one client's input: an exception that escaped every handler is logged and
 * counted, and it keeps serving. Installed here, for this process only, never by startEmulator for a library caller.
 */
function keepServingOnUncaughtErrors(emulator: Emulator): void {
  const report = (what: string) => (err: unknown) => {
    emulator.stats.rejections.internalError += 1;
    const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`[emulator] ${what}, still serving: ${stack}\n`);
  };
  process.on('uncaughtException', report('uncaught exception'));
  process.on('unhandledRejection', report('unhandled rejection'));
}

export const emulatorCommand: CommandModule<object, EmulatorArgs> = {
  command: 'emulator',
  describe: 'Run the embedded cloud: DPS and IoT Hub over MQTT/TLS, IoT Central-style REST',
  builder: (y) =>
    y
      .option('state-dir', { type: 'string', default: '.edgefleet', describe: 'CAs, server certificate and keys (created on first start, reused after)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' })
      .option('mqtt-port', { type: 'number', default: 8883, describe: 'MQTT over TLS port for DPS and IoT Hub (0: a free port)' })
      .option('http-port', { type: 'number', default: 8080, describe: 'REST API port (0: a free port)' })
      .option('hub-https-port', { type: 'number', default: 0, describe: "Port of the hub's HTTPS registry endpoint (0: a free port)" })
      .option('hub-hostname', { type: 'string', default: 'localhost', describe: 'IoT Hub host name devices are assigned to' })
      .option('trust-ca', { type: 'string', array: true, default: [], describe: 'Also accept device certificates issued by this CA (PEM file; repeatable)' })
      .option('info-file', { type: 'string', describe: 'Write ports, ID scope, group keys, CA paths and the API token here as JSON once listening' })
      .option('dps-retry-after', { type: 'number', default: 1, describe: 'Seconds DPS tells a registering device to wait before polling' })
      .option('handshake-timeout', {
        type: 'number', default: DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000,
        describe: 'Seconds a new connection has to finish TLS, then to send its MQTT CONNECT or HTTP request head; '
          + 'slower ones are closed',
      })
      .option('verbose', { type: 'boolean', default: false, describe: 'Log refused clients and other diagnostics to stderr' })
      .check((a) => validHandshakeTimeout(a['handshake-timeout'])
        || `--handshake-timeout must be seconds, more than 0 and at most 300 (got ${a['handshake-timeout']})`)
      .example('$0 emulator', 'Listen on 8883 (MQTT/TLS) and 8080 (REST)')
      .example('$0 emulator --mqtt-port 0 --http-port 0 --info-file emu.json', 'Pick free ports and say which in emu.json')
      .example('NODE_EXTRA_CA_CERTS=.edgefleet/ca.pem node my-device.js', 'Let an Azure IoT SDK device trust the emulator'),
  handler: async (args) => {
    const emulator = await startEmulator({
      stateDir: args['state-dir'],
      host: args.host,
      mqttPort: args['mqtt-port'],
      httpPort: args['http-port'],
      hubHttpsPort: args['hub-https-port'],
      hubHostName: args['hub-hostname'],
      trustCaFiles: args['trust-ca'],
      dpsRetryAfterSeconds: args['dps-retry-after'],
      handshakeTimeoutMs: Math.round(args['handshake-timeout'] * 1000),
      ...(args.verbose ? { log: (line: string) => process.stderr.write(`[emulator] ${line}\n`) } : {}),
    });
    keepServingOnUncaughtErrors(emulator);
    const { info } = emulator;
    if (args['info-file'] !== undefined) await writeInfoFile(args['info-file'], info);
    const where = args['info-file'] ?? `${args['state-dir']}/secrets.json`;
    process.stdout.write(
      [
        'edgefleet emulator listening',
        `  DPS + IoT Hub (MQTT/TLS)  ${info.hubHostName}:${info.mqttPort}   ID scope ${info.idScope}`,
        `  hub HTTPS                 ${info.hubHostName}:${info.hubHttpsPort}`,
        `  REST                      ${info.restUrl}/api (Authorization: the apiToken)`,
        `  trust anchor              ${info.caCertPath}`,
        `  group keys and API token  ${where}`,
        'Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stdout.write(`${signal}: stopping the emulator\n`);
      await emulator.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  },
};

const validHandshakeTimeout = (seconds: number) => Number.isFinite(seconds) && seconds > 0 && seconds <= 300;
