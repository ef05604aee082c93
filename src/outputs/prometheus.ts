// Live metrics for Prometheus (/metrics): every scrape reads the merged aggregate as it stands.
import { startPrometheusExporter, type PrometheusExporter } from '../report/prometheus.js';
import type { Output } from './output.js';

export function prometheusOutput(port: number, host: string): Output {
  let exporter: PrometheusExporter | undefined;
  return {
    name: 'prometheus',
    async start(run) {
      const labels: Record<string, string> = { run_id: run.runId, scenario: run.scenario };
      if (run.shard !== undefined) labels.shard = `${run.shard.index + 1}/${run.shard.count}`;
      exporter = await startPrometheusExporter(port, host, () => run.aggregate, labels);
      run.notice(`prometheus: ${exporter.url}`);
    },
    async close() {
      await exporter?.close();
      exporter = undefined;
    },
  };
}
