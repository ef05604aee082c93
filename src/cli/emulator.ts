// `edgefleet emulator`: run the embedded cloud until SIGINT or SIGTERM.
import type { CommandModule, Options } from 'yargs';
import { parseDuration } from '../config/duration.js';
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_SHAPING_BURST_MS,
  DEFAULT_SHAPING_QUEUE_MS,
  DPS_REGISTRATIONS_PER_MINUTE,
  EmulatorStateError,
  HUB_TIERS,
  LimitsConfigError,
  planLimits,
  type HubTier,
  type LimitsConfig,
  startEmulator,
  writeInfoFile,
  type Emulator,
  type EmulatorInfo,
  type SyncMode,
} from '../emulator/index.js';

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
  ephemeral: boolean;
  sync: SyncMode;
  verbose: boolean;
  'hub-tier'?: HubTier;
  'hub-units'?: number;
  limits?: 'iot-central';
  'dps-rate'?: number;
  'shaping-burst'?: string;
  'shaping-queue'?: string;
  'daily-quota'?: number;
}

/**
 * The emulator process must outlive any one client's input: an exception that escaped every handler is logged and
 * counted, and it keeps serving. Installed here, for this process only, never by startEmulator for a library caller.
 */
function keepServingOnUncaughtErrors(emulator: Emulator): void {
  const report = (what: string) => (err: unknown) => {
    emulator.stats.count('internalError');
    const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`[emulator] ${what}, still serving: ${stack}\n`);
  };
  process.on('uncaughtException', report('uncaught exception'));
  process.on('unhandledRejection', report('unhandled rejection'));
}

/** The default durability: what was acknowledged survives a killed process. */
const DEFAULT_SYNC: SyncMode = 'normal';

