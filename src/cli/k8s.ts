// `edgefleet k8s SCENARIO --shards N --out DIR`: Kubernetes objects that run a scenario's shards as one Indexed Job.
import type { CommandModule } from 'yargs';
import { displayPath } from '../config/errors.js';
import { kubernetesExport, writeKubernetesExport } from '../exports/k8s.js';

interface K8sArgs {
  scenario: string;
  shards: number;
  out: string;
  image: string;
  namespace: string;
  profile?: string;
  name?: string;
  'storage-class'?: string;
  'storage-size': string;
}

export const k8sCommand: CommandModule<object, K8sArgs> = {
  command: 'k8s <scenario>',
  describe: 'Write Kubernetes objects that run a scenario as shards of one Indexed Job, scraped and merged',
  builder: (y) =>
    y
      .positional('scenario', { type: 'string', demandOption: true, describe: 'The scenario file (YAML or JSON)' })
      .option('shards', { type: 'number', demandOption: true, describe: 'How many shards: pods, one shard each' })
      .option('out', { type: 'string', demandOption: true, describe: 'Folder for the YAML files' })
      .option('image', {
        type: 'string',
        default: 'edgefleet:latest',
        describe: 'The image built from the Dockerfile, as your cluster pulls it',
      })
      .option('namespace', { type: 'string', default: 'default', describe: 'Namespace of every object' })
      .option('profile', { type: 'string', describe: "Profile name or file, instead of the scenario's" })
      .option('name', { type: 'string', describe: 'Object names start with this (default edgefleet-<scenario name>)' })
      .option('storage-class', {
        type: 'string',
        describe:
          'Storage class of the shared reports volume; it must offer ReadWriteMany (default the cluster default)',
      })
      .option('storage-size', { type: 'string', default: '1Gi', describe: 'Size of the shared reports volume' })
      .example(
        '$0 k8s scenarios/quickstart.yaml --shards 4 --image registry.example.com/edgefleet:0.1.0 --out k8s/',
        'Four pods; then kubectl apply -f k8s/ (README, "On Kubernetes")',
      )
      .epilogue(
        'Secrets stay out of the files: the scenario names them as ${ENV} references and the pods read them from ' +
          'a Secret (the command prints the kubectl line that creates it). Exit code 2: the scenario or an option is ' +
          'wrong, or a file would put a secret into the ConfigMap.',
      ),
  handler: async (args) => {
    const exported = await kubernetesExport({
      scenario: args.scenario,
      shards: args.shards,
      image: args.image,
      namespace: args.namespace,
      profile: args.profile,
      name: args.name,
      storageClass: args['storage-class'],
      storageSize: args['storage-size'],
    });
    const written = await writeKubernetesExport(exported, args.out);
    for (const file of written) process.stdout.write(`wrote ${displayPath(file)}\n`);
    const { size } = exported;
    process.stdout.write(
      `each pod: ${size.identities} identities at most, cpu ${size.cpu}, memory ${size.memoryRequest} ` +
        `(limit ${size.memoryLimit}), ${size.workers} worker${size.workers === 1 ? '' : 's'}, ` +
        `about ${size.descriptors} file descriptors\n`,
    );
    for (const note of exported.notes) process.stdout.write(`note: ${note}\n`);
  },
};
