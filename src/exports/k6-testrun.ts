// testrun.yaml of `edgefleet export k6`: the script in a ConfigMap and a k6-operator TestRun that runs it on
// `parallelism` runner pods (each takes an execution segment of the arrivals). Settings come from a Secret the
// team creates; the image is a k6 built with xk6-mqtt (README, "Running on k6").
import { stringify } from 'yaml';

export interface K6TestRunInput {
  scenario: string;
  /** The script's file name, and its text for the ConfigMap. */
  script: string;
  scriptText: string;
  parallelism: number;
  /** The settings the runners read from the Secret. */
  settings: string[];
  /** The emulator's certificate names localhost only: runners in a cluster skip verification. */
  skipTlsVerify: boolean;
}

export const K6_RUNNER_IMAGE = 'registry.example.com/k6-xk6-mqtt:v0.3.0';

export function k6TestRun(input: K6TestRunInput): string {
  const name = `${input.scenario}-k6`;
  const secret = `${name}-settings`;
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'edgefleet' } },
    data: { [input.script]: input.scriptText },
  };
  const env: Record<string, unknown>[] = input.settings.map((setting) => ({
    name: setting,
    valueFrom: { secretKeyRef: { name: secret, key: setting, optional: true } },
  }));
  if (input.skipTlsVerify) env.push({ name: 'K6_INSECURE_SKIP_TLS_VERIFY', value: 'true' });
  const testRun = {
    apiVersion: 'k6.io/v1alpha1',
    kind: 'TestRun',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'edgefleet' } },
    spec: {
      parallelism: input.parallelism,
      script: { configMap: { name, file: input.script } },
      arguments: `--tag testid=${name}`,
      runner: { image: K6_RUNNER_IMAGE, env },
    },
  };
  const head = [
    `# ${input.scenario}: the exported k6 script and a k6-operator TestRun that runs it on ${input.parallelism} pods.`,
    '# Before applying it:',
    `#   kubectl create secret generic ${secret} \\`,
    ...input.settings.map((s, i) => `#     --from-literal=${s}=…${i === input.settings.length - 1 ? '' : ' \\'}`),
    `#   set spec.runner.image to your k6 built with xk6-mqtt (README: "Running on k6"; ${K6_RUNNER_IMAGE} is a`,
    '#   placeholder), then: kubectl apply -f testrun.yaml',
    '# k6 splits the arrivals into execution segments, one per pod; device ids come from the iteration number in',
    '# the whole test, so every pod runs different devices.',
  ].join('\n');
  return `${head}\n${stringify(configMap, { lineWidth: 0 })}---\n${stringify(testRun, { lineWidth: 0 })}`;
}