/** The command's options, in the order --help lists them. */
const EMULATOR_OPTIONS = {
  'state-dir': {
    type: 'string',
    default: '.edgefleet',
    describe:
      'CAs, server certificate, keys and the database of everything it knows (created on first start, ' +
      'reused after; one emulator at a time)',
  },
  ephemeral: {
    type: 'boolean',
    default: false,
    describe: 'Keep devices, twins, messages and counts in memory only: a restart starts empty',
  },
  sync: {
    choices: ['normal', 'full'] as const,
    default: DEFAULT_SYNC,
    describe: 'normal: what was acknowledged survives the process being killed; full: also a power loss (slower)',
  },
  host: { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' },
  'mqtt-port': {
    type: 'number',
    default: 8883,
    describe: 'MQTT over TLS port for DPS and IoT Hub (0: a free port)',
  },
  'http-port': { type: 'number', default: 8080, describe: 'REST API port (0: a free port)' },
  'hub-https-port': {
    type: 'number',
    default: 0,
    describe: "Port of the hub's HTTPS registry endpoint (0: a free port)",
  },
  'hub-hostname': {
    type: 'string',
    default: 'localhost',
    describe: 'IoT Hub host name devices are assigned to',
  },
  'trust-ca': {
    type: 'string',
    array: true,
    default: [],
    describe: 'Also accept device certificates issued by this CA (PEM file; repeatable)',
  },
  'info-file': {
    type: 'string',
    describe: 'Write ports, ID scope, group keys, CA paths and the API token here as JSON once listening',
  },
  'dps-retry-after': {
    type: 'number',
    default: 1,
    describe: 'Seconds DPS tells a registering device to wait before polling',
  },
  'handshake-timeout': {
    type: 'number',
    default: DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000,
    describe:
      'Seconds a new connection has to finish TLS, then to send its MQTT CONNECT or HTTP request head; ' +
      'slower ones are closed',
  },
  verbose: {
    type: 'boolean',
    default: false,
    describe: 'Log refused clients and other diagnostics to stderr',
  },
  'hub-tier': {
    choices: HUB_TIERS,
    describe: "Apply this IoT Hub tier's throttles and daily quota (F1 is the free tier); default: no limits",
  },
  'hub-units': { type: 'number', describe: 'Units of --hub-tier (default 1)' },
  limits: {
    choices: ['iot-central'] as const,
    describe: "Apply IoT Central's application limits instead of a hub tier's",
  },
  'dps-rate': {
    type: 'number',
    describe:
      `DPS registrations per minute (default ${DPS_REGISTRATIONS_PER_MINUTE} with --hub-tier, 200 with ` +
      '--limits iot-central); past it, 429 with retry-after',
  },
  'shaping-burst': {
    type: 'string',
    describe:
      `Excess over a limit let through before shaping starts, as time at the limit rate (default ` +
      `${DEFAULT_SHAPING_BURST_MS / 1000}s; 0s shapes at once)`,
  },
  'shaping-queue': {
    type: 'string',
    describe:
      `Excess held and served late at the limit rate before refusals, as time at that rate (default ` +
      `${DEFAULT_SHAPING_QUEUE_MS / 1000}s)`,
  },
  'daily-quota': {
    type: 'number',
    describe: "Messages a day (in the tier's chunks) instead of the tier's quota, to see what running out does",
  },
} satisfies Record<string, Options>;

/** The limits the flags ask for, checked; a LimitsConfigError or a DurationError says what to fix. */
export function limitsFromArgs(args: Partial<EmulatorArgs>): LimitsConfig {
  const duration = (flag: 'shaping-burst' | 'shaping-queue') => {
    const v = args[flag];
    if (v === undefined) return undefined;
    try {
      return parseDuration(v);
    } catch (err) {
      throw new LimitsConfigError(`--${flag}: ${(err as Error).message}`);
    }
  };
  const burst = duration('shaping-burst');
  const queue = duration('shaping-queue');
  const config: LimitsConfig = {
    ...(args['hub-tier'] === undefined ? {} : { hubTier: args['hub-tier'] }),
    ...(args['hub-units'] === undefined ? {} : { hubUnits: args['hub-units'] }),
    ...(args.limits === 'iot-central' ? { iotCentral: true } : {}),
    ...(args['dps-rate'] === undefined ? {} : { dpsRatePerMinute: args['dps-rate'] }),
    ...(burst === undefined ? {} : { shapingBurstMs: burst }),
    ...(queue === undefined ? {} : { shapingQueueMs: queue }),
    ...(args['daily-quota'] === undefined ? {} : { dailyQuota: args['daily-quota'] }),
  };
  const plan = planLimits(config);
  if (plan === undefined && (burst !== undefined || queue !== undefined)) {
    throw new LimitsConfigError('--shaping-burst and --shaping-queue need a limit: --hub-tier, --limits or --dps-rate');
  }
  return config;
}

export const emulatorCommand: CommandModule<object, EmulatorArgs> = {
  command: 'emulator',
  describe: 'Run the embedded cloud: DPS and IoT Hub over MQTT/TLS, IoT Central-style REST',
  builder: (y) =>
    y
      .options(EMULATOR_OPTIONS)
      .check(
        (a) =>
          validHandshakeTimeout(a['handshake-timeout']) ||
          `--handshake-timeout must be seconds, more than 0 and at most 300 (got ${a['handshake-timeout']})`,
      )
      .check((a) => {
        try {
          limitsFromArgs(a);
          return true;
        } catch (err) {
          if (err instanceof LimitsConfigError) return err.message;
          throw err;
        }
      })
      .example('$0 emulator', 'Listen on 8883 (MQTT/TLS) and 8080 (REST); state in .edgefleet/emulator.db')
      .example('$0 emulator --ephemeral', 'The same, remembering nothing after it stops')
      .example('$0 emulator --hub-tier S1 --hub-units 2', 'Throttle as a two-unit S1 hub and DPS do, quota included')
      .example(
        '$0 emulator --mqtt-port 0 --http-port 0 --info-file emu.json',
        'Pick free ports and say which in emu.json',
      )
      .example(
        'NODE_EXTRA_CA_CERTS=.edgefleet/ca.pem node my-device.js',
        'Let an Azure IoT SDK device trust the emulator',
      ),
  handler: async (args) => {
    const emulator = await start({
      stateDir: args['state-dir'],
      ephemeral: args.ephemeral,
      sync: args.sync,
      host: args.host,
      mqttPort: args['mqtt-port'],
      httpPort: args['http-port'],
      hubHttpsPort: args['hub-https-port'],
      hubHostName: args['hub-hostname'],
      trustCaFiles: args['trust-ca'],
      dpsRetryAfterSeconds: args['dps-retry-after'],
      handshakeTimeoutMs: Math.round(args['handshake-timeout'] * 1000),
      limits: limitsFromArgs(args),
      ...(args.verbose ? { log: (line: string) => process.stderr.write(`[emulator] ${line}\n`) } : {}),
    });
    keepServingOnUncaughtErrors(emulator);
    const { info } = emulator;
    if (args['info-file'] !== undefined) await writeInfoFile(args['info-file'], info);
    const limits = emulator.limits.plan;
    const limitsLine = limits === undefined ? 'none' : `${limits.name} (see /stats "limits")`;
    process.stdout.write(banner(info, args['info-file'] ?? `${args['state-dir']}/secrets.json`, limitsLine));
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

/** Starts the emulator; a state directory it cannot use ends the command with its reason and exit code 2. */
async function start(options: Parameters<typeof startEmulator>[0]): Promise<Emulator> {
  try {
    return await startEmulator(options);
  } catch (err) {
    if (!(err instanceof EmulatorStateError)) throw err;
    process.stderr.write(`edgefleet emulator: ${err.message}\n`);
    process.exit(2);
  }
}

function banner(info: EmulatorInfo, secretsWhere: string, limitsLine: string): string {
  return [
    'edgefleet emulator listening',
    `  DPS + IoT Hub (MQTT/TLS)  ${info.hubHostName}:${info.mqttPort}   ID scope ${info.idScope}`,
    `  hub HTTPS                 ${info.hubHostName}:${info.hubHttpsPort}`,
    `  REST                      ${info.restUrl}/api (Authorization: the apiToken)`,
    `  trust anchor              ${info.caCertPath}`,
    `  group keys and API token  ${secretsWhere}`,
    `  state                     ${info.databasePath ?? 'in memory only (--ephemeral): forgotten when it stops'}`,
    `  limits                    ${limitsLine}`,
    'Ctrl-C to stop.',
    '',
  ].join('\n');
}
