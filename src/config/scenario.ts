// What a fleet is: groups of plain devices and IoT Edge devices, how they authenticate, what they send and
// how they answer. How load happens over time is the profile's business (profile.ts).
import { z } from 'zod';
import { thresholdsSchema } from './thresholds.js';
import { durationSchema, durationWithDefault } from './duration.js';
import { generatorSpecSchema } from './generators.js';
import { IdPatternError, parseIdPattern } from './id-pattern.js';

export const TARGET_KINDS = ['emulator', 'iot-central', 'iot-hub', 'mqtt'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export const AUTH_KINDS = ['sas', 'x509', 'connectionString'] as const;
export type AuthKind = (typeof AUTH_KINDS)[number];

export const DEFAULT_ID_PATTERN = '{group}-{index}';

const positiveDuration = durationSchema.refine((ms) => ms > 0, { error: 'expected a duration > 0' });

/** A file path, relative to the scenario file; the loader makes it absolute and checks that it exists. */
const filePath = (description: string) =>
  z.string().min(1).describe(`${description} (a path relative to the scenario file)`);

/** A DTDL model: a file, or a DTMI looked up in the model repository (modelRepository). */
const modelReference = (description: string) =>
  z
    .string()
    .min(1)
    .describe(
      `${description}: a JSON file (a path relative to the scenario file), or a DTMI such as ` +
        '"dtmi:com:example:Thermostat;1" looked up in the model repository (modelRepository).',
    );

/** Where models named by DTMI are looked up. */
export const modelRepositorySchema = z
  .string()
  .min(1)
  .describe(
    'A device models repository: a folder (relative to the scenario file) or an http(s) URL laid out as ' +
      'dtmi/com/example/thermostat-1.json (an .expanded.json beside a model is used when present). Files ' +
      'fetched from a URL are kept in the state directory and read from there afterwards.',
  );

const wholeNumber = (min: number, description: string) =>
  z
    .int({ error: `expected a whole number >= ${min}` })
    .min(min, { error: `expected a whole number >= ${min}` })
    .describe(description);

// --- targets ---------------------------------------------------------------------------------------------

// What a template may name: a device's id and group; a module's id only where a module publishes.
const DEVICE_PLACEHOLDERS = ['deviceId', 'group'] as const;
const MODULE_PLACEHOLDERS = ['deviceId', 'moduleId', 'group'] as const;

const listed = (names: readonly string[], last = 'or'): string =>
  names
    .map((n) => `{${n}}`)
    .join(', ')
    .replace(/, ([^,]*)$/, ` ${last} $1`);

function templateProblem(template: string, allowed: readonly string[]): string | undefined {
  let rest = '';
  let from = 0;
  for (const match of template.matchAll(/\$?\{([^{}]*)\}/g)) {
    rest += template.slice(from, match.index);
    from = match.index + match[0].length;
    // ${ENV} references are resolved at load time, not by the template.
    if (match[0].startsWith('$')) continue;
    const name = match[1] ?? '';
    if (allowed.includes(name)) continue;
    if (name === 'moduleId') return `{moduleId} is only for topics.moduleTelemetry: a device has no module id`;
    return `unknown placeholder {${name}}; expected ${listed(allowed)}`;
  }
  rest += template.slice(from);
  if (/[{}]/.test(rest)) return `a "{" or "}" that is no placeholder; placeholders are ${listed(allowed)}`;
  return undefined;
}

const template = (description: string, allowed: readonly string[] = DEVICE_PLACEHOLDERS) =>
  z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      const problem = templateProblem(value, allowed);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(`${description} Placeholders: ${listed(allowed, 'and')}.`);

const topicTemplate = (description: string, allowed?: readonly string[]) =>
  template(description, allowed).refine((topic) => !/[+#]/.test(topic), {
    error: 'a publish topic cannot contain the wildcards + or #',
  });

/** IoT Hub tiers whose throttles the embedded emulator can apply (F1 is the free tier). */
export const HUB_TIER_NAMES = ['F1', 'B1', 'B2', 'B3', 'S1', 'S2', 'S3'] as const;
const MAX_HUB_UNITS: Record<(typeof HUB_TIER_NAMES)[number], number> = {
  F1: 1,
  B1: 200,
  B2: 200,
  B3: 10,
  S1: 200,
  S2: 200,
  S3: 10,
};

const hubLimitsSchema = z
  .strictObject({
    hubTier: z.enum(HUB_TIER_NAMES).optional().describe("Apply this IoT Hub tier's throttles and daily quota."),
    hubUnits: wholeNumber(1, 'Units of hubTier (default 1).').optional(),
    dpsRate: z
      .number()
      .positive({ error: 'expected registrations per minute, more than 0' })
      .optional()
      .describe('DPS registrations per minute (default 1000 with a hubTier); past it, 429 with retry-after.'),
    shapingBurst: durationSchema
      .optional()
      .describe('Excess over a limit let through before shaping starts, as time at the limit rate (default 60s).'),
    shapingQueue: durationSchema
      .optional()
      .describe('Excess held and served late at the limit rate before refusals (default 10s).'),
    dailyQuota: wholeNumber(1, "Messages a day (in the tier's chunks) instead of the tier's quota.").optional(),
  })
  .superRefine((limits, ctx) => {
    const tier = limits.hubTier;
    if (limits.hubUnits !== undefined && tier === undefined)
      ctx.addIssue({ code: 'custom', path: ['hubUnits'], message: 'hubUnits needs a hubTier' });
    if (tier !== undefined && (limits.hubUnits ?? 1) > MAX_HUB_UNITS[tier])
      ctx.addIssue({
        code: 'custom',
        path: ['hubUnits'],
        message: `${tier} has at most ${MAX_HUB_UNITS[tier]} unit(s)`,
      });
    if (limits.dailyQuota !== undefined && tier === undefined)
      ctx.addIssue({ code: 'custom', path: ['dailyQuota'], message: 'dailyQuota needs a hubTier' });
  });

export const emulatorTargetSchema = z
  .strictObject({
    limits: z
      .union([z.literal('iot-central'), hubLimitsSchema])
      .optional()
      .describe(
        'Limits the embedded emulator enforces (README "IoT Hub, DPS and IoT Central limits"): an IoT Hub ' +
          'tier, or "iot-central" for IoT Central\'s application limits. Default: none.',
      ),
  })
  .describe('Settings of the embedded emulator this run starts (not of one given with --target-info).');

export type EmulatorTargetSettings = z.output<typeof emulatorTargetSchema>;

const groupKeySchema = z
  .strictObject({
    primaryKey: z.string().min(1).describe('Primary key of the enrollment group (base64). Use "${ENV_VAR}".'),
    secondaryKey: z.string().min(1).optional().describe('Secondary key of the enrollment group. Use "${ENV_VAR}".'),
  })
  .describe('Keys of one symmetric-key enrollment group.');

export const iotCentralTargetSchema = z
  .strictObject({
    idScope: z.string().min(1).describe('The DPS ID scope of the IoT Central application.'),
    subdomain: z
      .string()
      .min(1)
      .transform((value) => value.replace(/\.azureiotcentral\.com\/?$/i, '').replace(/^https?:\/\//i, ''))
      .describe('The application subdomain: "myapp" for https://myapp.azureiotcentral.com.'),
    apiToken: z
      .string()
      .min(1)
      .optional()
      .describe('An API token, for service-side actions (commands, property writes). Use "${ENV_VAR}".'),
    dpsHost: z.string().min(1).default('global.azure-devices-provisioning.net').describe('The DPS endpoint.'),
    groupKeys: z
      .strictObject({
        devices: groupKeySchema.optional().describe('The SAS-IoT-Devices group: plain devices with auth: sas.'),
        edgeDevices: groupKeySchema
          .optional()
          .describe('The SAS-IoT-Edge-Devices group: IoT Edge devices with auth: sas.'),
      })
      .optional()
      .describe('Enrollment group keys; each device key is derived from its group key and its id.'),
    x509: z
      .strictObject({
        caCert: filePath('PEM certificate of the CA registered in the X.509 enrollment group'),
        caKey: filePath('PEM private key of that CA, used to issue one leaf certificate per device'),
      })
      .optional()
      .describe('For groups with auth: x509.'),
  })
  .describe('An Azure IoT Central application.');

const x509CaSchema = z
  .strictObject({
    caCert: filePath('PEM certificate of the CA registered in the X.509 enrollment group'),
    caKey: filePath('PEM private key of that CA, used to issue one leaf certificate per device'),
  })
  .describe('For groups with auth: x509.');

export const iotHubDpsSchema = z
  .strictObject({
    idScope: z.string().min(1).describe('The ID scope of the Device Provisioning Service linked to the hub.'),
    globalEndpoint: z
      .string()
      .min(1)
      .default('global.azure-devices-provisioning.net')
      .describe('The DPS endpoint, host or host:port (default global.azure-devices-provisioning.net, port 8883).'),
    groupKeys: z
      .strictObject({
        devices: groupKeySchema
          .optional()
          .describe('The symmetric-key enrollment group of plain and downstream devices.'),
        edgeDevices: groupKeySchema.optional().describe('The symmetric-key enrollment group of IoT Edge devices.'),
      })
      .optional()
      .describe('Enrollment group keys; each device key is derived from its group key and its id.'),
    x509: x509CaSchema.optional(),
  })
  .describe('A DPS in front of the hub: identities register through it instead of connecting straight to the hub.');

export const iotHubTargetSchema = z
  .strictObject({
    connectionString: z
      .string()
      .min(1)
      .describe(
        'A service connection string of the hub (HostName=…;SharedAccessKeyName=…;SharedAccessKey=…), of a policy ' +
          'with registry write and service connect rights (iothubowner). Use "${IOTHUB_CONNECTION_STRING}".',
      ),
    ca: filePath(
      "PEM file of the CA(s) to trust for the hub and its DPS instead of the system's: the emulator's ca.pem",
    ).optional(),
    mqttEndpoint: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Where devices connect over MQTT, host:port (default: the HostName's host on 8883). The emulator's is " +
          'localhost:<mqttPort> of its info file.',
      ),
    registryOperationsPerMinute: z
      .number()
      .positive({ error: 'expected a number > 0' })
      .default(100)
      .describe(
        'Identity-registry calls per minute edgefleet allows itself (default 100: the S1/S2 throttle of one unit); ' +
          'each bulk call creates or deletes up to 100 identities.',
      ),
    dps: iotHubDpsSchema.optional(),
  })
  .describe('An Azure IoT Hub, reached through its service API (and optionally through its DPS).');

export const mqttTargetSchema = z
  .strictObject({
    host: z.string().min(1).describe('Broker host name or address.'),
    port: z.int().min(1).max(65535).optional().describe('Broker port (default 8883 with TLS, 1883 without).'),
    tls: z
      .strictObject({
        enabled: z.boolean().optional().describe('Use TLS (default true when tls is given).'),
        ca: filePath('PEM file of the CA(s) to trust').optional(),
        rejectUnauthorized: z.boolean().default(true).describe('Refuse a server certificate that does not verify.'),
      })
      .optional()
      .describe('TLS settings; without them the connection is plain TCP.'),
    topics: z
      .strictObject({
        telemetry: topicTemplate('Topic for device telemetry.').default('devices/{deviceId}/messages/events/'),
        moduleTelemetry: topicTemplate('Topic for IoT Edge module telemetry.', MODULE_PLACEHOLDERS).default(
          'devices/{deviceId}/modules/{moduleId}/messages/events/',
        ),
      })
      .prefault({})
      .describe('Publish topics.'),
    username: template('MQTT user name.').optional(),
    password: z.string().optional().describe('MQTT password. Use "${ENV_VAR}".'),
    clientId: template('MQTT client id.').default('{deviceId}'),
  })
  .transform(({ tls, port, ...rest }) => {
    const enabled = tls?.enabled ?? tls !== undefined;
    return {
      ...rest,
      port: port ?? (enabled ? 8883 : 1883),
      tls: {
        enabled,
        rejectUnauthorized: tls?.rejectUnauthorized ?? true,
        ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
      },
    };
  })
  .describe('Any MQTT broker.');

export type IotCentralTargetSettings = z.output<typeof iotCentralTargetSchema>;
export type MqttTargetSettings = z.output<typeof mqttTargetSchema>;
export type IotHubTargetSettings = z.output<typeof iotHubTargetSchema>;

// --- what a device does ------------------------------------------------------------------------------------

const TELEMETRY_NAME = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$/;
const COMMAND_NAME = /^[A-Za-z][A-Za-z0-9_]*(\*[A-Za-z][A-Za-z0-9_]*)?$/;
const PROPERTY_NAME = TELEMETRY_NAME;

const generatorsByName = (key: RegExp, keyHint: string, description: string) =>
  z
    .record(z.string().regex(key, { error: `expected ${keyHint}` }), generatorSpecSchema)
    .default({})
    .describe(description);

export const telemetrySchema = z
  .strictObject({
    interval: positiveDuration
      .prefault('10s')
      .describe('Time between two telemetry messages of one device (default 10s).'),
    values: generatorsByName(
      TELEMETRY_NAME,
      'a telemetry name, or component.name',
      "Generators by telemetry name ('component.name' for a component's telemetry). Names the model has and this does not list get a generator chosen from their schema.",
    ),
    qos: z.literal([0, 1]).default(1).describe('MQTT QoS of telemetry: 0 or 1 (default 1).'),
  })
  .describe('What the device sends, and how often.');

export const propertiesSchema = z
  .strictObject({
    reported: generatorsByName(
      PROPERTY_NAME,
      'a property name, or component.name',
      'Reported properties sent after connecting, by name.',
    ),
    writable: z
      .strictObject({
        ackCode: z.int().min(100).max(599).default(200).describe('The "ac" code of the acknowledgement (default 200).'),
        ackDelay: durationWithDefault('0ms').describe('Time before acknowledging a desired property (default 0ms).'),
        ackDescription: z.string().default('completed').describe('The "ad" text of the acknowledgement.'),
      })
      .prefault({})
      .describe('How writable (desired) properties are acknowledged, the IoT Central way (ac, av, ad).'),
  })
  .describe('Device twin properties.');

export const commandResponseSchema = z
  .strictObject({
    status: z.int().min(100).max(599).default(200).describe('Status code of the response (default 200).'),
    delay: durationWithDefault('0ms').describe('Time before answering (default 0ms).'),
    response: z.json().optional().describe('The response payload (any JSON).'),
  })
  .describe('How one command is answered.');

export const commandsSchema = z
  .record(
    z.string().regex(COMMAND_NAME, { error: 'expected a command name, component*name, or default' }),
    commandResponseSchema,
  )
  .default({})
  .describe("How commands are answered, by name ('component*name' for components); 'default' answers the others.");

// --- IoT Edge modules -----------------------------------------------------------------------------------------

export const MODULE_BEHAVIOURS = [
  'simulated-temperature-sensor',
  'dtdl',
  'filter',
  'passthrough',
  'protocol-translation',
  'identity-translation',
] as const;
const BEHAVIOUR_EXPECTED = `expected one of ${MODULE_BEHAVIOURS.join(' | ')}, or { file: ./my-behaviour.ts }`;

const endpointName = (fallback: string, description: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, { error: 'expected a module input or output name (letters, digits, _ and -)' })
    .default(fallback)
    .describe(`${description} (default ${fallback}).`);

const rate = (description: string) =>
  z
    .number({ error: 'expected a number from 0 to 1' })
    .min(0, { error: 'expected a number from 0 to 1' })
    .max(1, { error: 'expected a number from 0 to 1' })
    .default(0)
    .describe(`${description} (0 to 1, default 0).`);

export const DEFAULT_SENSOR_ID_PATTERN = '{kind}-{index}';

const sensorIdPattern = z
  .string()
  .regex(/^([A-Za-z0-9._:-]|\{kind\}|\{index\})+$/, {
    error: 'expected letters, digits, - . _ : and the placeholders {kind} and {index}',
  })
  .refine((p) => p.includes('{index}'), {
    error: 'expected {index} in the pattern, so that every sensor gets its own id',
  })
  .default(DEFAULT_SENSOR_ID_PATTERN)
  .describe(`Sensor id pattern: {kind} (modbus or ble), {index} (from 1). Default "${DEFAULT_SENSOR_ID_PATTERN}".`);

const translatedSensorSchema = z.discriminatedUnion(
  'kind',
  [
    z
      .strictObject({
        kind: z.literal('modbus'),
        count: wholeNumber(1, 'How many such sensors the module hosts.'),
        idPattern: sensorIdPattern,
        pollInterval: positiveDuration
          .prefault('5s')
          .describe('Time between two polls of one sensor (default 5s); each sensor has its own phase.'),
        registers: z
          .record(
            z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, { error: 'expected a register name' }),
            generatorSpecSchema,
          )
          .describe('Generators by register name.'),
        timeoutRate: rate('Share of polls that time out: no reading, counted as timeouts'),
        staleRate: rate('Share of polls whose registers did not change: the last values again, with stale: true'),
      })
      .describe('Modbus devices whose registers are polled on a period.'),
    z
      .strictObject({
        kind: z.literal('ble'),
        count: wholeNumber(1, 'How many such sensors the module hosts.'),
        idPattern: sensorIdPattern,
        meanInterval: positiveDuration
          .prefault('10s')
          .describe('Mean time between two advertisements of one sensor (Poisson arrivals, default 10s).'),
        values: z
          .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, { error: 'expected a value name' }), generatorSpecSchema)
          .describe('Generators by value name.'),
        lossRate: rate('Share of advertisements missed, counted as lost'),
      })
      .describe('Bluetooth Low Energy sensors whose advertisements arrive at random.'),
  ],
  { error: 'expected kind to be one of modbus | ble' },
);

