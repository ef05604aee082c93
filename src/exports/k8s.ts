// `edgefleet k8s`: a scenario as Kubernetes objects. One Indexed Job runs every shard (`--shard auto`, one pod per
// shard), a ConfigMap carries the scenario and every file it reads, a Service (and a PodMonitor for the Prometheus
// Operator) exposes each shard's /metrics, and a merge Job adds the shards' report folders from a shared volume.
// Secrets stay in a Kubernetes Secret that the pods read as environment variables: nothing written here holds one.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, displayPath } from '../config/errors.js';
import { checkScenario } from '../config/gate.js';
import { loadScenario } from '../config/load.js';
import { readWrittenScenario, scenarioFiles, secretNames, writtenSecretProblems } from './k8s-files.js';
import { jobNote, mergeJob, MERGE_NOTE, notesFor, shardsJob } from './k8s-job.js';
import {
  baseName,
  labels,
  metadata,
  METRICS_PORT,
  namesOf,
  type Context,
  type KubernetesOptions,
} from './k8s-objects.js';
import { shardSize, type ShardSize } from './k8s-sizing.js';

export type { KubernetesOptions } from './k8s-objects.js';

export interface KubernetesFile {
  /** Relative to the output folder. */
  path: string;
  /** The objects, for checks; the file holds them as YAML documents after a comment. */
  objects: Record<string, unknown>[];
  text: string;
}

export interface KubernetesExport {
  files: KubernetesFile[];
  size: ShardSize;
  secretNames: string[];
  /** Lines for the person running it: what to do before applying. */
  notes: string[];
}

function checkOptions(options: KubernetesOptions): void {
  const problems = [];
  if (!Number.isSafeInteger(options.shards) || options.shards < 1)
    problems.push({ path: '--shards', message: `expected a whole number >= 1, got ${String(options.shards)}` });
  if (options.name !== undefined && !/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/.test(options.name))
    problems.push({ path: '--name', message: 'expected lower-case letters, digits and "-", at most 40 characters' });
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(options.namespace))
    problems.push({ path: '--namespace', message: 'expected a DNS label: lower-case letters, digits and "-"' });
  if (problems.length > 0) throw new ConfigError(problems.map((p) => ({ file: 'command line', ...p })));
}

/**
 * Placeholders for the Secret's variables that this shell does not hold, so the scenario loads (for its files and
 * its size) where the secrets are not: they shape nothing that is sized, and are never written.
 */
function placeholderEnv(names: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of names) {
    if (env[name] !== undefined && env[name] !== '') continue;
    env[name] =
      `HostName=placeholder.azure-devices.net;DeviceId=${name.toLowerCase()};SharedAccessKey=cGxhY2Vob2xkZXI=`;
  }
  return env;
}

/** Everything `edgefleet k8s` writes, as files; nothing is written yet. */
export async function kubernetesExport(options: KubernetesOptions): Promise<KubernetesExport> {
  checkOptions(options);
  const written = await readWrittenScenario(options.scenario);
  const writtenProblems = writtenSecretProblems(written, displayPath(path.resolve(options.scenario)));
  if (writtenProblems.length > 0) throw new ConfigError(writtenProblems);
  const secrets = secretNames(written, written.target ?? 'emulator');
  const loaded = await loadScenario(options.scenario, { profile: options.profile, env: placeholderEnv(secrets) });
  // What a shard would refuse, refused here, before anything is applied.
  await checkScenario(loaded);
  const files = await scenarioFiles(loaded);
  checkConfigMapSize(files.files, displayPath(loaded.file));
  const size = shardSize(loaded, options.shards);
  const names = namesOf(options.name ?? baseName(loaded.scenario.name ?? path.parse(loaded.file).name));
  const context: Context = { options, loaded, files, size, names, secrets };
  return {
    files: [
      yamlFile('configmap.yaml', [configMap(context)], 'The scenario and every file it reads, as the pods see them.'),
      yamlFile('reports-volume.yaml', [reportsClaim(context)], CLAIM_NOTE),
      yamlFile('metrics-service.yaml', [metricsService(context)], SERVICE_NOTE),
      yamlFile('shards-job.yaml', [shardsJob(context)], jobNote(context)),
      yamlFile('prometheus-operator/podmonitor.yaml', [podMonitor(context)], PODMONITOR_NOTE),
      yamlFile('merge/merge-job.yaml', [mergeJob(context)], MERGE_NOTE),
    ],
    size,
    secretNames: secrets,
    notes: notesFor(context),
  };
}

