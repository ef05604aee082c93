// Rows of the emulator's database to and from what it keeps in memory: one writer per table, each writing the
// thing as it is now (or deleting it when it is gone), and the loading of everything at start.
import type Database from 'better-sqlite3';
import type { IotcGateway } from '../protocol/index.js';
import type { DpsGroup, DpsRegistration } from './dps-operations.js';
import type { MqttFront } from './mqtt-front.js';
import type { Authentication, DeviceIdentity, ModuleIdentity, Registry } from './registry.js';
import { relationshipKey, type CloudService, type CommandRecord, type DeploymentManifest } from './service.js';
import { IDENTITY_COUNTERS, newIdentityStats, type EmulatorStats, type RecordedTotals } from './stats.js';
import type { Json, JsonObject, TwinSection } from './twin.js';

/** What the store records and restores. */
export interface StoreParts {
  registry: Registry;
  stats: EmulatorStats;
  service: CloudService;
  front: MqttFront;
}

/** identity_stats columns, in IDENTITY_COUNTERS' order: `twinGets` is `twin_gets`. */
const COLUMNS = IDENTITY_COUNTERS.map((c) => c.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`));
const DEVICE_COLUMNS = [
  'id',
  'display_name',
  'iot_edge',
  'enabled',
  'simulated',
  'provisioned',
  'model_id',
  'gateway_id',
  'gateway_module_id',
  'auth_type',
  'primary_key',
  'secondary_key',
  'generation_id',
  'created_at',
  'etag',
  'deployment_manifest_id',
  'status_reason',
];
const MODULE_COLUMNS = [
  'device_id',
  'module_id',
  'generation_id',
  'managed_by',
  'auth_type',
  'primary_key',
  'secondary_key',
  'created_at',
  'etag',
];
const bool = (b: boolean) => (b ? 1 : 0);

function authColumns(a: Authentication) {
  const keys = a.type === 'sas' ? a.keys : undefined;
  return { auth_type: a.type, primary_key: keys?.primaryKey ?? null, secondary_key: keys?.secondaryKey ?? null };
}

function deviceRow(d: DeviceIdentity) {
  return {
    id: d.id,
    display_name: d.displayName,
    iot_edge: bool(d.iotEdge),
    enabled: bool(d.enabled),
    simulated: bool(d.simulated),
    provisioned: bool(d.provisioned),
    model_id: d.modelId ?? null,
    gateway_id: d.gateway?.iotcGatewayId ?? null,
    gateway_module_id: d.gateway?.iotcModuleId ?? null,
    ...authColumns(d.authentication),
    generation_id: d.generationId,
    created_at: d.createdAt,
    etag: d.etag,
    deployment_manifest_id: d.deploymentManifestId ?? null,
    status_reason: d.statusReason ?? null,
  };
}

function moduleRow(m: ModuleIdentity) {
  return {
    device_id: m.deviceId,
    module_id: m.moduleId,
    generation_id: m.generationId,
    managed_by: m.managedBy ?? null,
    ...authColumns(m.authentication),
    created_at: m.createdAt,
    etag: m.etag,
  };
}

const sectionColumns = (s: TwinSection) =>
  [JSON.stringify(s.value), s.version, JSON.stringify(Object.fromEntries(s.updatedAt))] as const;

/** `module|component|name` split at its first two bars (joined again, it is the same key). */
function splitLastValueKey(key: string): [string, string, string] {
  const first = key.indexOf('|');
  const second = key.indexOf('|', first + 1);
  return [key.slice(0, first), key.slice(first + 1, second), key.slice(second + 1)];
}

const insert = (table: string, columns: string[]) =>
  `INSERT OR REPLACE INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`;

/** The prepared statements of every write, and one method per kind of change. */
export class TableWriter {
  private readonly s;

  constructor(
    private readonly db: Database.Database,
    private readonly parts: StoreParts,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      device: p(insert('devices', DEVICE_COLUMNS)),
      module: p(insert('modules', MODULE_COLUMNS)),
      twin: p(
        'INSERT OR REPLACE INTO twins (device_id, module_id, desired, desired_version, desired_updated, reported, ' +
          'reported_version, reported_updated, tags, tags_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      deleteTwin: p('DELETE FROM twins WHERE device_id = ? AND module_id = ?'),
      lastValue: p('INSERT OR REPLACE INTO last_values VALUES (?, ?, ?, ?, ?, ?)'),
      deleteLastValue: p(
        'DELETE FROM last_values WHERE device_id = ? AND module_id = ? AND component = ? ' + 'AND name = ?',
      ),
      stats: p(
        `INSERT OR REPLACE INTO identity_stats (identity, ${COLUMNS.join(', ')}) ` +
          `VALUES (?, ${COLUMNS.map(() => '?').join(', ')})`,
      ),
      totals: p('INSERT OR REPLACE INTO totals (name, value) VALUES (?, ?)'),
      deleteC2d: p('DELETE FROM c2d_messages WHERE device_id = ?'),
      c2d: p('INSERT INTO c2d_messages (device_id, seq, body, properties) VALUES (?, ?, ?, ?)'),
      manifest: p('INSERT OR REPLACE INTO manifests VALUES (?, ?, ?, ?, ?)'),
      deleteManifest: p('DELETE FROM manifests WHERE id = ?'),
      history: p('INSERT OR REPLACE INTO command_history (command_key, device_id, records) VALUES (?, ?, ?)'),
      deleteHistory: p('DELETE FROM command_history WHERE command_key = ?'),
      relationship: p('INSERT OR REPLACE INTO relationship_ids (source, target, id) VALUES (?, ?, ?)'),
      deleteRelationship: p('DELETE FROM relationship_ids WHERE source = ? AND target = ?'),
      registration: p('INSERT OR REPLACE INTO dps_registrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      deleteRegistration: p('DELETE FROM dps_registrations WHERE registration_id = ?'),
    };
  }

  /** Everything recorded under the device id goes, but its identity counts and DPS registration (told apart). */
  deleteDevice(id: string): void {
    for (const table of ['devices', 'modules', 'twins', 'last_values', 'c2d_messages', 'command_history']) {
      this.db.prepare(`DELETE FROM ${table} WHERE ${table === 'devices' ? 'id' : 'device_id'} = ?`).run(id);
    }
    this.db.prepare('DELETE FROM relationship_ids WHERE source = ? OR target = ?').run(id, id);
  }

  deleteModule(deviceId: string, moduleId: string): void {
    for (const table of ['modules', 'twins', 'last_values']) {
      this.db.prepare(`DELETE FROM ${table} WHERE device_id = ? AND module_id = ?`).run(deviceId, moduleId);
    }
  }

  /** The device's row and its modules' (a device gone was deleted through deleteDevice). */
  device(id: string): void {
    const device = this.parts.registry.get(id);
    if (device === undefined) return;
    this.s.device.run(deviceRow(device));
    for (const m of device.modules.values()) this.s.module.run(moduleRow(m));
  }

  twin(deviceId: string, moduleId: string): void {
    const twin = this.parts.registry.twinOf(deviceId, moduleId === '' ? undefined : moduleId);
    if (twin === undefined) this.s.deleteTwin.run(deviceId, moduleId);
    else {
      const tags = [JSON.stringify(twin.tags), twin.tagsVersion] as const;
      this.s.twin.run(deviceId, moduleId, ...sectionColumns(twin.desired), ...sectionColumns(twin.reported), ...tags);
    }
  }

  lastValue(deviceId: string, key: string): void {
    const last = this.parts.registry.get(deviceId)?.lastTelemetry.get(key);
    const [moduleId, component, name] = splitLastValueKey(key);
    if (last === undefined) this.s.deleteLastValue.run(deviceId, moduleId, component, name);
    else this.s.lastValue.run(deviceId, moduleId, component, name, last.timestamp, JSON.stringify(last.value));
  }

  identityStats(identity: string): void {
    const s = this.parts.stats.identities.get(identity);
    if (s !== undefined) this.s.stats.run(identity, ...IDENTITY_COUNTERS.map((c) => s[c]));
  }

  totals(withLatency: boolean): void {
    const t = this.parts.stats.recordedTotals(withLatency);
    this.s.totals.run('rejections', JSON.stringify(t.rejections));
    this.s.totals.run('dps', JSON.stringify(t.dps));
    if (t.latency !== undefined) this.s.totals.run('latency', JSON.stringify(t.latency));
  }

  c2d(deviceId: string): void {
    this.s.deleteC2d.run(deviceId);
    this.parts.front.pendingC2D(deviceId).forEach((m, seq) => {
      this.s.c2d.run(deviceId, seq, m.body, JSON.stringify(m.properties));
    });
  }

  manifest(id: string): void {
    const m = this.parts.service.manifests.get(id);
    if (m === undefined) this.s.deleteManifest.run(id);
    else this.s.manifest.run(m.id, m.displayName, JSON.stringify(m.data), m.etag, m.createdAt);
  }

  commandHistory(deviceId: string, key: string): void {
    const records = this.parts.service.commandHistory.get(key);
    if (records === undefined) this.s.deleteHistory.run(key);
    else this.s.history.run(key, deviceId, JSON.stringify(records));
  }

  relationshipId(source: string, target: string): void {
    const id = this.parts.service.relationshipIds.get(relationshipKey(source, target));
    if (id === undefined) this.s.deleteRelationship.run(source, target);
    else this.s.relationship.run(source, target, id);
  }

  dpsRegistration(registrationId: string): void {
    const r = this.parts.front.registrations.get(registrationId);
    if (r === undefined) return void this.s.deleteRegistration.run(registrationId);
    this.s.registration.run(
      r.registrationId,
      r.group,
      r.modelId ?? null,
      r.gateway?.iotcGatewayId ?? null,
      r.gateway?.iotcModuleId ?? null,
      r.deviceId,
      r.assignedHub,
      r.substatus,
      r.createdAt,
      r.updatedAt,
    );
  }
}

// ---- loading ----------------------------------------------------------------------------------------------

type Cell = string | number | Buffer | null | undefined;
type Row = Record<string, Cell>;

const str = (v: Cell) => v as string;
const optional = (v: Cell) => (v === null || v === undefined ? undefined : (v as string));

function authentication(r: Row): Authentication {
  if (r.auth_type === 'x509CA') return { type: 'x509CA' };
  return { type: 'sas', keys: { primaryKey: str(r.primary_key), secondaryKey: str(r.secondary_key) } };
}

function gateway(id: Cell, moduleId: Cell): IotcGateway | undefined {
  if (id === null || id === undefined) return undefined;
  const module = optional(moduleId);
  return { iotcGatewayId: str(id), ...(module === undefined ? {} : { iotcModuleId: module }) };
}

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

function loadDevices(db: Database.Database, registry: Registry): void {
  for (const r of db.prepare('SELECT * FROM devices').all() as Row[]) {
    registry.restore(
      defined({
        id: str(r.id),
        displayName: str(r.display_name),
        iotEdge: r.iot_edge === 1,
        enabled: r.enabled === 1,
        simulated: r.simulated === 1,
        provisioned: r.provisioned === 1,
        modelId: optional(r.model_id),
        gateway: gateway(r.gateway_id, r.gateway_module_id),
        authentication: authentication(r),
        generationId: str(r.generation_id),
        createdAt: str(r.created_at),
        etag: str(r.etag),
        deploymentManifestId: optional(r.deployment_manifest_id),
        statusReason: optional(r.status_reason),
      }),
    );
  }
  for (const r of db.prepare('SELECT * FROM modules').all() as Row[]) {
    const device = registry.get(str(r.device_id));
    if (device === undefined) continue;
    registry.restoreModule(
      device,
      defined({
        deviceId: device.id,
        moduleId: str(r.module_id),
        generationId: str(r.generation_id),
        managedBy: optional(r.managed_by),
        authentication: authentication(r),
        createdAt: str(r.created_at),
        etag: str(r.etag),
      }),
    );
  }
}

function loadTwinsAndValues(db: Database.Database, registry: Registry): void {
  for (const r of db.prepare('SELECT * FROM twins').all() as Row[]) {
    const moduleId = str(r.module_id);
    const twin = registry.twinOf(str(r.device_id), moduleId === '' ? undefined : moduleId);
    if (twin === undefined) continue;
    twin.desired.restore(
      JSON.parse(str(r.desired)) as JsonObject,
      r.desired_version as number,
      JSON.parse(str(r.desired_updated)) as Record<string, string>,
    );
    twin.reported.restore(
      JSON.parse(str(r.reported)) as JsonObject,
      r.reported_version as number,
      JSON.parse(str(r.reported_updated)) as Record<string, string>,
    );
    twin.tags = JSON.parse(str(r.tags)) as JsonObject;
    twin.tagsVersion = r.tags_version as number;
  }
  for (const r of db.prepare('SELECT * FROM last_values').all() as Row[]) {
    const device = registry.get(str(r.device_id));
    if (device === undefined) continue;
    const key = `${str(r.module_id)}|${str(r.component)}|${str(r.name)}`;
    registry.restoreLastValue(device, key, { timestamp: str(r.timestamp), value: JSON.parse(str(r.value)) as Json });
  }
}

function loadStats(db: Database.Database, stats: EmulatorStats): void {
  for (const r of db.prepare('SELECT * FROM identity_stats').all() as Row[]) {
    const counters = newIdentityStats();
    IDENTITY_COUNTERS.forEach((c, i) => (counters[c] = r[COLUMNS[i] as string] as number));
    stats.identities.set(str(r.identity), counters);
  }
  const totals = new Map(
    (db.prepare('SELECT name, value FROM totals').all() as Row[]).map((r) => [
      str(r.name),
      JSON.parse(str(r.value)) as unknown,
    ]),
  );
  const latency = totals.get('latency') as RecordedTotals['latency'];
  stats.restoreTotals({
    rejections: totals.get('rejections') ?? {},
    dps: totals.get('dps') ?? {},
    ...(latency === undefined ? {} : { latency }),
  });
  const since = db.prepare("SELECT value FROM meta WHERE key = 'countingSince'").get() as Row | undefined;
  if (since !== undefined) stats.countingSince = str(since.value);
}

function loadService(db: Database.Database, service: CloudService): void {
  for (const r of db.prepare('SELECT * FROM manifests').all() as Row[]) {
    const manifest: DeploymentManifest = {
      id: str(r.id),
      displayName: str(r.display_name),
      data: JSON.parse(str(r.data)) as DeploymentManifest['data'],
      etag: str(r.etag),
      createdAt: str(r.created_at),
    };
    service.manifests.set(manifest.id, manifest);
  }
  for (const r of db.prepare('SELECT * FROM command_history').all() as Row[]) {
    service.commandHistory.set(str(r.command_key), JSON.parse(str(r.records)) as CommandRecord[]);
  }
  for (const r of db.prepare('SELECT * FROM relationship_ids').all() as Row[]) {
    service.relationshipIds.set(relationshipKey(str(r.source), str(r.target)), str(r.id));
  }
}

function loadFront(db: Database.Database, front: MqttFront): void {
  const queues = new Map<string, { body: Buffer; properties: Record<string, string> }[]>();
  for (const r of db.prepare('SELECT * FROM c2d_messages ORDER BY device_id, seq').all() as Row[]) {
    const id = str(r.device_id);
    const properties = JSON.parse(str(r.properties)) as Record<string, string>;
    queues.set(id, [...(queues.get(id) ?? []), { body: r.body as Buffer, properties }]);
  }
  for (const [id, messages] of queues) front.restoreC2D(id, messages);
  for (const r of db.prepare('SELECT * FROM dps_registrations').all() as Row[]) {
    const registration: DpsRegistration = defined({
      registrationId: str(r.registration_id),
      group: str(r.enrollment) as DpsGroup,
      modelId: optional(r.model_id),
      gateway: gateway(r.gateway_id, r.gateway_module_id),
      deviceId: str(r.device_id),
      assignedHub: str(r.assigned_hub),
      substatus: str(r.substatus),
      createdAt: str(r.created_at),
      updatedAt: str(r.updated_at),
    });
    front.restoreRegistration(registration);
  }
}

/** Puts everything recorded back into memory. */
export function loadAll(db: Database.Database, parts: StoreParts): void {
  loadDevices(db, parts.registry);
  loadTwinsAndValues(db, parts.registry);
  loadStats(db, parts.stats);
  loadService(db, parts.service);
  loadFront(db, parts.front);
}
