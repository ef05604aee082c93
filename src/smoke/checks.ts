// The checks a person would make in the application after bringing up one gateway of a pattern. Each factory
// returns a CheckDefinition; patterns.ts says which checks each pattern runs, on which group and names.
import { fail, isRecord, pass, shown, until, type CheckContext, type CheckDefinition, type Verdict } from './check.js';
import { SmokeApi, type ApiReply } from './api.js';
import type { HubServiceClient } from '../endpoints/hub-service-client.js';

/** The first identity of a group: smoke fleets have one gateway. */
function firstOf(ctx: CheckContext, group: string): string {
  const id = ctx.identities.find((i) => i.group === group)?.deviceId;
  if (id === undefined) throw new Error(`the scenario has no identity in group "${group}"`);
  return id;
}

function api(ctx: CheckContext): SmokeApi {
  if (ctx.api === undefined) throw new Error('no service API');
  return ctx.api;
}

const TELEMETRY_NOT_ON_HUB =
  "telemetry is read back from IoT Central's API; an IoT Hub keeps none to read (it hands it on to its Event " +
  'Hub-compatible endpoint, over AMQP)';

/**
 * A device's (or module's) properties as IoT Central shows them, or, on an IoT Hub, the reported section of its twin
 * (the same names: IoT Central's view is the reported section with acknowledgements unwrapped).
 */
async function reportedOf(ctx: CheckContext, deviceId: string, moduleId?: string): Promise<ApiReply> {
  if (ctx.hub === undefined) return api(ctx).get(`${SmokeApi.devicePath(deviceId, moduleId)}/properties`);
  try {
    const twin = await ctx.hub.getTwin(deviceId, moduleId);
    return { status: 200, json: twin.properties?.reported ?? {} };
  } catch (err) {
    return { status: (err as { status?: number }).status ?? 0, json: (err as Error).message };
  }
}

interface Ack {
  ackCode: unknown;
  ackVersion: unknown;
  value: unknown;
}

/** The acknowledgement of a writable property: IoT Central's $metadata, or the twin's reported `{value, ac, av}`. */
async function ackOf(
  ctx: CheckContext,
  deviceId: string,
  moduleId: string | undefined,
  property: string,
): Promise<Ack | { status: number } | undefined> {
  const r = await reportedOf(ctx, deviceId, moduleId);
  if (r.status !== 200) return { status: r.status };
  const body = isRecord(r.json) ? r.json : {};
  if (ctx.hub !== undefined) {
    const reported = isRecord(body[property]) ? body[property] : {};
    return { ackCode: reported.ac, ackVersion: reported.av, value: reported.value };
  }
  const meta = isRecord(body.$metadata) && isRecord(body.$metadata[property]) ? body.$metadata[property] : {};
  return { ackCode: meta.ackCode, ackVersion: meta.ackVersion, value: body[property] };
}

/** The gateway's relationships in IoT Central's API: the ids they point at, or what went wrong. */
async function relationshipTargets(ctx: CheckContext, gateway: string): Promise<string[] | string> {
  const r = await api(ctx).get(`${SmokeApi.devicePath(gateway)}/relationships`);
  if (r.status !== 200) return `HTTP ${r.status} ${shown(r.json)}`;
  return (isRecord(r.json) && Array.isArray(r.json.value) ? r.json.value : []).map((rel: unknown) =>
    isRecord(rel) ? String(rel.target) : '?',
  );
}

/** On an IoT Hub: which of these devices have the gateway's scope among their parent scopes. */
async function children(hub: HubServiceClient, gateway: string, ids: readonly string[]): Promise<string[] | string> {
  const scope = (await hub.getDevice(gateway)).deviceScope;
  if (scope === undefined) return `${gateway} has no deviceScope`;
  const found: string[] = [];
  for (const id of ids) {
    const device = await hub.getDevice(id).catch(() => undefined);
    if (device?.parentScopes?.includes(scope) === true || device?.deviceScope === scope) found.push(id);
  }
  return found;
}

