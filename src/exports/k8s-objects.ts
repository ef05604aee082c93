// What every generated Kubernetes object shares: the names, the labels, where things are mounted in the pods.
import type { LoadedScenario } from '../config/load.js';
import type { ScenarioFiles } from './k8s-files.js';
import type { ShardSize } from './k8s-sizing.js';

export interface KubernetesOptions {
  scenario: string;
  shards: number;
  image: string;
  namespace: string;
  profile?: string | undefined;
  /** Object names start with this (default: edgefleet- and the scenario's name). */
  name?: string | undefined;
  /** The shared volume for report folders: its storage class (default the cluster's) and size. */
  storageClass?: string | undefined;
  storageSize: string;
}

/** Where things are inside the pods. */
export const MOUNTS = { scenario: '/etc/edgefleet/scenario', reports: '/reports', state: '/var/lib/edgefleet' };
export const METRICS_PORT = 9464;

export interface Names {
  base: string;
  configMap: string;
  secret: string;
  claim: string;
  shards: string;
  merge: string;
  service: string;
}

export interface Context {
  options: KubernetesOptions;
  loaded: LoadedScenario;
  files: ScenarioFiles;
  size: ShardSize;
  names: Names;
  /** The variables the pods read from the Secret. */
  secrets: string[];
}

/** A DNS-1123 label from a scenario name: lower case, digits and "-", short enough for the Job's pod names. */
export function baseName(text: string): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `edgefleet-${cleaned || 'fleet'}`.slice(0, 40).replace(/-+$/, '');
}

export function namesOf(base: string): Names {
  return {
    base,
    configMap: `${base}-scenario`,
    secret: `${base}-secrets`,
    claim: `${base}-reports`,
    shards: `${base}-shards`,
    merge: `${base}-merge`,
    service: `${base}-metrics`,
  };
}

export const labels = (context: Context, component: string): Record<string, string> => ({
  'app.kubernetes.io/name': 'edgefleet',
  'app.kubernetes.io/instance': context.names.base,
  'app.kubernetes.io/component': component,
});

export const metadata = (context: Context, name: string, component: string) => ({
  name,
  namespace: context.options.namespace,
  labels: labels(context, component),
});
