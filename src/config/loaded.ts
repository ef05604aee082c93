// What loading a scenario gives: the scenario with its profile, manifests and models read, ready for the gate
// (gate.ts) and the plan. Plain data: it crosses into worker threads.
import type { ModelSource } from '../model/dtdl.js';
import type { DeploymentManifest } from './manifest.js';
import type { Profile, ProfileAction } from './profile.js';
import type {
  DeviceGroup,
  DownstreamGroup,
  EdgeGroup,
  IotCentralTargetSettings,
  IotHubTargetSettings,
  ModuleBehaviour,
  MqttTargetSettings,
  Scenario,
} from './scenario.js';

export interface LoadedFile<T> {
  /** Absolute path. */
  path: string;
  json: T;
}

/** A DTDL model as read, not yet interpreted (the scenario gate parses it; each worker parses it again). */
export interface LoadedModel {
  /** Its file; for a model named by DTMI, the file or URL its root Interface came from. */
  path: string;
  /** An Interface or a list of them; for a DTMI, the Interfaces it depends on, root first. */
  json: unknown;
  /** For a model named by DTMI: the DTMI, and where each Interface of `json` came from. */
  dtmi?: string;
  sources?: ModelSource[];
}

export interface LoadedProfile {
  /** Absolute path of the profile file. */
  file: string;
  profile: Profile;
}

export interface ResolvedModule {
  name: string;
  image: string;
  /** With absolute paths. */
  behaviour: ModuleBehaviour;
  /** scenario: listed under modules; image: chosen by its image name; default: passthrough. */
  chosenBy: 'scenario' | 'image' | 'default';
  /** The DTDL model of a dtdl behaviour, or of identity-translation sensors. */
  model?: LoadedModel;
}

export interface LoadedGroupBase {
  name: string;
  /** The DTDL model of the device. */
  model?: LoadedModel;
  /** With auth: connectionString, one per identity (read from the file when the scenario names one). Secrets. */
  connectionStrings?: string[];
}

export interface LoadedDeviceGroup extends LoadedGroupBase {
  kind: 'device';
  config: DeviceGroup;
}

export interface LoadedEdgeGroup extends LoadedGroupBase {
  kind: 'iotEdge';
  config: EdgeGroup;
  /** `jsonPath`: where modulesContent is in the file ('content' for a manifest exported with az iot edge). */
  manifest: LoadedFile<DeploymentManifest> & { jsonPath?: string };
  /** Every module the manifest lists, in manifest order, with the behaviour it gets. */
  modules: ResolvedModule[];
}

export type LoadedGroup = LoadedDeviceGroup | LoadedEdgeGroup;

/** Leaf devices behind each device of an IoT Edge group (a transparent gateway). */
export interface LoadedDownstreamGroup {
  kind: 'downstream';
  name: string;
  /** The IoT Edge group whose devices are their gateways. */
  gatewayGroup: string;
  /** With absolute paths. */
  config: DownstreamGroup;
  model?: LoadedModel;
}

/** A profile action with the groups it applies to (empty: it applies to nothing in this scenario and is skipped). */
export type ResolvedAction = ProfileAction & { groups: string[] };

export type ResolvedTarget =
  | { kind: 'emulator' }
  | { kind: 'iot-central'; settings: IotCentralTargetSettings }
  | { kind: 'iot-hub'; settings: IotHubTargetSettings }
  | { kind: 'mqtt'; settings: MqttTargetSettings };

export interface LoadedScenario {
  /** Absolute path of the scenario file. */
  file: string;
  dir: string;
  /**
   * Validated, defaults applied, durations in ms, file paths absolute, command-line overrides applied,
   * connection strings read, ${ENV} references of the target in use resolved (so: secrets inside).
   */
  scenario: Scenario;
  /** The profile in effect; its duration is the run's. */
  profile: Profile;
  profileFile: string;
  target: ResolvedTarget;
  seed: number;
  durationMs: number;
  groups: LoadedGroup[];
  /** Downstream groups of the IoT Edge groups, in scenario order. */
  downstream: LoadedDownstreamGroup[];
  actions: ResolvedAction[];
  /** Things that are legal but probably not meant, for `validate` and the start of a run to show. */
  warnings: string[];
}
