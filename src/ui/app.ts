// Mounting the Ink app: kept out of index.ts because loading Ink (React, the yoga layout engine) takes most
// of a second, which a run without a terminal, or any other command, should not pay.
import { createElement } from 'react';
import { render, type Instance } from 'ink';
import { Dashboard } from './dashboard.js';
import type { DashboardHandle, DashboardOptions } from './options.js';

/** Log lines printed per flush at most; a flood (a thousand devices failing at once) is summarised instead. */
const MAX_LOG_LINES_PER_FLUSH = 20;
const LOG_FLUSH_MS = 100;

/**
 * The log lines <Static> prints, each once, when it is added. A new batch (new key) starts a fresh list, so memory
 * stays bounded and the lines already printed are not printed again.
 */
class PrintedLog {
  items: { id: number; line: string }[] = [];
  key = 0;
  private nextId = 0;
  private buffered: string[] = [];
  private dropped = 0;

  /** Keeps a line for the next flush; past MAX_LOG_LINES_PER_FLUSH, only counts it. */
  add(line: string): void {
    if (this.buffered.length < MAX_LOG_LINES_PER_FLUSH) this.buffered.push(line);
    else this.dropped += 1;
  }

  /** Moves the waiting lines (and a line for those dropped) to the printed list; false when there were none. */
  flush(): boolean {
    if (this.buffered.length === 0 && this.dropped === 0) return false;
    const lines =
      this.dropped > 0
        ? [...this.buffered, `… and ${this.dropped} more log lines (--log-file keeps every line)`]
        : this.buffered;
    this.buffered = [];
    this.dropped = 0;
    this.items = [...this.items, ...lines.map((line) => ({ id: this.nextId++, line }))];
    if (this.items.length > 200) {
      this.items = lines.map((line) => ({ id: this.nextId++, line }));
      this.key += 1;
    }
    return true;
  }
}

function renderDashboard(opts: DashboardOptions, element: ReturnType<typeof createElement>): Instance {
  return render(element, {
    ...(opts.stdout ? { stdout: opts.stdout } : {}),
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    ...(opts.stderr ? { stderr: opts.stderr } : {}),
    // Raw mode swallows the terminal's SIGINT; the dashboard turns Ctrl-C into onInterrupt/onStop instead.
    exitOnCtrlC: false,
    patchConsole: opts.patchConsole ?? true,
    maxFps: 10,
  });
}

export function mountDashboard(opts: DashboardOptions): DashboardHandle {
  let state = opts.initial;
  const printed = new PrintedLog();
  let flushTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const element = () =>
    createElement(Dashboard, {
      state,
      logs: printed.items,
      logsKey: printed.key,
      onStop: opts.onStop,
      onPause: opts.onPause,
      onDrill: opts.onDrill,
      ...(opts.onInterrupt ? { onInterrupt: opts.onInterrupt } : {}),
      ...(opts.deviceIds ? { deviceIds: opts.deviceIds } : {}),
    });
  const instance = renderDashboard(opts, element());
  const flush = () => {
    flushTimer = undefined;
    if (printed.flush()) instance.rerender(element());
  };
  return {
    update(next) {
      if (closed) return;
      state = next;
      instance.rerender(element());
    },
    log(line) {
      if (closed) return;
      printed.add(line);
      // Each printed batch repaints the whole dashboard: batch them, on the coordinator's own thread.
      flushTimer ??= setTimeout(flush, LOG_FLUSH_MS);
    },
    async close() {
      if (closed) return;
      if (flushTimer !== undefined) {
        clearTimeout(flushTimer);
        flush();
      }
      closed = true;
      instance.unmount();
      await instance.waitUntilExit().catch(() => {});
    },
  };
}