const protocolTranslationSchema = z
  .strictObject({
    behaviour: z.literal('protocol-translation'),
    output: endpointName('telemetry', 'Output the readings go to'),
    sensors: z
      .array(translatedSensorSchema)
      .min(1, { error: 'expected at least one sensor entry' })
      .describe('The non-IP sensors the module hosts.'),
    reportInterval: positiveDuration
      .prefault('30s')
      .describe("Time between two reports of the sensors' counters in the module twin (default 30s)."),
  })
  .superRefine((module, ctx) => {
    const seen = new Map<string, number>();
    module.sensors.forEach((spec, i) => {
      for (let index = 1; index <= spec.count; index++) {
        const id = spec.idPattern.replace(/\{kind\}/g, spec.kind).replace(/\{index\}/g, String(index));
        const first = seen.get(id);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['sensors', i, 'idPattern'],
            message: `sensor id "${id}" is also made by sensors[${first}]; give the entries different idPatterns`,
          });
          return;
        }
        seen.set(id, i);
      }
    });
  })
  .describe(
    "Hosts sensors that do not speak IP (Modbus polled, BLE advertising) and sends each reading as the module's own telemetry, with sensorId, sensorKind and stale fields; timeouts, stale and lost readings are counted in its reported property sensors.",
  );

export const DEFAULT_TRANSLATED_IDENTITY_PATTERN = '{gateway}-sensor-{index}';

