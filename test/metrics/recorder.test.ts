import { describe, expect, it } from 'vitest';
import { decodeHistogram, MAX_TRACKABLE_US } from '../../src/metrics/histogram.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import { ledgerTotals } from '../../src/metrics/types.js';
import { expectWithinHdr } from './helpers.js';

const T0 = 1_790_000_000_000;

describe('MetricsRecorder latency', () => {
  it('corrected is measured from the intended time, raw from the actual start', () => {
    const r = new MetricsRecorder(T0);
    r.recordLatency('telemetry', 0, 40, 50);
    const snap = r.snapshot(T0 + 1000);
    const enc = snap.ops.telemetry!;
    const corrected = decodeHistogram(enc.corrected);
    const raw = decodeHistogram(enc.raw);
    expect(corrected.totalCount).toBe(1);
    expect(raw.totalCount).toBe(1);
    // µs inside the histogram
    expectWithinHdr(corrected.getValueAtPercentile(50), 50_000);
    expectWithinHdr(raw.getValueAtPercentile(50), 10_000);
    expect(Object.keys(snap.ops)).toEqual(['telemetry']);
  });

  it('keeps sub-millisecond precision from float timestamps', () => {
    const r = new MetricsRecorder(T0);
    r.recordLatency('connect', 100.25, 100.25, 100.75); // 500 µs
    const h = decodeHistogram(r.snapshot(T0 + 1).ops.connect!.raw);
    expect(h.getValueAtPercentile(50)).toBe(500);
  });

  it('does not credit an operation that started early: corrected equals raw', () => {
    const r = new MetricsRecorder(T0);
    r.recordLatency('command', 100, 90, 120);
    const enc = r.snapshot(T0 + 1).ops.command!;
    expectWithinHdr(decodeHistogram(enc.corrected).getValueAtPercentile(50), 30_000);
    expectWithinHdr(decodeHistogram(enc.raw).getValueAtPercentile(50), 30_000);
  });

  it('rejects NaN, negative durations and unknown operations without throwing, and counts them', () => {
    const r = new MetricsRecorder(T0);
    r.recordLatency('telemetry', NaN, 1, 2);
    r.recordLatency('telemetry', 0, 10, 5);
    r.recordLatency('nope' as never, 0, 1, 2);
    r.recordLatency('telemetry', 0, 1, 2);
    const snap = r.snapshot(T0 + 1);
    expect(snap.rejected).toBe(3);
    expect(decodeHistogram(snap.ops.telemetry!.raw).totalCount).toBe(1);
    expect(r.snapshot(T0 + 2).rejected).toBe(0);
  });

  it('clamps values above the ceiling and counts them', () => {
    const r = new MetricsRecorder(T0);
    r.recordLatency('provision', 0, 0, 2 * 3_600_000);
    const snap = r.snapshot(T0 + 1);
    expect(snap.clamped).toBe(1);
    const h = decodeHistogram(snap.ops.provision!.corrected);
    expect(h.totalCount).toBe(1);
    expectWithinHdr(h.maxValue, MAX_TRACKABLE_US);
  });

  it('snapshot covers only the interval since the previous one and resets histograms', () => {
    const r = new MetricsRecorder(T0);
    for (let i = 0; i < 10; i++) r.recordLatency('telemetry', 0, 0, i + 1);
    const s1 = r.snapshot(T0 + 1000);
    expect(s1.startMs).toBe(T0);
    expect(s1.endMs).toBe(T0 + 1000);
    expect(decodeHistogram(s1.ops.telemetry!.corrected).totalCount).toBe(10);
    const s2 = r.snapshot(T0 + 2000);
    expect(s2.startMs).toBe(T0 + 1000);
    expect(s2.ops).toEqual({});
    r.recordLatency('telemetry', 0, 0, 1);
    expect(decodeHistogram(r.snapshot(T0 + 3000).ops.telemetry!.corrected).totalCount).toBe(1);
  });

  it('snapshots survive structured clone (postMessage)', () => {
    const r = new MetricsRecorder(T0);
    r.recordLatency('twinGet', 0, 1, 3);
    r.recordError('timeout', 'no response', 'twinGet');
    r.setGauge('connected', 3);
    r.recordLateness(2);
    const snap = r.snapshot(T0 + 1000);
    expect(structuredClone(snap)).toEqual(snap);
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
  });

  it('records scheduler lateness; early timers count as zero', () => {
    const r = new MetricsRecorder(T0);
    r.recordLateness(5);
    r.recordLateness(-3);
    const h = decodeHistogram(r.snapshot(T0 + 1).lateness!);
    expect(h.totalCount).toBe(2);
    expect(h.getValueAtPercentile(0)).toBe(0);
    expectWithinHdr(h.maxValue, 5000);
    expect(r.snapshot(T0 + 2).lateness).toBeUndefined();
  });
});