/** Kubernetes refuses a ConfigMap over 1 MiB (the object, keys included; a little is left for its metadata). */
const CONFIGMAP_BYTES = 1_000_000;

function checkConfigMapSize(files: readonly { key: string; text: string }[], shown: string): void {
  const bytes = files.reduce((sum, f) => sum + Buffer.byteLength(f.key) + Buffer.byteLength(f.text), 0);
  if (bytes <= CONFIGMAP_BYTES) return;
  const largest = [...files].sort((a, b) => b.text.length - a.text.length)[0]!;
  throw new ConfigError([
    {
      file: shown,
      path: '',
      message:
        `its files come to ${bytes.toLocaleString('en-US')} bytes, more than a ConfigMap holds (1 MiB); the largest is ` +
        `${largest.key}: name models by DTMI from a model repository URL, which the pods fetch, instead of shipping them`,
    },
  ]);
}

/** Writes the files under `out`; returns their paths. */
export async function writeKubernetesExport(exported: KubernetesExport, out: string): Promise<string[]> {
  const paths: string[] = [];
  for (const file of exported.files) {
    const target = path.join(out, file.path);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, file.text);
    paths.push(target);
  }
  return paths;
}

function yamlFile(file: string, objects: Record<string, unknown>[], note: string): KubernetesFile {
  const header = `${note
    .trim()
    .split('\n')
    .map((line) => `# ${line}`.trimEnd())
    .join('\n')}\n`;
  const body = objects.map((object) => stringify(object, { lineWidth: 0 })).join('---\n');
  return { path: file, objects, text: `${header}${body}` };
}

function configMap(context: Context): Record<string, unknown> {
  const data: Record<string, string> = {};
  for (const file of context.files.files) data[file.key] = file.text;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(context, context.names.configMap, 'scenario'),
    data,
  };
}

const CLAIM_NOTE = `
The shared volume for the shards' report folders (/reports/shard-<index>) and the merged one (/reports/merged).
Every shard pod and the merge Job mount it at once, possibly from different nodes: it needs ReadWriteMany
(e.g. Azure Files, NFS, CephFS; a disk-backed class such as managed-csi is ReadWriteOnce and will not do).`;

function reportsClaim(context: Context): Record<string, unknown> {
  const { storageClass, storageSize } = context.options;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: metadata(context, context.names.claim, 'reports'),
    spec: {
      accessModes: ['ReadWriteMany'],
      ...(storageClass === undefined ? {} : { storageClassName: storageClass }),
      resources: { requests: { storage: storageSize } },
    },
  };
}

const SERVICE_NOTE = `
A headless Service over the shard pods' /metrics port: Prometheus (kubernetes_sd_configs, role endpoints or pod)
finds every shard while the run lasts. The pods also carry prometheus.io/scrape annotations; with the Prometheus
Operator, apply prometheus-operator/podmonitor.yaml instead of relying on them.`;

function metricsService(context: Context): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      ...metadata(context, context.names.service, 'shard'),
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(METRICS_PORT) },
    },
    spec: {
      clusterIP: 'None',
      selector: labels(context, 'shard'),
      ports: [{ name: 'metrics', port: METRICS_PORT, targetPort: 'metrics' }],
    },
  };
}

const PODMONITOR_NOTE = `
For the Prometheus Operator (monitoring.coreos.com/v1): scrape every shard pod's /metrics during the run. Your
Prometheus may select PodMonitors by label (spec.podMonitorSelector): add that label here.`;

function podMonitor(context: Context): Record<string, unknown> {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: metadata(context, context.names.shards, 'shard'),
    spec: {
      selector: { matchLabels: labels(context, 'shard') },
      podMetricsEndpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }],
    },
  };
}
