// The two Jobs of `edgefleet k8s`: the Indexed Job whose pods each run one shard (`--shard auto`), and the merge Job
// that adds their report folders and prints the verdict.
import { formatDuration } from '../config/duration.js';
import { COMPLETION_INDEX_VARIABLE, SHARDS_VARIABLE } from '../config/plan.js';
import { labels, metadata, METRICS_PORT, MOUNTS, type Context } from './k8s-objects.js';
import { BENCH, PORTS_PER_ADDRESS } from './k8s-sizing.js';

const CONTAINER = 'edgefleet';
/** Exit code of `edgefleet run` when the scenario, the options or the machine's limits refuse the run. */
const REFUSED_EXIT_CODE = 2;
/** Exit code of `edgefleet run` when a threshold failed: the shard ran, and its report is written. */
const THRESHOLDS_EXIT_CODE = 99;
/** Image pull, provisioning and drain on top of the run's own duration before Kubernetes stops a shard. */
const DEADLINE_MARGIN_SECONDS = 900;

const shardReports = (index: string | number) => `${MOUNTS.reports}/shard-${index}`;
const mounted = (relative: string) => `${MOUNTS.scenario}/${relative}`;

function shardArgs(context: Context): string[] {
  const { files, loaded, size } = context;
  return [
    'run',
    mounted(files.scenario),
    // Profile and duration as resolved here, so that every pod runs exactly what was sized.
    '--profile',
    mounted(files.profile),
    '--duration',
    formatDuration(loaded.durationMs),
    '--seed',
    String(loaded.seed),
    '--shard',
    'auto',
    '--workers',
    String(size.workers),
    '--no-tui',
    '--reports-dir',
    shardReports(`$(${COMPLETION_INDEX_VARIABLE})`),
    '--state-dir',
    MOUNTS.state,
    '--prometheus',
    String(METRICS_PORT),
    '--prometheus-host',
    '0.0.0.0',
  ];
}

function shardEnv(context: Context): Record<string, unknown>[] {
  return [
    // The Job controller adds this to Indexed Jobs (and keeps one already declared): declared, the spec says where
    // --shard auto and $(JOB_COMPLETION_INDEX) in the args get the index.
    {
      name: COMPLETION_INDEX_VARIABLE,
      valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
    },
    { name: SHARDS_VARIABLE, value: String(context.options.shards) },
    ...context.secrets.map((name) => ({
      name,
      valueFrom: { secretKeyRef: { name: context.names.secret, key: name } },
    })),
  ];
}

function shardContainer(context: Context): Record<string, unknown> {
  const { size } = context;
  return {
    name: CONTAINER,
    image: context.options.image,
    args: shardArgs(context),
    env: shardEnv(context),
    ports: [{ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }],
    // No CPU limit: throttling would show up as the target's latency.
    resources: {
      requests: { cpu: size.cpu, memory: size.memoryRequest },
      limits: { memory: size.memoryLimit },
    },
    volumeMounts: [
      { name: 'scenario', mountPath: MOUNTS.scenario, readOnly: true },
      { name: 'reports', mountPath: MOUNTS.reports },
      { name: 'state', mountPath: MOUNTS.state },
    ],
  };
}

const POD_SECURITY = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 };

function shardPodSpec(context: Context): Record<string, unknown> {
  return {
    restartPolicy: 'Never',
    securityContext: POD_SECURITY,
    // Shards on different nodes where there are nodes: descriptors, ports and cores are per node.
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: labels(context, 'shard') },
      },
    ],
    containers: [shardContainer(context)],
    volumes: [
      {
        name: 'scenario',
        configMap: {
          name: context.names.configMap,
          items: context.files.files.map((file) => ({ key: file.key, path: file.path })),
        },
      },
      { name: 'reports', persistentVolumeClaim: { claimName: context.names.claim } },
      { name: 'state', emptyDir: {} },
    ],
  };
}

export function shardsJob(context: Context): Record<string, unknown> {
  const { shards } = context.options;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: metadata(context, context.names.shards, 'shard'),
    spec: {
      completionMode: 'Indexed',
      completions: shards,
      parallelism: shards,
      // A shard started again would connect its identities twice: none is retried. Per index (Kubernetes 1.29+), so
      // that one failed shard does not stop the others.
      backoffLimitPerIndex: 0,
      podFailurePolicy: {
        rules: [
          // Refused before connecting (bad input, too few descriptors): every shard would be, so stop them all.
          {
            action: 'FailJob',
            onExitCodes: { containerName: CONTAINER, operator: 'In', values: [REFUSED_EXIT_CODE] },
          },
          // Its own thresholds missed: its report is written, and the merge judges the whole fleet's.
          {
            action: 'FailIndex',
            onExitCodes: { containerName: CONTAINER, operator: 'In', values: [THRESHOLDS_EXIT_CODE] },
          },
          // A pod evicted or preempted (a node drained) runs its shard again.
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      activeDeadlineSeconds: Math.ceil(context.loaded.durationMs / 1000) + DEADLINE_MARGIN_SECONDS,
      template: {
        metadata: {
          labels: labels(context, 'shard'),
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(METRICS_PORT),
            'prometheus.io/path': '/metrics',
          },
        },
        spec: shardPodSpec(context),
      },
    },
  };
}

