// Reads a YAML or JSON file and keeps the document around, so problems found later can point at a line.
import { readFile, stat } from 'node:fs/promises';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, displayPath, type ConfigProblem } from './errors.js';

export interface SourceFile {
  /** Absolute path. */
  file: string;
  /** As shown in messages. */
  shown: string;
  data: unknown;
  /** Line and column (1-based) of the value at a path, or of the closest parent that exists. */
  locate(path: ReadonlyArray<PropertyKey>, key?: string): { line: number; column: number } | undefined;
}

export type SourceFormat = 'yaml' | 'json';

/** By extension; otherwise by content (JSON starts with `{` or `[`). YAML's parser reads both, with positions. */
export function formatOf(file: string, text: string): SourceFormat {
  if (/\.ya?ml$/i.test(file)) return 'yaml';
  if (/\.json$/i.test(file)) return 'json';
  return /^\s*[[{]/.test(text) ? 'json' : 'yaml';
}

export async function fileExists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

export async function directoryExists(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

/** Reads and parses; a missing file or a syntax error is a ConfigError naming the file (and line, column). */
export async function readSource(file: string): Promise<SourceFile> {
  const shown = displayPath(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'file not found'
        : `cannot read: ${(error as Error).message}`;
    throw new ConfigError([{ file: shown, path: '', message: reason }]);
  }
  return parseSource(file, text);
}

export function parseSource(file: string, text: string): SourceFile {
  const shown = displayPath(file);
  const format = formatOf(file, text);
  const lineCounter = new LineCounter();
  // uniqueKeys: a key written twice is almost always a mistake, in JSON as in YAML.
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const problems: ConfigProblem[] = doc.errors.map((error) => {
    const position = error.linePos?.[0];
    return {
      file: shown,
      path: '',
      message: `${format === 'json' ? 'JSON' : 'YAML'} syntax error: ${firstLine(error.message)}`,
      ...(position ? { line: position.line, column: position.col } : {}),
    };
  });
  if (problems.length > 0) throw new ConfigError(problems);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    throw new ConfigError([{ file: shown, path: '', message: `cannot read: ${(error as Error).message}` }]);
  }
  return {
    file,
    shown,
    data,
    locate: (path, key) => locate(doc, lineCounter, path, key),
  };
}

function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  // The position is reported separately.
  return line.replace(/ at line \d+, column \d+:?$/, '');
}

function locate(
  doc: Document,
  lineCounter: LineCounter,
  path: ReadonlyArray<PropertyKey>,
  key: string | undefined,
): { line: number; column: number } | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true);
    if (node === undefined || node === null) continue;
    let offset: number | undefined;
    if (depth === path.length && key !== undefined && isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === key);
      if (pair && isScalar(pair.key)) offset = pair.key.range?.[0];
    }
    if (offset === undefined && typeof node === 'object' && 'range' in node) {
      offset = (node as { range?: [number, number, number] | null }).range?.[0];
    }
    if (offset !== undefined) {
      const position = lineCounter.linePos(offset);
      return { line: position.line, column: position.col };
    }
  }
  return undefined;
}