const identityTranslationSchema = z
  .strictObject({
    behaviour: z.literal('identity-translation'),
    sensors: z
      .strictObject({
        count: wholeNumber(1, 'How many sensor identities the module provisions on each IoT Edge device.'),
        idPattern: z
          .string()
          .min(1)
          .default(DEFAULT_TRANSLATED_IDENTITY_PATTERN)
          .superRefine((pattern, ctx) => {
            try {
              const parts = parseIdPattern(pattern, { gateway: true });
              if (!parts.some((part) => 'gateway' in part)) {
                ctx.addIssue({
                  code: 'custom',
                  message:
                    'expected {gateway} in the pattern, so that the sensors of different IoT Edge devices get different ids',
                });
              }
            } catch (error) {
              if (!(error instanceof IdPatternError)) throw error;
              ctx.addIssue({ code: 'custom', message: error.message });
            }
          })
          .describe(
            `Device id pattern of the sensors: {gateway} (the IoT Edge device id), {index} (from 1), {index:NN}, {group}. Default "${DEFAULT_TRANSLATED_IDENTITY_PATTERN}".`,
          ),
        model: modelReference('DTDL model of the sensors; its @id goes into DPS and CONNECT').optional(),
        telemetry: telemetrySchema.prefault({}),
        properties: propertiesSchema.prefault({}),
        commands: commandsSchema,
      })
      .describe('The sensors, each its own device identity, as a device group describes them.'),
  })
  .describe(
    "Provisions each downstream sensor through DPS as its own device (attached to this IoT Edge device and module, IoT Central's pattern) and connects upstream as it; keys derive from the devices group key. Not with the mqtt target.",
  );

