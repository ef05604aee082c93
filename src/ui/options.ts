// What mounting the dashboard takes and gives back (app.ts mounts it; index.ts loads app.ts on demand).
import type { DashboardCallbacks } from './dashboard.js';
import type { DashboardState, DeviceDetail } from './model.js';

export interface DashboardOptions extends DashboardCallbacks {
  initial: DashboardState;
  onStop: () => void;
  onPause: (paused: boolean) => void;
  onDrill: (deviceId: string) => Promise<DeviceDetail | undefined>;
  /** Ids the device prompt completes with Tab (e.g. the plan's identities). */
  deviceIds?: readonly string[];
  /**
   * Ctrl-C (raw mode: the terminal sends no SIGINT). Default: the first stops gracefully (onStop), the second
   * raises SIGINT on the process, as the terminal would have.
   */
  onInterrupt?: () => void;
  /** Streams; default the process's. */
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  stderr?: NodeJS.WriteStream;
  /** Route console.* above the live area (default true). */
  patchConsole?: boolean;
}

export interface DashboardHandle {
  update(state: DashboardState): void;
  /** A line printed above the live area (stays in the scrollback). Use it instead of writing to stderr. */
  log(line: string): void;
  /** Unmounts; the last frame stays on screen. */
  close(): Promise<void>;
}