export const MERGE_NOTE = `
Apply after the shards' Job has completed (kubectl wait --for=condition=complete job/<name>-shards): adds the
shards' report folders on the shared volume into /reports/merged and prints the verdict (kubectl logs job/<name>-merge).
It exits 99 when a threshold fails on the merged numbers, as edgefleet run does.`;

export function mergeJob(context: Context): Record<string, unknown> {
  const folders = Array.from({ length: context.options.shards }, (_, index) => `${shardReports(index)}/latest`);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: metadata(context, context.names.merge, 'merge'),
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: labels(context, 'merge') },
        spec: {
          restartPolicy: 'Never',
          securityContext: POD_SECURITY,
          containers: [
            {
              name: CONTAINER,
              image: context.options.image,
              args: ['report', 'merge', ...folders, '--out', `${MOUNTS.reports}/merged`, '--force'],
              resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } },
              volumeMounts: [{ name: 'reports', mountPath: MOUNTS.reports }],
            },
          ],
          volumes: [{ name: 'reports', persistentVolumeClaim: { claimName: context.names.claim } }],
        },
      },
    },
  };
}

/** The header of the shards' Job: how it was sized, and the two limits Kubernetes has no field for. */
export function jobNote(context: Context): string {
  const { size, options } = context;
  const n = (value: number) => Math.round(value).toLocaleString('en-US');
  const emulator =
    size.emulatorDescriptors === undefined
      ? ''
      : '\nThe target is the emulator: each pod starts its own for its shard, in the same container: its own ' +
        `process,\nabout ${n(size.emulatorDescriptors)} descriptors more at the same limit.`;
  return `
One pod per shard: ${options.shards} shards, the largest ${n(size.identities)} identities and ${n(size.connections)} connections.
Sized from the bench's figures (README, "Speed and memory"): ${BENCH.rssPerConnectionKiB} KB RSS per connected identity,
${BENCH.connectsPerSecondPerCore} connects and ${n(BENCH.messagesPerSecondPerCore)} QoS 1 messages per second per core.
The largest shard connects up to ${n(size.connectsPerSecond)} identities/s and sends about ${n(size.messagesPerSecond)} messages/s.

File descriptors: each shard needs about ${n(size.descriptors)} at its peak.${emulator}
Kubernetes has no field for a container's open-file limit (nofile): pods get the container runtime's, and Node
raises its soft limit to the hard one when it starts. edgefleet run checks the limit before anything connects and
exits 2 with the figures when it is short (kubectl logs). To raise it: on the nodes, the runtime's limit
(containerd: LimitNOFILE= in its systemd unit; CRI-O: default_ulimits in crio.conf), or more shards (--shards).

Source addresses: each pod has its own IP, so each shard has its own ${n(PORTS_PER_ADDRESS)} local ports per target
address (Linux's default ip_local_port_range). --local-address needs more addresses in the pod (e.g. Multus);
more shards spread connections over more pod IPs instead.`;
}

/** What the person applying the files must know or do first. */
export function notesFor(context: Context): string[] {
  const { size, options, names, secrets } = context;
  const notes: string[] = [];
  if (secrets.length > 0) {
    const literals = secrets.map((name) => `--from-literal=${name}=…`).join(' ');
    notes.push(
      `create the Secret first: kubectl -n ${options.namespace} create secret generic ${names.secret} ${literals}`,
    );
  }
  if (size.connections > PORTS_PER_ADDRESS) {
    const enough = Math.ceil((options.shards * size.connections) / PORTS_PER_ADDRESS);
    notes.push(
      `the largest shard holds ${size.connections.toLocaleString('en-US')} connections, more than the ` +
        `${PORTS_PER_ADDRESS.toLocaleString('en-US')} local ports of one pod address per target: use --shards ${enough} or more`,
    );
  }
  if (context.files.repositoryUrls.length > 0)
    notes.push(`the pods fetch models from ${context.files.repositoryUrls.join(', ')}: they need egress to it`);
  if (context.loaded.target.kind === 'emulator')
    notes.push('the target is the emulator: each pod runs its own for its shard (a load test of edgefleet itself)');
  return notes;
}