const builtInBehaviourSchema = z.discriminatedUnion(
  'behaviour',
  [
    z
      .strictObject({
        behaviour: z.literal('simulated-temperature-sensor'),
        output: endpointName('temperatureOutput', 'Output the readings go to'),
      })
      .describe(
        "Microsoft's SimulatedTemperatureSensor: machine and ambient temperature and humidity; honours SendData and SendInterval.",
      ),
    z
      .strictObject({
        behaviour: z.literal('dtdl'),
        model: modelReference('DTDL model of the telemetry this module sends'),
        output: endpointName('telemetry', 'Output the telemetry goes to'),
        interval: positiveDuration.prefault('10s').describe('Time between two messages (default 10s).'),
        values: generatorsByName(
          TELEMETRY_NAME,
          'a telemetry name',
          'Generators by telemetry name; the others follow the model.',
        ),
      })
      .describe('Sends telemetry generated from a DTDL model.'),
    z
      .strictObject({
        behaviour: z.literal('filter'),
        input: endpointName('input1', 'Input messages arrive on'),
        output: endpointName('output1', 'Output messages that pass go to'),
        condition: z.string().min(1).describe('A route-style condition, e.g. "$body.machine.temperature > 25".'),
      })
      .describe('Forwards a message from input to output when the condition holds.'),
    z
      .strictObject({
        behaviour: z.literal('passthrough'),
        input: endpointName('input1', 'Input messages arrive on'),
        output: endpointName('output1', 'Output they are forwarded to'),
      })
      .describe('Forwards every message from input to output.'),
    protocolTranslationSchema,
    identityTranslationSchema,
  ],
  { error: BEHAVIOUR_EXPECTED },
);