describe('ledger and gauges', () => {
  it('sends ledger increments, not totals', () => {
    const r = new MetricsRecorder(T0);
    r.ledger.generated += 10;
    r.ledger.acknowledged += 4;
    expect(r.snapshot(T0 + 1).ledger).toMatchObject({ generated: 10, acknowledged: 4, failed: 0 });
    r.ledger.generated += 5;
    r.ledger.stored += 2;
    expect(r.snapshot(T0 + 2).ledger).toMatchObject({ generated: 5, acknowledged: 0, stored: 2 });
    expect(r.ledger.generated).toBe(15);
  });

  it('derives inFlight and detects a ledger that does not balance', () => {
    const ok = ledgerTotals({
      generated: 100,
      acknowledged: 80,
      failed: 5,
      expired: 4,
      dropped: 3,
      stored: 7,
      deliveredLate: 2,
      resent: 0,
    });
    expect(ok.inFlight).toBe(8);
    expect(ok.balanced).toBe(true);
    expect(ok.generated).toBe(ok.acknowledged + ok.failed + ok.expired + ok.dropped + ok.inFlight);
    const bad = ledgerTotals({
      generated: 10,
      acknowledged: 11,
      failed: 0,
      expired: 0,
      dropped: 0,
      stored: 0,
      deliveredLate: 0,
      resent: 0,
    });
    expect(bad.inFlight).toBe(-1);
    expect(bad.balanced).toBe(false);
  });

  it('gauges are absolute values as they stand', () => {
    const r = new MetricsRecorder(T0);
    r.setGauge('connected', 10);
    r.setGauge('backingOff', 2);
    r.setGauge('connected', 7);
    expect(r.snapshot(T0 + 1).gauges).toEqual({ connected: 7, backingOff: 2 });
    expect(r.snapshot(T0 + 2).gauges).toEqual({ connected: 7, backingOff: 2 });
  });
});

describe('errors', () => {
  it('counts by class and operation and keeps the latest message of each class', () => {
    const r = new MetricsRecorder(T0);
    r.recordError('throttled', '429 first', 'telemetry');
    r.recordError('throttled', '429 second', 'connect');
    r.recordError('throttled', '429 third');
    r.recordError('auth', 'bad token', 'connect');
    const e = r.snapshot(T0 + 1).errors;
    expect(e.throttled).toMatchObject({
      count: 3,
      lastMessage: '429 third',
      byOperation: { telemetry: 1, connect: 1 },
    });
    expect(e.throttled!.lastOperation).toBeUndefined();
    expect(e.auth).toMatchObject({ count: 1, lastMessage: 'bad token', lastOperation: 'connect' });
    expect(e.timeout).toBeUndefined();
    expect(r.snapshot(T0 + 2).errors).toEqual({});
  });

  it('files an unknown class under other', () => {
    const r = new MetricsRecorder(T0);
    r.recordError('weird' as never, 'x');
    expect(r.snapshot(T0 + 1).errors.other).toMatchObject({ count: 1, lastMessage: 'x' });
  });

  it('scrubs credentials and bounds the length of messages', () => {
    const r = new MetricsRecorder(T0);
    const sas =
      'SharedAccessSignature sr=hub.azure-devices.net%2Fdevices%2Fd1&sig=SDdmnjkYyFjrpbqAqR3vZ6%2BwYRPTKArKB3r5irq%2BZQE%3D&se=1700000000';
    r.recordError('auth', `connect refused for password ${sas}`);
    r.recordError('protocol', 'HostName=h;DeviceId=d;SharedAccessKey=c2VjcmV0c2VjcmV0c2VjcmV0 rejected');
    r.recordError('server', 'x'.repeat(5000));
    const e = r.snapshot(T0 + 1).errors;
    expect(e.auth!.lastMessage).not.toContain('SDdmnjk');
    expect(e.auth!.lastMessage).toContain('SharedAccessSignature [redacted]');
    expect(e.protocol!.lastMessage).not.toContain('c2VjcmV0');
    expect(e.server!.lastMessage.length).toBeLessThanOrEqual(300);
  });
});
