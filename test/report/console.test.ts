import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatConsoleReport, formatMs } from '../../src/report/console.js';
import { buildSummary } from '../../src/report/summary.js';
import { knownAggregate } from './fixture.js';

const summary = buildSummary(knownAggregate(), { runId: 'run-42' });
const strip = stripVTControlCharacters;

describe('console report', () => {
  const text = formatConsoleReport(summary);
  const lines = text.split('\n');

  it('prints a percentile table with corrected figures and raw under them', () => {
    const header = lines.find((l) => l.startsWith('operation'))!;
    expect(header.split(/\s{2,}/)).toEqual(['operation', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms']);
    const i = lines.findIndex((l) => l.startsWith('telemetry'));
    const t = summary.operations.telemetry;
    expect(lines[i]!.trim().split(/\s+/)).toEqual([
      'telemetry',
      '100',
      formatMs(t.p50),
      formatMs(t.p95),
      formatMs(t.p99),
      formatMs(t.max),
    ]);
    expect(lines[i + 1]!.trim().split(/\s+/)).toEqual([
      'raw',
      formatMs(t.raw.p50),
      formatMs(t.raw.p95),
      formatMs(t.raw.p99),
      formatMs(t.raw.max),
    ]);
    expect(lines[i]).toContain('60.0'); // corrected p50 ≈ 60.03 ms
    const c = lines.findIndex((l) => l.startsWith('connect'));
    expect(lines[c]).toMatch(/^connect\s+1\s+50\.0\d\s/);
    expect(lines[c + 1]).toMatch(/^\s+raw\s+10\.0\d\s/);
    expect(text).not.toMatch(/^c2d/m); // operations that never ran are left out
  });

  it('aligns columns: every table row has the same width', () => {
    const start = lines.findIndex((l) => l.startsWith('operation'));
    const table = lines.slice(
      start,
      lines.findIndex((l, i) => i > start && l.startsWith('latency from')),
    );
    expect(new Set(table.map((l) => l.length)).size).toBe(1);
  });

  it('shows the ledger in one line and whether it balances', () => {
    const ledger = lines.filter((l) => l.startsWith('messages'));
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toContain('generated 110 = acknowledged 100 + failed 3 + expired 2 + dropped 1 + in flight 4');
    expect(ledger[0]).toContain('balanced');
    expect(ledger[0]).not.toContain('UNBALANCED');
    const bad = formatConsoleReport({
      ...summary,
      ledger: { ...summary.ledger, acknowledged: 120, inFlight: -16, balanced: false },
    });
    expect(bad).toContain('UNBALANCED: 16 more settled than generated');
  });

  it('lists errors by class with their latest message', () => {
    const throttled = lines.find((l) => /\bthrottled\b/.test(l))!;
    expect(throttled).toMatch(/throttled\s+2\s+last: "HTTP 429 Too Many Requests" \(telemetry\)/);
    expect(lines.find((l) => /\bauth\b/.test(l))).toMatch(/auth\s+1\s+last: "CONNACK 5 not authorized"/);
    expect(text).not.toMatch(/\btimeout\b/);
  });

  it('uses no colour unless asked', () => {
    expect(text).not.toContain('\u001b[');
    const colored = formatConsoleReport(summary, { color: true });
    expect(colored).toContain('\u001b[32mbalanced');
    expect(strip(colored)).toBe(text);
  });

  it('formats milliseconds to about four significant digits', () => {
    expect([
      formatMs(0.0421),
      formatMs(5.25),
      formatMs(60.031),
      formatMs(123.45),
      formatMs(4321.9),
      formatMs(null),
    ]).toEqual(['0.042', '5.250', '60.03', '123.5', '4322', '-']);
  });
});