const customBehaviourSchema = z
  .strictObject({
    behaviour: z
      .strictObject(
        { file: filePath('A TypeScript or JavaScript module exporting the behaviour') },
        { error: BEHAVIOUR_EXPECTED },
      )
      .describe('A custom behaviour.'),
    options: z.record(z.string(), z.unknown()).optional().describe('Passed to the custom behaviour as is.'),
  })
  .transform(({ behaviour, options }) => ({
    behaviour: 'custom' as const,
    file: behaviour.file,
    options: options ?? {},
  }));

export const moduleBehaviourSchema = z
  .union([builtInBehaviourSchema, customBehaviourSchema])
  .describe(
    'How one module of the manifest behaves. A module without an entry behaves by its image: simulated-temperature-sensor when the image name contains it, passthrough otherwise.',
  );

export type ModuleBehaviour = z.output<typeof moduleBehaviourSchema>;
export type ModuleBehaviourKind = ModuleBehaviour['behaviour'];

// --- groups -----------------------------------------------------------------------------------------------------

const commonGroupFields = {
  group: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, { error: 'expected a group name: letters, digits, _ and -, at most 64' })
    .describe('Name of the group, unique in the scenario.'),
  count: wholeNumber(1, 'How many identities the group has.'),
  idPattern: z
    .string()
    .min(1)
    .optional()
    .describe(
      `Device id pattern: {index} (counting from firstIndex), {index:NN} zero-padded to NN digits, {group}. Default "${DEFAULT_ID_PATTERN}". Not with auth: connectionString.`,
    ),
  firstIndex: z.int().min(0).default(1).describe('The {index} of the first identity (default 1).'),
  auth: z
    .enum(AUTH_KINDS)
    .default('sas')
    .describe(
      'sas: a key derived from the DPS group key; x509: a leaf certificate issued from a CA; connectionString: given ones.',
    ),
  connectionStrings: z
    .union([z.array(z.string().min(1)).min(1), z.string().min(1)])
    .optional()
    .describe(
      'With auth: connectionString: one per device (count must match), or a file with one per line. "${ENV_VAR}" works.',
    ),
  model: modelReference('DTDL model of the device; its @id goes into CONNECT and DPS').optional(),
  modelRepository: modelRepositorySchema
    .optional()
    .describe(
      'Where this group (its modules and, unless they name their own, its downstream groups) looks up models named by ' +
        "DTMI; default: the scenario's modelRepository.",
    ),
};

