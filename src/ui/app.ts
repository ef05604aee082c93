// Mounting the Ink app: kept out of index.ts because loading Ink (React, the yoga layout engine) takes most
// of a second, which a run without a terminal, or any other command, should not pay.
import { createElement } from 'react';
import { render, type Instance } from 'ink';
import { Dashboard } from './dashboard.js';
import type { DashboardHandle, DashboardOptions } from './options.js';

/** Log lines printed per flush at most; a flood (a thousand devices failing at once) is summarised instead. */
const MAX_LOG_LINES_PER_FLUSH = 20;
const LOG_FLUSH_MS = 100;

export function mountDashboard(opts: DashboardOptions): DashboardHandle {
  let state = opts.initial;
  // <Static> prints each item once, when it is added. A new batch (new key) starts a fresh list, so memory
  // stays bounded and the lines already printed are not printed again.
  let logs: { id: number; line: string }[] = [];
  let logsKey = 0;
  let nextLogId = 0;
  let buffered: string[] = [];
  let dropped = 0;
  let flushTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const element = () =>
    createElement(Dashboard, {
      state,
      logs,
      logsKey,
      onStop: opts.onStop,
      onPause: opts.onPause,
      onDrill: opts.onDrill,
      ...(opts.onInterrupt ? { onInterrupt: opts.onInterrupt } : {}),
      ...(opts.deviceIds ? { deviceIds: opts.deviceIds } : {}),
    });
  const instance: Instance = render(element(), {
    ...(opts.stdout ? { stdout: opts.stdout } : {}),
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    ...(opts.stderr ? { stderr: opts.stderr } : {}),
    // Raw mode swallows the terminal's SIGINT; the dashboard turns Ctrl-C into onInterrupt/onStop instead.
    exitOnCtrlC: false,
    patchConsole: opts.patchConsole ?? true,
    maxFps: 10,
  });
  const flush = () => {
    flushTimer = undefined;
    if (buffered.length === 0 && dropped === 0) return;
    const lines =
      dropped > 0 ? [...buffered, `… and ${dropped} more log lines (--log-file keeps every line)`] : buffered;
    buffered = [];
    dropped = 0;
    logs = [...logs, ...lines.map((line) => ({ id: nextLogId++, line }))];
    if (logs.length > 200) {
      logs = lines.map((line) => ({ id: nextLogId++, line }));
      logsKey += 1;
    }
    instance.rerender(element());
  };
  return {
    update(next) {
      if (closed) return;
      state = next;
      instance.rerender(element());
    },
    log(line) {
      if (closed) return;
      if (buffered.length < MAX_LOG_LINES_PER_FLUSH) buffered.push(line);
      else dropped += 1;
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