const where = (deviceId: string, moduleId?: string) => (moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`);

/** `$edgeAgent` reports each named module (and edgeHub) with runtimeStatus running. */
export function modulesRunning(group: string, modules: string[]): CheckDefinition {
  return {
    name: 'modules-running',
    describe: `$edgeAgent's reported properties list ${['edgeHub', ...modules].join(', ')} with runtimeStatus "running"`,
    when: 'live',
    needsService: true,
    run: async (ctx) => {
      const device = firstOf(ctx, group);
      const expected = `${device}: ${['edgeHub', ...modules].map((m) => `${m}=running`).join(', ')}`;
      return until(ctx.deadline, expected, async () => {
        const r = await reportedOf(ctx, device, '$edgeAgent');
        if (r.status !== 200) return fail(expected, `GET $edgeAgent properties: HTTP ${r.status} ${shown(r.json)}`);
        const body = isRecord(r.json) ? r.json : {};
        const status = (section: unknown, name: string) => {
          const m = isRecord(section) ? section[name] : undefined;
          return isRecord(m) && typeof m.runtimeStatus === 'string' ? m.runtimeStatus : 'absent';
        };
        const seenAll = [
          `edgeHub=${status(body.systemModules, 'edgeHub')}`,
          ...modules.map((m) => `${m}=${status(body.modules, m)}`),
        ];
        const ok = seenAll.every((s) => s.endsWith('=running'));
        return { passed: ok, expected, seen: `${device}: ${seenAll.join(', ')}` };
      });
    },
  };
}

/**
 * The latest value of each named telemetry field is kept under the identity it came from (`{device}/{module}`
 * for a module) and not under the device itself.
 */
export function moduleTelemetry(
  group: string,
  moduleId: string,
  fields: string[],
  every?: { field: string; values: string[] },
): CheckDefinition {
  const names = fields.map((f) => `"${f}"`).join(', ');
  const kinds = every === undefined ? '' : `, ${every.field} seen as each of ${every.values.join(', ')}`;
  return {
    name: 'telemetry-attribution',
    describe: `telemetry ${names} arrives as the module's own ({device}/${moduleId}), not as the device's${kinds}`,
    when: 'live',
    needsService: true,
    notOnHub: TELEMETRY_NOT_ON_HUB,
    run: async (ctx) => {
      const device = firstOf(ctx, group);
      const expected = `${names} under ${where(device, moduleId)}, none under ${device}${kinds}`;
      // The API keeps only the latest value, so the kinds are gathered over the polls.
      const kindsSeen = new Set<string>();
      return until(
        ctx.deadline,
        expected,
        async () => {
          const seen: string[] = [];
          let ok = true;
          for (const field of fields) {
            const m = await api(ctx).get(
              `${SmokeApi.devicePath(device, moduleId)}/telemetry/${encodeURIComponent(field)}`,
            );
            ok &&= m.status === 200;
            const value = m.status === 200 && isRecord(m.json) ? m.json.value : undefined;
            if (every !== undefined && field === every.field && typeof value === 'string') kindsSeen.add(value);
            seen.push(`${field}: ${m.status === 200 ? shown(value) : `HTTP ${m.status}`}`);
            const d = await api(ctx).get(`${SmokeApi.devicePath(device)}/telemetry/${encodeURIComponent(field)}`);
            if (d.status === 200) {
              ok = false;
              seen.push(`${field} also under ${device}`);
            }
          }
          if (every !== undefined) {
            ok &&= every.values.every((v) => kindsSeen.has(v));
            seen.push(`${every.field} seen: ${[...kindsSeen].join(', ') || 'none'}`);
          }
          return { passed: ok, expected, seen: `${where(device, moduleId)}: ${seen.join('; ')}` };
        },
        every === undefined ? 500 : 250,
      );
    },
  };
}