export const deviceGroupSchema = z
  .strictObject({
    ...commonGroupFields,
    kind: z.literal('device'),
    telemetry: telemetrySchema.prefault({}),
    properties: propertiesSchema.prefault({}),
    commands: commandsSchema,
  })
  .describe('A group of plain devices.');

export const DOWNSTREAM_AUTH_KINDS = ['sas', 'x509'] as const;
export const DEFAULT_DOWNSTREAM_ID_PATTERN = '{gateway}-{group}-{index}';

/** Leaf devices behind a transparent gateway: per gateway, countPerGateway of them, each its own identity. */
export const downstreamGroupSchema = z
  .strictObject({
    group: commonGroupFields.group,
    countPerGateway: wholeNumber(1, 'How many leaf devices connect through each gateway of the group.'),
    idPattern: z
      .string()
      .min(1)
      .default(DEFAULT_DOWNSTREAM_ID_PATTERN)
      .superRefine((pattern, ctx) => {
        try {
          const parts = parseIdPattern(pattern, { gateway: true });
          if (!parts.some((part) => 'gateway' in part)) {
            ctx.addIssue({
              code: 'custom',
              message:
                'expected {gateway} in the pattern, so that leaf devices of different gateways get different ids',
            });
          }
        } catch (error) {
          if (!(error instanceof IdPatternError)) throw error;
          ctx.addIssue({ code: 'custom', message: error.message });
        }
      })
      .describe(
        `Device id pattern: {gateway} (the gateway's device id), {index} (counting from firstIndex for each gateway), {index:NN}, {group}. Default "${DEFAULT_DOWNSTREAM_ID_PATTERN}".`,
      ),
    firstIndex: commonGroupFields.firstIndex,
    auth: z
      .enum(DOWNSTREAM_AUTH_KINDS)
      .default('sas')
      .describe(
        'sas: a key derived from the DPS devices group key (default); x509: a leaf certificate issued from a CA (not with iot-central).',
      ),
    model: commonGroupFields.model,
    modelRepository: modelRepositorySchema
      .optional()
      .describe("Where this group looks up models named by DTMI; default: its gateways' group's, else the scenario's."),
    telemetry: telemetrySchema.prefault({}),
    properties: propertiesSchema.prefault({}),
    commands: commandsSchema,
  })
  .describe('A group of downstream (leaf) devices behind each gateway of an IoT Edge group.');

