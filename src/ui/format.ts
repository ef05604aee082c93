// Small, pure formatters shared by the dashboard and the plain progress line (no Ink, no React here).

const SPARK = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'] as const;

/** 12345 → "12,345"; non-finite → "–" so a bad input never prints NaN or Infinity. */
export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

/** A count that must fit in `width` columns: grouped digits when they fit, else 12.3k / 4.56M / 7.8G. */
export function fmtCount(n: number, width = Infinity): string {
  const full = fmtInt(n);
  if (full.length <= width || !Number.isFinite(n)) return full;
  const abs = Math.abs(n);
  for (const [div, unit] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (abs >= div) {
      const v = n / div;
      const s = `${v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2)}${unit}`;
      return s.length <= width ? s : `${Math.round(v)}${unit}`;
    }
  }
  return full;
}

/** A rate per second: one decimal below 10 (0.2 commands/s matters), whole numbers above. */
export function fmtRate(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return n > 0 && n < 10 && !Number.isInteger(n) ? n.toFixed(1) : fmtInt(n);
}

/**
 * Latency in ms for a column headed "ms": three significant figures, and seconds with an "s" once
 * it is 10 s or more (a 5-digit ms figure is hard to read at a glance).
 */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(ms >= 100_000 ? 0 : 1)}s`;
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** 83_000 → "1:23"; 3_723_000 → "1:02:03". */
export function fmtClock(ms: number): string {
  const total = Math.max(0, Math.floor((Number.isFinite(ms) ? ms : 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** Run time with milliseconds, for device events: "1:23.456". */
export function fmtRunTime(ms: number): string {
  const safe = Number.isFinite(ms) ? Math.max(0, ms) : 0;
  return `${fmtClock(safe)}.${String(Math.floor(safe % 1000)).padStart(3, '0')}`;
}

/** Bytes-ish in MB → "512 MB" / "1.2 GB". */
export function fmtMB(mb: number | null | undefined): string {
  if (mb === null || mb === undefined || !Number.isFinite(mb)) return '–';
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}

export function fmtPercent(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return '–';
  return `${Math.round(p)}%`;
}

/**
 * The last `width` values as unicode blocks, scaled from 0 to the largest value shown (so the shape
 * is visible whatever the unit). A missing value (a second without samples) is a space.
 */
export function sparkline(values: readonly (number | null)[], width: number): string {
  if (width <= 0) return '';
  const shown = values.slice(-width);
  let max = 0;
  for (const v of shown) if (v !== null && Number.isFinite(v) && v > max) max = v;
  return shown
    .map((v) => {
      if (v === null || !Number.isFinite(v)) return ' ';
      if (max <= 0) return SPARK[0];
      return SPARK[Math.min(SPARK.length - 1, Math.max(0, Math.round((v / max) * (SPARK.length - 1))))];
    })
    .join('');
}

/** One block per value in 0..1 (worker busy levels). */
export function levelBlocks(fractions: readonly number[]): string {
  return fractions
    .map(
      (f) =>
        SPARK[Math.min(SPARK.length - 1, Math.max(0, Math.round((Number.isFinite(f) ? f : 0) * (SPARK.length - 1))))],
    )
    .join('');
}

/** `width` cells of █ and ░; fraction clamped to 0..1. */
export function progressBar(fraction: number, width: number): string {
  if (width <= 0) return '';
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

// eslint-disable-next-line no-control-regex -- an ANSI escape sequence (ESC [ ... final byte) is what it strips
const ANSI_ESCAPE = /\u001B\[[0-?]*[ -/]*[@-~]/g;
// eslint-disable-next-line no-control-regex -- control characters (C0, DEL, C1) are what it strips
const CONTROL_CHARACTERS = /[\u0000-\u001F\u007F-\u009F]+/g;

/**
 * One line of text from something a remote end said: no control characters (an ANSI escape in an error
 * message would repaint the terminal), whitespace collapsed.
 */
export function oneLine(s: string): string {
  return s.replace(ANSI_ESCAPE, '').replace(CONTROL_CHARACTERS, ' ').replace(/\s+/g, ' ').trim();
}

/** Cut to `width` characters with an ellipsis (for the plain line; Ink truncates by cell width itself). */
export function truncate(s: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...s];
  return chars.length <= width ? s : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}
