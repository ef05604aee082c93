// How load happens over time, as an open model (k6's arrival-rate executors): identities arrive at a rate
// that follows stages, whatever the target's response time; service-side actions also come at a rate.
import { z } from 'zod';
import { durationSchema, durationWithDefault, formatDuration } from './duration.js';
import { generatorSpecSchema } from './generators.js';

const groupName = z
  .string()
  .min(1)
  .describe('Only identities of this group (default: every group the action applies to).');
const moduleName = z
  .string()
  .min(1)
  .describe('IoT Edge module to address; without it, the action goes to plain devices.');

export const stageSchema = z
  .strictObject({
    duration: durationSchema.describe(
      'How long the rate takes to go from the previous target to this one (0s: a jump).',
    ),
    target: z.number().nonnegative().describe('Arrival rate (identities per second) at the end of the stage.'),
  })
  .describe('A stage: the arrival rate moves linearly to target over duration.');

export const arrivalsSchema = z
  .strictObject({
    startRate: z
      .number()
      .nonnegative()
      .default(0)
      .describe('Arrival rate (identities per second) at the start (default 0).'),
    stages: z
      .array(stageSchema)
      .default([])
      .describe('Stages in order; after the last one its target holds. Arrivals stop once every identity has arrived.'),
  })
  .superRefine((arrivals, ctx) => {
    const anyRate = arrivals.startRate > 0 || arrivals.stages.some((stage) => stage.target > 0);
    if (!anyRate)
      ctx.addIssue({ code: 'custom', path: ['stages'], message: 'every rate is 0, so nobody would ever arrive' });
  })
  .describe('How identities arrive (connect for the first time): a piecewise-linear rate in identities per second.');

export const commandActionSchema = z
  .strictObject({
    kind: z.literal('command'),
    ratePerSecond: z.number().positive().describe('Commands per second across the fleet.'),
    group: groupName.optional(),
    module: moduleName.optional(),
    command: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_]*(\*[A-Za-z][A-Za-z0-9_]*)?$/, {
        error: 'expected a command name, or component*name',
      })
      .describe("Command name ('component*name' for a component's command)."),
    request: z.json().optional().describe('The request payload (any JSON).'),
  })
  .describe('Invoke a command on a random connected identity, at a rate.');

export const writePropertyActionSchema = z
  .strictObject({
    kind: z.literal('writeProperty'),
    ratePerSecond: z.number().positive().describe('Property writes per second across the fleet.'),
    group: groupName.optional(),
    module: moduleName.optional(),
    property: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$/, {
        error: 'expected a property name, or component.name',
      })
      .describe("Writable property name ('component.name' for a component's property)."),
    value: generatorSpecSchema.describe('How each written value is generated.'),
  })
  .describe('Write a desired property on a random connected identity, at a rate.');

export const actionSchema = z.discriminatedUnion('kind', [commandActionSchema, writePropertyActionSchema], {
  error: 'expected kind to be one of command | writeProperty',
});

export const dropConnectionsEventSchema = z
  .strictObject({
    at: durationSchema.describe('When, from the start of the run.'),
    kind: z.literal('dropConnections'),
    fraction: z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe('Fraction of the connected identities to drop, 0..1 (default 1).'),
    group: groupName.optional(),
  })
  .describe('Abruptly close connections on the client side; they reconnect with backoff.');

export const targetOutageEventSchema = z
  .strictObject({
    at: durationSchema.describe('When, from the start of the run.'),
    kind: z.literal('targetOutage'),
    duration: durationSchema
      .refine((ms) => ms > 0, { error: 'expected a duration > 0' })
      .describe('How long the target is unreachable.'),
    group: groupName.optional(),
  })
  .describe(
    "The upstream of the IoT Edge devices (all, or a group's) goes away for a while: the emulator drops and refuses their " +
      'connections (and those of the devices they relay); other targets are held unreachable on the client side. ' +
      'edgeHub stores what its routes send upstream meanwhile, and forwards it on reconnect.',
  );