export const edgeGroupSchema = z
  .strictObject({
    ...commonGroupFields,
    kind: z.literal('iotEdge'),
    manifest: filePath('IoT Edge deployment manifest (JSON with modulesContent)'),
    modules: z
      .record(z.string().min(1), moduleBehaviourSchema)
      .default({})
      .describe('How the modules of the manifest behave, by module name.'),
    downstream: z
      .array(downstreamGroupSchema)
      .default([])
      .describe(
        "Leaf devices that connect through each of this group's devices acting as a transparent gateway (its edgeHub).",
      ),
  })
  .describe('A group of IoT Edge devices running a deployment manifest.');

export const fleetGroupSchema = z
  .discriminatedUnion('kind', [deviceGroupSchema, edgeGroupSchema], {
    error: 'expected kind to be one of device | iotEdge',
  })
  .superRefine((group, ctx) => {
    if (group.auth === 'connectionString') {
      if (group.connectionStrings === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['connectionStrings'],
          message: 'required with auth: connectionString (a list, or a file with one per line)',
        });
      } else if (Array.isArray(group.connectionStrings) && group.connectionStrings.length !== group.count) {
        ctx.addIssue({
          code: 'custom',
          path: ['connectionStrings'],
          message: `expected ${group.count} connection strings (one per device, as count says), got ${group.connectionStrings.length}`,
        });
      }
      if (group.idPattern !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['idPattern'],
          message: 'not used with auth: connectionString: each device id comes from its connection string',
        });
      }
    } else {
      if (group.connectionStrings !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['connectionStrings'],
          message: `only with auth: connectionString (this group has auth: ${group.auth})`,
        });
      }
      try {
        parseIdPattern(group.idPattern ?? DEFAULT_ID_PATTERN);
      } catch (error) {
        if (!(error instanceof IdPatternError)) throw error;
        ctx.addIssue({ code: 'custom', path: ['idPattern'], message: error.message });
      }
    }
  })
  .transform((group) =>
    group.auth === 'connectionString' ? group : { ...group, idPattern: group.idPattern ?? DEFAULT_ID_PATTERN },
  );

