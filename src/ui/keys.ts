// What a key does, as a pure function of the view and the key. Keys can arrive faster than React
// re-renders (a paste, tmux send-keys, a fast typist), so the logic must not read state captured by a closure.

export type Mode = 'main' | 'help' | 'prompt' | 'device';

export interface View {
  mode: Mode;
  /** Text typed at the device prompt. */
  prompt: string;
  /** Tab cycling: the prefix typed before the first Tab, and which match is shown. */
  completion: { prefix: string; index: number } | null;
  /** The device on screen (or under the prompt). */
  deviceId: string | null;
  paused: boolean;
  stopRequested: boolean;
  interrupts: number;
}

export type Effect =
  | { type: 'stop' }
  | { type: 'pause'; paused: boolean }
  | { type: 'drill'; deviceId: string }
  | { type: 'interrupt'; count: number };

/** The parts of Ink's Key this uses. */
export interface KeyLike {
  ctrl?: boolean;
  meta?: boolean;
  escape?: boolean;
  return?: boolean;
  backspace?: boolean;
  delete?: boolean;
  tab?: boolean;
}

export const initialView = (paused = false): View => ({
  mode: 'main',
  prompt: '',
  completion: null,
  deviceId: null,
  paused,
  stopRequested: false,
  interrupts: 0,
});

// eslint-disable-next-line no-control-regex -- a key with a control character is a command, not text to type
const isPrintable = (s: string) => s.length > 0 && !/[\u0000-\u001F\u007F]/.test(s);

export function reduceKey(
  v: View,
  input: string,
  key: KeyLike,
  deviceIds: readonly string[] = [],
): { view: View; effects: Effect[] } {
  if (key.ctrl && input === 'c') {
    const interrupts = v.interrupts + 1;
    return { view: { ...v, interrupts }, effects: [{ type: 'interrupt', count: interrupts }] };
  }
  if (v.mode === 'prompt') return promptKey(v, input, key, deviceIds);
  if (input === 'q') {
    return v.stopRequested
      ? { view: v, effects: [] }
      : { view: { ...v, stopRequested: true }, effects: [{ type: 'stop' }] };
  }
  if (input === 'p') {
    if (v.stopRequested) return { view: v, effects: [] };
    return { view: { ...v, paused: !v.paused }, effects: [{ type: 'pause', paused: !v.paused }] };
  }
  if (input === '?')
    return { view: { ...v, mode: v.mode === 'help' ? (v.deviceId ? 'device' : 'main') : 'help' }, effects: [] };
  if (input === 'd') return { view: { ...v, mode: 'prompt', prompt: '', completion: null }, effects: [] };
  if (key.escape || (v.mode === 'device' && key.backspace)) {
    if (v.mode === 'help' && v.deviceId) return { view: { ...v, mode: 'device' }, effects: [] };
    return { view: { ...v, mode: 'main', deviceId: null }, effects: [] };
  }
  return { view: v, effects: [] };
}

function promptKey(
  v: View,
  input: string,
  key: KeyLike,
  deviceIds: readonly string[],
): { view: View; effects: Effect[] } {
  if (key.escape) return { view: { ...v, mode: v.deviceId ? 'device' : 'main' }, effects: [] };
  if (key.return) {
    const id = v.prompt.trim();
    if (id === '') return { view: v, effects: [] };
    return {
      view: { ...v, mode: 'device', deviceId: id, completion: null },
      effects: [{ type: 'drill', deviceId: id }],
    };
  }
  if (key.backspace || key.delete)
    return { view: { ...v, prompt: [...v.prompt].slice(0, -1).join(''), completion: null }, effects: [] };
  if (key.tab) {
    const prefix = v.completion?.prefix ?? v.prompt;
    const matches = deviceIds.filter((id) => id.startsWith(prefix));
    if (matches.length === 0) return { view: v, effects: [] };
    const index = v.completion === null ? 0 : (v.completion.index + 1) % matches.length;
    return { view: { ...v, completion: { prefix, index }, prompt: matches[index] ?? v.prompt }, effects: [] };
  }
  if (!key.ctrl && !key.meta && isPrintable(input)) {
    return { view: { ...v, prompt: v.prompt + input.replace(/\s+/g, ''), completion: null }, effects: [] };
  }
  return { view: v, effects: [] };
}

/**
 * Ink hands a burst of plain keys (a paste, or keys faster than a read) over as one string; the dashboard
 * wants them one at a time, so "d" then "dev-1\t" behave as typed.
 */
export function splitKeys(input: string, key: KeyLike): [string, KeyLike][] {
  const cs = [...input];
  if (cs.length <= 1 || key.escape || key.meta) return [[input, key]];
  return cs.map((c): [string, KeyLike] => {
    if (c === '\t') return ['', { tab: true }];
    if (c === '\r' || c === '\n') return ['', { return: true }];
    if (c === '\u007F' || c === '\b') return ['', { backspace: true }];
    if (c === '\u0003') return ['c', { ctrl: true }];
    return [c, {}];
  });
}