/** The module's reported `sensors` property lists each hosted sensor with readings taken. */
export function sensorsReported(group: string, moduleId: string, sensorIds: string[]): CheckDefinition {
  return {
    name: 'sensors-reported',
    describe: `module ${moduleId}'s reported "sensors" lists ${sensorIds.join(', ')}, each with readings > 0`,
    when: 'live',
    needsService: true,
    run: async (ctx) => {
      const device = firstOf(ctx, group);
      const expected = `${where(device, moduleId)} sensors: ${sensorIds.map((id) => `${id} readings > 0`).join(', ')}`;
      return until(ctx.deadline, expected, async () => {
        const r = await reportedOf(ctx, device, moduleId);
        if (r.status !== 200) return fail(expected, `GET properties: HTTP ${r.status}`);
        const sensors = isRecord(r.json) && isRecord(r.json.sensors) ? r.json.sensors : {};
        const readings = (id: string) => {
          const c = sensors[id];
          return isRecord(c) && typeof c.readings === 'number' ? c.readings : undefined;
        };
        const seen = sensorIds
          .map((id) => `${id} ${readings(id) === undefined ? 'absent' : `readings ${readings(id)}`}`)
          .join(', ');
        return {
          passed: sensorIds.every((id) => (readings(id) ?? 0) > 0),
          expected,
          seen: `${where(device, moduleId)} sensors: ${seen}`,
        };
      });
    },
  };
}

/** A command through the service API reaches the device (or module) and its answer comes back. */
export function commandRoundTrip(opts: {
  group: string;
  moduleId?: string;
  command: string;
  request?: unknown;
  status?: number;
}): CheckDefinition {
  const status = opts.status ?? 200;
  return {
    name: 'command-round-trip',
    describe: `command "${opts.command}" on ${opts.moduleId === undefined ? 'the device' : `module ${opts.moduleId}`} answers ${status}`,
    when: 'live',
    needsService: true,
    run: async (ctx) => {
      const device = firstOf(ctx, opts.group);
      const expected = `${where(device, opts.moduleId)} "${opts.command}" → responseCode ${status}`;
      const service = ctx.service;
      if (service === undefined) return fail(expected, 'no service API');
      return until(
        ctx.deadline,
        expected,
        async () => {
          const left = Math.floor((ctx.deadline - Date.now()) / 1000);
          const r = await service.invokeCommand(device, opts.command, opts.request, {
            ...(opts.moduleId === undefined ? {} : { moduleId: opts.moduleId }),
            responseTimeoutSeconds: Math.max(5, Math.min(10, left)),
          });
          const seen = `responseCode ${r.responseCode}${r.response === undefined || r.response === null ? '' : ` ${shown(r.response)}`}`;
          // The device answered: that is its answer, asking again would not change it.
          return { passed: r.responseCode === status, expected, seen, final: true };
        },
        1000,
      );
    },
  };
}

/** A desired write is acknowledged by the device (ac 200, av = the written version, the value echoed). */
export function writableAcknowledged(opts: {
  group: string;
  moduleId?: string;
  property: string;
  value: unknown;
}): CheckDefinition {
  return {
    name: 'writable-property-ack',
    describe: `writing ${opts.property}=${shown(opts.value)} on ${opts.moduleId === undefined ? 'the device' : `module ${opts.moduleId}`} is acknowledged (ac 200, av = the desired version)`,
    when: 'live',
    needsService: true,
    run: async (ctx) => {
      const device = firstOf(ctx, opts.group);
      const service = ctx.service;
      const target = where(device, opts.moduleId);
      if (service === undefined) return fail(`${target} acknowledges ${opts.property}`, 'no service API');
      const scope = opts.moduleId === undefined ? {} : { moduleId: opts.moduleId };
      let version: number | undefined;
      const written = await until(
        ctx.deadline,
        `PATCH ${target} ${opts.property} accepted`,
        async () => {
          version = await service.writeProperties(device, { [opts.property]: opts.value }, scope);
          return pass('', '');
        },
        1000,
      );
      if (!written.passed) return written;
      const expected = `${target} ${opts.property}: ackCode 200, ackVersion ${version ?? '(the desired version)'}, value ${shown(opts.value)}`;
      return until(ctx.deadline, expected, async () => {
        const r = await ackOf(ctx, device, opts.moduleId, opts.property);
        if (r === undefined) return fail(expected, 'GET properties: no answer');
        if ('status' in r) return fail(expected, `GET properties: HTTP ${r.status}`);
        const meta = r;
        const seen = `ackCode ${shown(meta.ackCode)}, ackVersion ${shown(meta.ackVersion)}, value ${shown(meta.value)}`;
        const ok =
          meta.ackCode === 200 &&
          (version === undefined || meta.ackVersion === version) &&
          JSON.stringify(meta.value) === JSON.stringify(opts.value);
        // An acknowledgement of this write (or a later one) with another code is the device's answer.
        const answered = typeof meta.ackVersion === 'number' && version !== undefined && meta.ackVersion >= version;
        return { passed: ok, expected, seen, final: answered };
      });
    },
  };
}