export type FleetGroup = z.output<typeof fleetGroupSchema>;
export type DeviceGroup = Extract<FleetGroup, { kind: 'device' }>;
export type EdgeGroup = Extract<FleetGroup, { kind: 'iotEdge' }>;
export type DownstreamGroup = z.output<typeof downstreamGroupSchema>;
export type TelemetrySettings = DeviceGroup['telemetry'];
export type PropertySettings = DeviceGroup['properties'];
export type CommandResponse = z.output<typeof commandResponseSchema>;

// --- the scenario ------------------------------------------------------------------------------------------------

export const scenarioSchema = z
  .strictObject({
    $schema: z.string().optional().describe('JSON Schema of this file, for editors.'),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, { error: 'expected a name of lowercase letters, digits and -' })
      .describe('Name of the scenario: lowercase letters, digits and -.'),
    description: z.string().optional().describe('What the scenario is for.'),
    seed: z
      .int()
      .default(1)
      .describe(
        'Seed of every random choice: the same seed gives the same ids, keys, values and schedule (default 1).',
      ),
    target: z
      .enum(TARGET_KINDS)
      .default('emulator')
      .describe('Where the fleet connects (default emulator); --target overrides it.'),
    profile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'A profile name from profiles/ (smoke, ramp, soak, spike, reconnect-storm) or a path relative to this file (default smoke); --profile overrides it.',
      ),
    duration: positiveDuration
      .optional()
      .describe(
        "Run time: overrides the profile's duration when the profile is the scenario's own (profile:, or the " +
          'default). A profile named on the command line (--profile) keeps its own duration; --duration ' +
          'overrides both.',
      ),
    modelRepository: modelRepositorySchema.optional(),
    targets: z
      .strictObject({
        emulator: emulatorTargetSchema.optional(),
        'iot-central': iotCentralTargetSchema.optional(),
        'iot-hub': iotHubTargetSchema.optional(),
        mqtt: mqttTargetSchema.optional(),
      })
      .optional()
      .describe('Settings per target. Values may be "${ENV_VAR}" references, resolved at load time.'),
    fleet: z
      .array(fleetGroupSchema)
      .min(1, { error: 'expected at least one group' })
      .describe('The groups of the fleet, in arrival order.'),
    thresholds: thresholdsSchema,
  })
  .superRefine((scenario, ctx) => {
    const firstAt = new Map<string, string>();
    const claim = (name: string, path: (string | number)[]) => {
      const where = path
        .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`))
        .join('')
        .replace(/\.group$/, '');
      const first = firstAt.get(name);
      if (first === undefined) firstAt.set(name, where);
      else ctx.addIssue({ code: 'custom', path, message: `duplicate group name "${name}" (also ${first})` });
    };
    scenario.fleet.forEach((group, index) => {
      claim(group.group, ['fleet', index, 'group']);
      if (group.kind === 'iotEdge')
        group.downstream.forEach((leaf, j) => claim(leaf.group, ['fleet', index, 'downstream', j, 'group']));
    });
  })
  .describe('An edgefleet scenario: what the fleet is.');

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;