export const networkDropEventSchema = z
  .strictObject({
    at: durationSchema.describe('When, from the start of the run.'),
    kind: z.literal('networkDrop'),
    fraction: z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe('Fraction of the identities with open connections whose sockets are cut, 0..1 (default 1).'),
    group: groupName.optional(),
  })
  .describe(
    'The network fails under the chosen identities: every socket they have open is destroyed at once, with no ' +
      'MQTT DISCONNECT and no word to their clients, which find out as they would from a dead network (an IoT Edge ' +
      "device's modules and downstream devices' upstream connections included); they reconnect with backoff.",
  );

export const targetRestartEventSchema = z
  .strictObject({
    at: durationSchema.describe('When, from the start of the run.'),
    kind: z.literal('targetRestart'),
    duration: durationSchema
      .refine((ms) => ms >= 0, { error: 'expected a duration >= 0' })
      .describe('How long the emulator stays down before it starts again on the same ports and state dir.'),
  })
  .describe(
    'The embedded emulator that edgefleet started is killed (SIGKILL) and started again after duration, on the same ' +
      'ports and state directory. Only with the embedded emulator as the target.',
  );

export const eventSchema = z.discriminatedUnion(
  'kind',
  [dropConnectionsEventSchema, targetOutageEventSchema, networkDropEventSchema, targetRestartEventSchema],
  { error: 'expected kind to be one of dropConnections | targetOutage | networkDrop | targetRestart' },
);

export const profileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('JSON Schema of this file, for editors.'),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, { error: 'expected a name of lowercase letters, digits and -' })
      .describe('Name of the profile: lowercase letters, digits and -.'),
    description: z.string().optional().describe('What the profile shows.'),
    duration: durationSchema.refine((ms) => ms > 0, { error: 'expected a duration > 0' }).describe('Total run time.'),
    arrivals: arrivalsSchema,
    rampDown: durationSchema
      .optional()
      .describe('During the last rampDown of the run, identities disconnect, evenly spread.'),
    telemetry: z
      .strictObject({
        rateMultiplier: z
          .number()
          .positive()
          .default(1)
          .describe("Scales every group's telemetry rate (2: twice as often)."),
      })
      .prefault({})
      .describe('Telemetry across the fleet.'),
    actions: z.array(actionSchema).default([]).describe('Service-side actions at a rate (open model).'),
    events: z.array(eventSchema).default([]).describe('One-off events at a time.'),
    drain: durationWithDefault('5s').describe('Longest wait for in-flight acknowledgements at the end (default 5s).'),
  })
  .superRefine((profile, ctx) => {
    if (profile.rampDown !== undefined && profile.rampDown > profile.duration) {
      ctx.addIssue({
        code: 'custom',
        path: ['rampDown'],
        message: `expected at most the duration (${formatDuration(profile.duration)}), got ${formatDuration(profile.rampDown)}`,
      });
    }
    profile.events.forEach((event, index) => {
      if (event.at >= profile.duration) {
        ctx.addIssue({
          code: 'custom',
          path: ['events', index, 'at'],
          message: `expected a time before the end of the run (${formatDuration(profile.duration)}), got ${formatDuration(event.at)}`,
        });
      }
    });
  })
  .describe('An edgefleet profile: how load happens over time.');

export type Profile = z.output<typeof profileSchema>;
export type ProfileInput = z.input<typeof profileSchema>;
export type ArrivalStage = z.output<typeof stageSchema>;
export type Arrivals = z.output<typeof arrivalsSchema>;
export type ProfileAction = z.output<typeof actionSchema>;
export type CommandAction = z.output<typeof commandActionSchema>;
export type WritePropertyAction = z.output<typeof writePropertyActionSchema>;
export type ProfileEvent = z.output<typeof eventSchema>;