/** GET /api/devices/{gateway}/relationships lists each downstream identity the pattern creates. */
export function gatewayRelationship(
  group: string,
  count: number,
  idOf: (gateway: string, index: number) => string,
): CheckDefinition {
  return {
    name: 'gateway-relationship',
    describe: `the gateway's relationships list its ${count} downstream identities`,
    when: 'live',
    needsService: true,
    run: async (ctx) => {
      const gateway = firstOf(ctx, group);
      const wanted = Array.from({ length: count }, (_, i) => idOf(gateway, i + 1));
      const expected = `${gateway} → ${wanted.join(', ')}`;
      return until(ctx.deadline, expected, async () => {
        const targets =
          ctx.hub === undefined ? await relationshipTargets(ctx, gateway) : await children(ctx.hub, gateway, wanted);
        if (typeof targets === 'string') return fail(expected, targets);
        const ok = wanted.every((w) => targets.includes(w));
        return {
          passed: ok,
          expected,
          seen: `${gateway} → ${targets.length === 0 ? 'no relationships' : targets.join(', ')}`,
        };
      });
    },
  };
}

/** Each downstream identity's telemetry is kept under its own id, not the gateway's. */
export function downstreamTelemetry(
  group: string,
  count: number,
  idOf: (gateway: string, index: number) => string,
  telemetry: string,
): CheckDefinition {
  return {
    name: 'telemetry-attribution',
    describe: `"${telemetry}" telemetry of each downstream identity arrives under its own id, not the gateway's`,
    when: 'live',
    needsService: true,
    notOnHub: TELEMETRY_NOT_ON_HUB,
    run: async (ctx) => {
      const gateway = firstOf(ctx, group);
      const ids = Array.from({ length: count }, (_, i) => idOf(gateway, i + 1));
      const expected = `"${telemetry}" under ${ids.join(', ')}, none under ${gateway}`;
      return until(ctx.deadline, expected, async () => {
        const seen: string[] = [];
        let ok = true;
        for (const id of ids) {
          const r = await api(ctx).get(`${SmokeApi.devicePath(id)}/telemetry/${encodeURIComponent(telemetry)}`);
          ok &&= r.status === 200;
          seen.push(`${id}: ${r.status === 200 && isRecord(r.json) ? shown(r.json.value) : `HTTP ${r.status}`}`);
        }
        const g = await api(ctx).get(`${SmokeApi.devicePath(gateway)}/telemetry/${encodeURIComponent(telemetry)}`);
        if (g.status === 200) {
          ok = false;
          seen.push(`also under ${gateway}`);
        }
        return { passed: ok, expected, seen: seen.join('; ') };
      });
    },
  };
}

/** A command or a desired write addressed to a downstream identity is answered by it (through the gateway). */
export function downstreamCommand(opts: {
  group: string;
  idOf: (gateway: string, index: number) => string;
  command: string;
  request?: unknown;
  status?: number;
}): CheckDefinition {
  const inner = commandRoundTrip({
    group: opts.group,
    command: opts.command,
    ...(opts.request === undefined ? {} : { request: opts.request }),
    ...(opts.status === undefined ? {} : { status: opts.status }),
  });
  return {
    ...inner,
    describe: `command "${opts.command}" on the first downstream identity is answered ${opts.status ?? 200} through the gateway`,
    run: (ctx) =>
      inner.run({
        ...ctx,
        identities: [{ ...firstIdentity(ctx, opts.group), deviceId: opts.idOf(firstOf(ctx, opts.group), 1) }],
      }),
  };
}

