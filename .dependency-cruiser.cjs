// Import rules of src/, checked by `npm run deps` (part of `npm test`): no cycles, and each folder imports only
// folders below it. Type-only imports count too: a type pulled from a higher folder ties the two folders together
// as much as a value does, and is how most cycles start.
//
// The layers, lowest first (README, "Layout"):
const LAYERS = [
  'protocol', // the Azure IoT dialect as pure functions: no I/O, nothing else of the project
  'core', // the scheduler and its clock; certificate pairs kept on disk
  'metrics', // recorders, the aggregate, and the types of a fleet's state that the UI shows
  'transport', // MQTT sessions, TLS, backoff, error classes
  'model', // DTDL models: the parser, its limits, schemas, and models by DTMI from a model repository
  'routes', // the edgeHub route language: compiled routes and conditions
  'deployment', // $edgeAgent and $edgeHub desired properties as edgeAgent and edgeHub read them
  'config', // scenario and profile loading, the plan, the threshold grammar
  'emulator', // the embedded cloud (a program of its own: protocol and core only, see below)
  'endpoints', // how an identity reaches a target
  'sim', // the simulated things and their behaviours
  'report', // report files: summary.json, .hgrm, html, junit, Prometheus text; thresholds judged on a summary
  'ui', // the dashboard's view model and Ink components
  'outputs', // the run's outputs: start / snapshot / finish over the one stream of merged snapshots
  'engine', // the coordinator and the worker runtime
  'api', // runScenario: load, plan, target, manifests, run, outputs
  'smoke', // edgefleet smoke, on the api
  'exports', // fleets for other engines: a k6 script, Kubernetes objects
  'cli', // one thin file per command
  'bench', // the benchmark program
];

const upward = LAYERS.map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `src/${layer} imports only folders below it (${LAYERS.slice(0, i).join(', ') || 'none'})`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'no import cycle, type-only imports included',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...upward,
    {
      name: 'sim-not-emulator',
      comment: 'the simulator never imports the emulator (they agree on protocol/ only)',
      severity: 'error',
      from: { path: '^src/sim/' },
      to: { path: '^src/emulator/' },
    },
    {
      name: 'emulator-alone',
      comment: 'the emulator depends on protocol/ and core/, nothing of the simulator',
      severity: 'error',
      from: { path: '^src/emulator/' },
      to: { path: '^src/', pathNot: '^src/(emulator|protocol|core)/' },
    },
    {
      name: 'ui-reads-metrics',
      comment: 'the UI reads snapshots and the types metrics defines, never a worker or a simulated thing',
      severity: 'error',
      from: { path: '^src/ui/' },
      to: { path: '^src/', pathNot: '^src/(ui|metrics)/' },
    },
    {
      name: 'protocol-no-io',
      comment: 'protocol/ is pure: no file, socket or process I/O',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(fs|fs/promises|net|tls|http|https|http2|dgram|child_process|worker_threads)$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
