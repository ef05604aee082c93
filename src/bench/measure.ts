// Small measuring tools shared by the bench parent and its client processes.
import { readFileSync } from 'node:fs';
import { build, type Histogram } from 'hdr-histogram-js';

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat counts CPU time in these ticks
const PAGE_SIZE = 4096;

/** CPU seconds (user + system) and RSS of another process, from /proc; undefined when it is gone or not Linux. */
export function readProcStat(pid: number): { cpuSeconds: number; rssBytes: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; the fields after its closing parenthesis do not.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const rssPages = Number(fields[21]);
    return { cpuSeconds: (utime + stime) / CLK_TCK, rssBytes: rssPages * PAGE_SIZE };
  } catch {
    return undefined;
  }
}

/** CPU seconds all processes on the machine used so far (busy time over every core), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return busy / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** This process's CPU seconds (all threads), from process.cpuUsage(). */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Whether --expose-gc was given (RSS figures are then taken after a full collection). */
export const gcAvailable = gc !== undefined;

/** Full collections until the heap stops shrinking (a few rounds), then a pause so freed pages go back. */
export async function settle(): Promise<void> {
  if (gc === undefined) {
    await sleep(200);
    return;
  }
  let last = Infinity;
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(50);
    const used = process.memoryUsage().heapUsed;
    if (used >= last * 0.99) break;
    last = used;
  }
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export async function memory(): Promise<MemorySample> {
  await settle();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Latency histogram in microseconds, the shape the metrics module uses (1 µs .. 1 h, 3 digits). */
export function latencyHistogram(): Histogram {
  return build({
    bitBucketSize: 32,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

export interface Percentiles {
  count: number;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  maxMs: number | null;
}

/** Percentiles in ms of a histogram recorded in µs. */
export function percentiles(h: Histogram): Percentiles {
  if (h.totalCount === 0) return { count: 0, p50Ms: null, p99Ms: null, p999Ms: null, maxMs: null };
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count: h.totalCount,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
  };
}

export const clampUs = (us: number) => (us < 0 ? 0 : us > 3_600_000_000 ? 3_600_000_000 : Math.round(us));

/**
 * Closed loop: at most `concurrency` identities between launch and completion. `launch(i)` starts identity i;
 * whoever learns that one finished calls `complete` (once per launch; which one does not matter).
 */
export class ClosedLoop {
  private started = 0;
  private ok = 0;
  private failed = 0;
  private filling = false;
  private resolve: (() => void) | undefined;
  readonly errors: Record<string, number> = {};

  constructor(
    private readonly n: number,
    private readonly concurrency: number,
    private readonly launch: (i: number) => void,
  ) {}

  get finished(): number {
    return this.ok + this.failed;
  }

  /** Runs until every identity finished or `deadlineMs` passed. */
  async run(
    deadlineMs: number,
  ): Promise<{ ok: number; failed: number; unfinished: number; errors: Record<string, number> }> {
    const finished = new Promise<void>((r) => (this.resolve = r));
    let timer: NodeJS.Timeout | undefined;
    this.fill();
    if (this.ok + this.failed < this.n) {
      await Promise.race([finished, new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)))]);
    }
    clearTimeout(timer);
    this.resolve = undefined;
    this.started = this.n; // nothing more is launched after the deadline
    return { ok: this.ok, failed: this.failed, unfinished: this.n - this.ok - this.failed, errors: this.errors };
  }

  complete(ok: boolean, err?: unknown): void {
    if (ok) this.ok++;
    else {
      this.failed++;
      const key = errorKey(err);
      this.errors[key] = (this.errors[key] ?? 0) + 1;
    }
    if (this.ok + this.failed >= this.n) this.resolve?.();
    else this.fill();
  }

  /** Counts an error that does not finish the identity (it retries on its own). */
  noteError(err: unknown): void {
    const key = `retried: ${errorKey(err)}`;
    this.errors[key] = (this.errors[key] ?? 0) + 1;
  }

  private fill(): void {
    if (this.filling) return;
    this.filling = true;
    try {
      while (this.started < this.n && this.started - this.ok - this.failed < this.concurrency)
        this.launch(this.started++);
    } finally {
      this.filling = false;
    }
  }
}

/** A short, id-free summary of an error, for counting them by kind. */
export function errorKey(err: unknown): string {
  const e = err as { errorClass?: string; code?: unknown; message?: string };
  const message = String(e?.message ?? err)
    .replace(/bench-[\w-]+/g, '<id>')
    .replace(/\d{3,}/g, 'N')
    .slice(0, 120);
  return e?.errorClass !== undefined ? `${e.errorClass}: ${message}` : message;
}