export function downstreamWritable(opts: {
  group: string;
  idOf: (gateway: string, index: number) => string;
  property: string;
  value: unknown;
}): CheckDefinition {
  const inner = writableAcknowledged({ group: opts.group, property: opts.property, value: opts.value });
  return {
    ...inner,
    describe: `writing ${opts.property}=${shown(opts.value)} on the first downstream identity is acknowledged by it (ac 200, av)`,
    run: (ctx) =>
      inner.run({
        ...ctx,
        identities: [{ ...firstIdentity(ctx, opts.group), deviceId: opts.idOf(firstOf(ctx, opts.group), 1) }],
      }),
  };
}

function firstIdentity(ctx: CheckContext, group: string) {
  const i = ctx.identities.find((x) => x.group === group);
  if (i === undefined) throw new Error(`the scenario has no identity in group "${group}"`);
  return i;
}

/** Every message is accounted, and none was lost (failed, or acknowledged but never received by the emulator). */
export function ledgerBalanced(opts: { allowExpired?: boolean } = {}): CheckDefinition {
  return {
    name: 'ledger-balanced',
    describe:
      'generated = acknowledged + failed + expired + dropped + in flight; failed 0' +
      (opts.allowExpired ? '' : ', nothing expired') +
      '; against the emulator, everything acknowledged was received',
    when: 'after',
    needsService: false,
    run: (ctx) => Promise.resolve(ledgerVerdict(ctx, opts.allowExpired === true)),
  };
}

/** The ledger of the run's summary (read after the run: nothing to wait for). */
function ledgerVerdict(ctx: CheckContext, allowExpired: boolean): Verdict {
  const s = ctx.summary;
  const emulator = ctx.targetKind === 'emulator';
  const expected =
    `balanced, generated > 0, failed 0${allowExpired ? '' : ', expired 0'}` +
    (emulator ? ', acknowledgedNotReceived 0' : '');
  if (s === undefined) return fail(expected, 'no summary');
  const l = s.ledger;
  const sum = l.acknowledged + l.failed + l.expired + l.dropped + l.inFlight;
  const rec = s.reconciliation;
  const seen =
    `generated ${l.generated} = acknowledged ${l.acknowledged} + failed ${l.failed} + expired ${l.expired} + dropped ${l.dropped} + inFlight ${l.inFlight}` +
    (typeof rec?.acknowledgedNotReceived === 'number'
      ? `; acknowledgedNotReceived ${rec.acknowledgedNotReceived}`
      : '');
  const ok =
    l.balanced &&
    sum === l.generated &&
    l.generated > 0 &&
    l.failed === 0 &&
    (allowExpired || l.expired === 0) &&
    (!emulator || (rec !== null && rec.acknowledgedNotReceived === 0));
  return { passed: ok, expected, seen };
}

/**
 * After the outage, what edgeHub stored was delivered late; messages past their route's TTL were counted as
 * expired (or none, as the scenario says); nothing is left in the store at the end.
 */
export function storeAndForward(opts: { expectExpired: 'none' | 'some' }): CheckDefinition {
  return {
    name: 'store-and-forward',
    describe: `messages stored during the upstream outage are delivered after it (deliveredLate > 0, none left stored), ${opts.expectExpired === 'none' ? 'none expired' : "those past their route's TTL counted as expired"}`,
    when: 'after',
    needsService: false,
    run: (ctx) => Promise.resolve(storeAndForwardVerdict(ctx, opts.expectExpired)),
  };
}

function storeAndForwardVerdict(ctx: CheckContext, expectExpired: 'none' | 'some'): Verdict {
  const expected = `deliveredLate > 0, stored 0 at the end, expired ${expectExpired === 'none' ? '= 0' : '> 0'}`;
  const l = ctx.summary?.ledger;
  if (l === undefined) return fail(expected, 'no summary');
  const seen = `deliveredLate ${l.deliveredLate}, stored ${l.stored}, expired ${l.expired} (of ${l.generated} generated)`;
  const ok = l.deliveredLate > 0 && l.stored === 0 && (expectExpired === 'none' ? l.expired === 0 : l.expired > 0);
  return { passed: ok, expected, seen };
}
