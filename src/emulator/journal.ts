// What the emulator's parts tell its store when they change what it knows, and how they wait for it to be recorded
// before acknowledging. In memory only (--ephemeral), nothing is recorded and nothing waits.

/** Which statistics changed besides per-identity counts. */
export type TotalsChange = 'counters' | 'latency';

export interface Journal {
  /** The device's own fields or its module identities (not their twins) changed, or it was created. */
  device(deviceId: string): void;
  /** The device is gone, with its modules, twins, last values, C2D queue, command history and relationships. */
  deviceDeleted(deviceId: string): void;
  /** The module identity is gone, with its twin and last values. */
  moduleDeleted(deviceId: string, moduleId: string): void;
  twin(deviceId: string, moduleId: string | undefined): void;
  /** One last telemetry value (`module|component|name`) of the device changed or went away. */
  lastValue(deviceId: string, key: string): void;
  identityStats(identity: string): void;
  totals(change: TotalsChange): void;
  c2d(deviceId: string): void;
  manifest(manifestId: string): void;
  /** The history of one command of the device (`key`: `device|module|component|command`) changed or went away. */
  commandHistory(deviceId: string, key: string): void;
  /** The id given to the relationship from `source` to `target` changed or went away. */
  relationshipId(source: string, target: string): void;
  dpsRegistration(registrationId: string): void;
  /**
   * Runs `fn` once everything changed so far is recorded: at once when nothing is waiting to be, later (after the
   * next group commit) otherwise. Callbacks run in the order they were given.
   */
  afterCommit(fn: () => void): void;
  /** Resolves once everything changed so far is recorded. */
  committed(): Promise<void>;
}

const noop = () => {};

/** Keeps nothing and waits for nothing: the emulator with --ephemeral. */
export const EPHEMERAL: Journal = {
  device: noop,
  deviceDeleted: noop,
  moduleDeleted: noop,
  twin: noop,
  lastValue: noop,
  identityStats: noop,
  totals: noop,
  c2d: noop,
  manifest: noop,
  commandHistory: noop,
  relationshipId: noop,
  dpsRegistration: noop,
  afterCommit: (fn) => fn(),
  committed: () => Promise.resolve(),
};
