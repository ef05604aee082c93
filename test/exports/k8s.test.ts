// `edgefleet k8s`: the files it writes are valid Kubernetes objects (checked against the Kubernetes and Prometheus
// Operator OpenAPI schemas that kubernetes-models ships), run every shard from one Indexed Job spec, carry every file
// the scenario reads, and hold no secret.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { ConfigError } from '../../src/config/errors.js';
import { kubernetesExport, type KubernetesOptions } from '../../src/exports/k8s.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-k8s-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHIPPED = readdirSync('scenarios')
  .filter((name) => name.endsWith('.yaml') && !name.endsWith('.profile.yaml'))
  .map((name) => `scenarios/${name}`);

const options = (scenario: string, more: Partial<KubernetesOptions> = {}): KubernetesOptions => ({
  scenario,
  shards: 3,
  image: 'registry.example.com/edgefleet:0.1.0',
  namespace: 'load',
  storageSize: '1Gi',
  ...more,
});

type K8sObject = Record<string, any>;

/** Every object in the files as written (YAML text parsed back), each checked against its kind's schema. */
function validatedObjects(files: { path: string; text: string }[]): Map<string, K8sObject> {
  const models: Record<string, new (data: any) => { validate(): void }> = {
    'batch/v1/Job': Job,
    'v1/ConfigMap': ConfigMap,
    'v1/PersistentVolumeClaim': PersistentVolumeClaim,
    'v1/Service': Service,
    'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  };
  const byFile = new Map<string, K8sObject>();
  for (const file of files) {
    const documents = parseAllDocuments(file.text);
    expect(documents, file.path).toHaveLength(1);
    const object = (documents as { toJS(): K8sObject }[])[0]!.toJS();
    const Model = models[`${object.apiVersion}/${object.kind}`];
    expect(Model, `${file.path}: ${object.apiVersion} ${object.kind}`).toBeDefined();
    expect(() => new Model!(object).validate(), file.path).not.toThrow();
    byFile.set(file.path, object);
  }
  return byFile;
}

const shardContainer = (job: K8sObject) => job.spec.template.spec.containers[0];
const argAfter = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('edgefleet k8s: the objects', () => {
  it.each(SHIPPED)('%s: valid objects, one Indexed Job for every shard, scraped, merged', async (scenario) => {
    const exported = await kubernetesExport(options(scenario));
    const objects = validatedObjects(exported.files);
    const job = objects.get('shards-job.yaml')!;
    expect(job.metadata.namespace).toBe('load');
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 3 });
    // No shard is started twice (its identities would connect twice), and one failed shard leaves the others be.
    expect(job.spec.backoffLimitPerIndex).toBe(0);
    expect(job.spec.backoffLimit).toBeUndefined();
    expect(job.spec.podFailurePolicy.rules).toContainEqual({
      action: 'FailJob',
      onExitCodes: { containerName: 'edgefleet', operator: 'In', values: [2] },
    });
    const container = shardContainer(job);
    expect(container.image).toBe('registry.example.com/edgefleet:0.1.0');
    const args: string[] = container.args;
    expect(args.slice(0, 1)).toEqual(['run']);
    expect(argAfter(args, '--shard')).toBe('auto');
    expect(argAfter(args, '--prometheus')).toBe('9464');
    expect(argAfter(args, '--prometheus-host')).toBe('0.0.0.0');
    // Each pod its own report folder on the shared volume, named by the index Kubernetes gives it.
    expect(argAfter(args, '--reports-dir')).toBe('/reports/shard-$(JOB_COMPLETION_INDEX)');
    const env = new Map<string, K8sObject>(container.env.map((e: K8sObject) => [e.name, e]));
    expect(env.get('EDGEFLEET_SHARDS')?.value).toBe('3');
    expect(env.get('JOB_COMPLETION_INDEX')?.valueFrom.fieldRef.fieldPath).toBe(
      "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    );
    expect(container.ports).toContainEqual(expect.objectContaining({ name: 'metrics', containerPort: 9464 }));
    expect(job.spec.template.metadata.annotations['prometheus.io/scrape']).toBe('true');

    // The ConfigMap holds every file the volume maps, and the scenario and profile the args name.
    const configMap = objects.get('configmap.yaml')!;
    const volumes = new Map<string, K8sObject>(job.spec.template.spec.volumes.map((v: K8sObject) => [v.name, v]));
    const items: { key: string; path: string }[] = volumes.get('scenario')!.configMap.items;
    expect(volumes.get('scenario')!.configMap.name).toBe(configMap.metadata.name);
    expect(items.map((i) => i.key).sort()).toEqual(Object.keys(configMap.data).sort());
    const mounted = items.map((i) => `/etc/edgefleet/scenario/${i.path}`);
    expect(mounted).toContain(args[1]);
    expect(mounted).toContain(argAfter(args, '--profile'));
    for (const item of items) expect(item.path).not.toMatch(/^\/|(^|\/)\.\.(\/|$)/);

    const claim = objects.get('reports-volume.yaml')!;
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
    expect(volumes.get('reports')!.persistentVolumeClaim.claimName).toBe(claim.metadata.name);

    const service = objects.get('metrics-service.yaml')!;
    expect(service.spec.selector).toEqual(job.spec.template.metadata.labels);
    const monitor = objects.get('prometheus-operator/podmonitor.yaml')!;
    expect(monitor.spec.selector.matchLabels).toEqual(job.spec.template.metadata.labels);
    expect(monitor.spec.podMetricsEndpoints).toEqual([expect.objectContaining({ port: 'metrics' })]);

    const merge = objects.get('merge/merge-job.yaml')!;
    const mergeArgs: string[] = shardContainer(merge).args;
    expect(mergeArgs.slice(0, 2)).toEqual(['report', 'merge']);
    expect(mergeArgs.slice(2, 5)).toEqual([0, 1, 2].map((i) => `/reports/shard-${i}/latest`));
    expect(merge.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).toBe(claim.metadata.name);
  });

  it('the schema check is a real one: a wrong type, a bad quantity or a missing field is refused', async () => {
    const exported = await kubernetesExport(options('scenarios/quickstart.yaml'));
    const job = validatedObjects(exported.files).get('shards-job.yaml')!;
    const broken = (change: (copy: K8sObject) => void) => {
      const copy = structuredClone(job);
      change(copy);
      return () => new Job(copy).validate();
    };
    expect(broken((j) => (j.spec.completions = '3'))).toThrow(/completions must be integer/);
    expect(broken((j) => (shardContainer(j).resources.requests.memory = 'lots'))).toThrow(/quantity/);
    expect(broken((j) => (j.spec.completionMode = 'indexed'))).toThrow(/allowed values/);
    expect(broken((j) => delete j.spec.template.spec.containers[0].name)).toThrow(/name/);
  });

  it('sizes each pod from the per-identity figures: more shards, smaller pods; never below what connections hold', async () => {
    const mebibytes = (quantity: string) => Number(/^(\d+)Mi$/.exec(quantity)![1]);
    const sized = async (shards: number) => {
      const exported = await kubernetesExport(options('test/exports/fixtures/large.yaml', { shards }));
      const job = validatedObjects(exported.files).get('shards-job.yaml')!;
      return { size: exported.size, resources: shardContainer(job).resources };
    };
    const one = await sized(1);
    const four = await sized(4);
    expect(four.size.identities).toBeLessThan(one.size.identities);
    expect(mebibytes(four.resources.requests.memory)).toBeLessThan(mebibytes(one.resources.requests.memory));
    expect(four.size.identities).toBe(7_500);
    // Arrivals split over the shards too: 500/s in all, past one core's 349 connects/s for one pod, not for four.
    expect(one.size.connectsPerSecond).toBe(500);
    expect(four.size.connectsPerSecond).toBe(125);
    expect(Number(one.resources.requests.cpu)).toBeGreaterThan(Number(four.resources.requests.cpu));
    for (const { size, resources } of [one, four]) {
      // 57 KB of RSS per connected identity, and the process besides.
      expect(mebibytes(resources.requests.memory) * 1024).toBeGreaterThan(size.connections * 57);
      expect(mebibytes(resources.limits.memory)).toBeGreaterThanOrEqual(mebibytes(resources.requests.memory));
      expect(Number(resources.requests.cpu)).toBeGreaterThanOrEqual(0.5);
    }
    // The descriptor and source-address notes are in the Job's file for whoever applies it.
    const text = (await kubernetesExport(options('scenarios/quickstart.yaml'))).files.find(
      (f) => f.path === 'shards-job.yaml',
    )!.text;
    expect(text).toMatch(/# .*open-file limit \(nofile\)/);
    expect(text).toMatch(/# .*LimitNOFILE=/);
    expect(text).toMatch(/# .*--local-address/);
    // One pod's address has 28,232 ports per target: 30,000 identities in one shard are too many, and it says so.
    const crowded = await kubernetesExport(options('test/exports/fixtures/large.yaml', { shards: 1 }));
    expect(crowded.notes.join('\n')).toMatch(/more than the 28,232 local ports .*: use --shards 2 or more/);
    const spread = await kubernetesExport(options('test/exports/fixtures/large.yaml', { shards: 2 }));
    expect(spread.notes.join('\n')).not.toMatch(/local ports/);
  });
});

describe('edgefleet k8s: what a ConfigMap cannot hold', () => {
  it('refuses files past 1 MiB in all, naming the largest and what to do instead', async () => {
    const scenario = join(dir, 'padded.yaml');
    const padding = Array.from({ length: 12_000 }, () => `# ${'x'.repeat(98)}`).join('\n');
    writeFileSync(
      scenario,
      `name: padded\nfleet:\n  - { group: t, kind: device, count: 2, idPattern: "p-{index}" }\n${padding}\n`,
    );
    await expect(kubernetesExport(options(scenario))).rejects.toThrow(
      /padded\.yaml: its files come to [\d,]+ bytes, more than a ConfigMap holds \(1 MiB\); the largest is padded/,
    );
    // The same scenario without the padding fits.
    writeFileSync(scenario, `name: padded\nfleet:\n  - { group: t, kind: device, count: 2, idPattern: "p-{index}" }\n`);
    await expect(kubernetesExport(options(scenario))).resolves.toMatchObject({ size: { identities: 1 } });
  });
});

describe('edgefleet k8s: options', () => {
  it.each([
    [{ shards: 0 }, /command line: --shards: expected a whole number >= 1, got 0/],
    [{ shards: 2.5 }, /--shards: expected a whole number >= 1, got 2\.5/],
    [{ namespace: 'Load Test' }, /--namespace: expected a DNS label/],
    [{ name: 'My_Fleet' }, /--name: expected lower-case letters, digits and "-"/],
  ])('refuses %j, saying what to give', async (more, message) => {
    await expect(kubernetesExport(options('scenarios/quickstart.yaml', more))).rejects.toThrow(message);
  });

  it('names objects after the scenario, or --name', async () => {
    const named = await kubernetesExport(options('scenarios/quickstart.yaml', { name: 'soak-7' }));
    const objects = validatedObjects(named.files);
    expect(objects.get('shards-job.yaml')!.metadata.name).toBe('soak-7-shards');
    expect(objects.get('merge/merge-job.yaml')!.metadata.name).toBe('soak-7-merge');
    const plain = validatedObjects((await kubernetesExport(options('scenarios/quickstart.yaml'))).files);
    expect(plain.get('configmap.yaml')!.metadata.name).toBe('edgefleet-quickstart-scenario');
  });
});

describe('edgefleet k8s: secrets stay in a Secret', () => {
  const SECRETS = {
    IOTC_ID_SCOPE: '0ne00ABCDEF',
    IOTC_SUBDOMAIN: 'contoso-fleet',
    IOTC_API_TOKEN: 'SharedAccessSignature sr=aaaa&sig=bm90LWEtcmVhbC10b2tlbg%3D&skn=operator&se=1893456000000',
    IOTC_DEVICES_KEY: 'bm90LWEtcmVhbC1ncm91cC1rZXktYnV0LXNlY3JldA==',
  };

  it('reads ${ENV} references from a Secret by name, and no file or output holds a value', async () => {
    const out = join(dir, 'central');
    const r = await cli(
      ['k8s', 'test/exports/fixtures/central.yaml', '--shards', '2', '--namespace', 'load', '--out', out],
      SECRETS,
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(
      'kubectl -n load create secret generic edgefleet-central-fleet-secrets --from-literal=IOTC_API_TOKEN=…',
    );
    const files: { path: string; text: string }[] = [];
    const walk = (folder: string): void => {
      for (const name of readdirSync(folder)) {
        const path = join(folder, name);
        if (statSync(path).isDirectory()) walk(path);
        else files.push({ path: relative(out, path), text: readFileSync(path, 'utf8') });
      }
    };
    walk(out);
    expect(files.map((f) => f.path).sort()).toEqual([
      'configmap.yaml',
      'merge/merge-job.yaml',
      'metrics-service.yaml',
      'prometheus-operator/podmonitor.yaml',
      'reports-volume.yaml',
      'shards-job.yaml',
    ]);
    for (const value of Object.values(SECRETS)) {
      expect(r.out).not.toContain(value);
      for (const file of files) expect(file.text, file.path).not.toContain(value);
    }
    const objects = validatedObjects(files);
    const env: K8sObject[] = shardContainer(objects.get('shards-job.yaml')!).env;
    for (const name of Object.keys(SECRETS)) {
      expect(env.find((e) => e.name === name)?.valueFrom.secretKeyRef).toEqual({
        name: 'edgefleet-central-fleet-secrets',
        key: name,
      });
    }
    // The scenario goes in as written: the references, for the pod to resolve from its environment.
    expect(objects.get('configmap.yaml')!.data['exports.fixtures.central.yaml']).toContain('${IOTC_API_TOKEN}');
  });

  it('generates where the secrets are not set (they are read in the pod), connection strings included', async () => {
    const exported = await kubernetesExport(options('test/exports/fixtures/strings-env.yaml'));
    expect(exported.secretNames).toEqual([
      'DEVICE_1_CONNECTION_STRING',
      'DEVICE_2_CONNECTION_STRING',
      'IOTC_ID_SCOPE',
      'IOTC_SUBDOMAIN',
    ]);
    for (const file of exported.files) expect(file.text).not.toMatch(/SharedAccessKey=|placeholder/);
  });

  it.each([
    ['inline-key.yaml', /targets\.iot-central\.groupKeys\.devices\.primaryKey: is written in the file.*Secret/],
    ['strings-file.yaml', /fleet\[0\]\.connectionStrings: names a file of connection strings/],
  ])('refuses %s (exit 2): a secret would go into the ConfigMap', async (name, message) => {
    await expect(kubernetesExport(options(`test/exports/fixtures/${name}`))).rejects.toThrow(ConfigError);
    const out = join(dir, `refused-${name}`);
    const r = await cli(['k8s', `test/exports/fixtures/${name}`, '--shards', '2', '--out', out]);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toMatch(message);
    expect(() => readdirSync(out)).toThrow();
  });
});

describe('edgefleet k8s: the pod sees every file', () => {
  it.each(['scenarios/transparent-gateway.yaml', 'test/exports/fixtures/central.yaml'])(
    '%s: laid out as the ConfigMap volume lays it out, edgefleet validate passes with the Job’s paths',
    async (scenario) => {
      const exported = await kubernetesExport(options(scenario));
      const objects = validatedObjects(exported.files);
      const job = objects.get('shards-job.yaml')!;
      const configMap = objects.get('configmap.yaml')!;
      // The volume, here: each item's key written at its path under a folder standing for the mount.
      const mount = join(dir, `mount-${scenario.replace(/\W+/g, '-')}`);
      for (const item of job.spec.template.spec.volumes[0].configMap.items as { key: string; path: string }[]) {
        mkdirSync(dirname(join(mount, item.path)), { recursive: true });
        writeFileSync(join(mount, item.path), configMap.data[item.key]);
      }
      const args: string[] = shardContainer(job).args;
      const inMount = (path: string) => path.replace('/etc/edgefleet/scenario', mount);
      const r = await cli(['validate', inMount(args[1]!), '--profile', inMount(argAfter(args, '--profile')!)], {
        IOTC_ID_SCOPE: '0ne00ABCDEF',
        IOTC_SUBDOMAIN: 'x',
        IOTC_API_TOKEN: 'token',
        IOTC_DEVICES_KEY: 'a2V5',
      });
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/^ok /);
    },
  );
});
