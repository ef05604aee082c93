/**
 * edgeHub route engine: `[SELECT *] FROM <source> [WHERE <condition>] INTO <sink>`, compiled once per route and
 * evaluated per message with no parsing. Grammar and semantics follow Azure/iotedge (`Routing.Core/grammar/*.g4`,
 * `RouteFactory.cs`, `BaseMessageSource.cs`, `Evaluator.cs`, `EndpointFactory.cs`); the condition language lives in
 * route-query.ts and the tokenizer in route-lexer.ts.
 */

import { RouteError, RouteProblem } from './route-error.js';
import { Cursor, type Token, tokenize, unterminated } from './route-lexer.js';
import { compileExpr, type Expr, parseCondition, toCondition } from './route-query.js';
import { equalsIgnoreCase, type RouteMessage, type RouteSource } from './route-message.js';

export { RouteError } from './route-error.js';
export { bodyParseCount } from './route-query.js';

export type { RouteMessage, RouteSource } from './route-message.js';

export type RouteSink = { kind: 'upstream' } | { kind: 'moduleInput'; moduleId: string; input: string };

export interface RouteSpec {
  route: string;
  /** 0 (highest) … 9; omitted means lowest (edgeHub uses 2000000000 internally). */
  priority?: number;
  /** Overrides storeAndForwardConfiguration.timeToLiveSecs; 0 means "use the global TTL", as in edgeHub. */
  timeToLiveSecs?: number;
}

/** edgeHub's RouteFactory.DefaultPriority: below every explicit 0-9 priority. */
export const DEFAULT_ROUTE_PRIORITY = 2_000_000_000;

export interface CompiledRoute {
  readonly name: string;
  readonly text: string;
  /** 0 is highest; DEFAULT_ROUTE_PRIORITY when the manifest gave none. */
  readonly priority: number;
  /** Undefined when the route inherits the global store-and-forward TTL. */
  readonly timeToLiveSecs?: number;
  readonly sink: RouteSink;
  /** Identity of the sink: two routes with the same key deliver to the same place. */
  readonly sinkKey: string;
  /** The source as edgeHub normalises it: a case-insensitive prefix of the message source, e.g. "/messages/". */
  readonly source: string;
  /** The WHERE text as written, if any. */
  readonly condition?: string;
  /** Things edgeHub accepts but that are almost certainly mistakes (a source that can never match, ...). */
  readonly warnings: readonly string[];
  matches(message: RouteMessage): boolean;
  /** The WHERE condition alone: true, false, or undefined (edgeHub logs undefined evaluations); true without WHERE. */
  evaluate(message: RouteMessage): boolean | undefined;
}

const SINK_HINT = 'a sink is $upstream or BrokeredEndpoint("/modules/{module}/inputs/{input}")';
// edgeHub's manifest schema: route names match ^[^\.\$# ]+$.
const ROUTE_NAME = /^[^.$# ]+$/;
const MAX_TTL = 4294967295;

export function compileRoute(name: string, spec: string | RouteSpec): CompiledRoute {
  if (typeof name !== 'string' || !ROUTE_NAME.test(name)) {
    throw new RouteError({
      routeName: String(name),
      detail: "a route name must be non-empty and contain no '.', '$', '#' or space",
    });
  }
  const { text, priority, timeToLiveSecs } = readSpec(name, spec);
  try {
    return build(name, text, priority, timeToLiveSecs);
  } catch (e) {
    if (e instanceof RouteProblem) {
      throw new RouteError({ routeName: name, routeText: text, offset: e.offset, detail: e.detail, ...e.extra });
    }
    throw e;
  }
}

/** Compiles every route of `$edgeHub` desired `routes`, in manifest order; the first bad route throws. */
export function compileRoutes(routes: Readonly<Record<string, string | RouteSpec>>): CompiledRoute[] {
  return Object.entries(routes).map(([name, spec]) => compileRoute(name, spec));
}

/**
 * The routes a message takes, highest priority first (ties in route order). A sink receives the message once: when
 * several matching routes share a sink, the one with the highest priority wins, as in edgeHub's Evaluator.
 */
export function routeMessage(routes: readonly CompiledRoute[], message: RouteMessage): CompiledRoute[] {
  const chosen = new Map<string, { route: CompiledRoute; order: number }>();
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i]!;
    if (!route.matches(message)) continue;
    const previous = chosen.get(route.sinkKey);
    if (previous === undefined || route.priority < previous.route.priority)
      chosen.set(route.sinkKey, { route, order: i });
  }
  return [...chosen.values()]
    .sort((a, b) => a.route.priority - b.route.priority || a.order - b.order)
    .map((c) => c.route);
}

export function sinkKey(sink: RouteSink): string {
  return sink.kind === 'upstream' ? '$upstream' : `BrokeredEndpoint(/modules/${sink.moduleId}/inputs/${sink.input})`;
}

/** The message source path edgeHub matches routes against, e.g. "/messages/modules/filter/outputs/alerts". */
export function messageSourcePath(source: RouteSource): string {
  switch (source.kind) {
    case 'device':
      return '/messages';
    case 'module':
      return source.output === ''
        ? `/messages/modules/${source.moduleId}`
        : `/messages/modules/${source.moduleId}/outputs/${source.output}`;
    default:
      return '/twinChangeNotifications';
  }
}

// ---------------------------------------------------------------------------------------------------------------

function readSpec(
  name: string,
  spec: string | RouteSpec,
): { text: string; priority: number; timeToLiveSecs: number | undefined } {
  if (typeof spec === 'string') return { text: spec, priority: DEFAULT_ROUTE_PRIORITY, timeToLiveSecs: undefined };
  if (spec === null || typeof spec !== 'object' || typeof spec.route !== 'string') {
    throw new RouteError({ routeName: name, detail: 'a route must be a string or an object with a string "route"' });
  }
  const { route, priority, timeToLiveSecs } = spec;
  if (priority !== undefined && !(Number.isInteger(priority) && priority >= 0 && priority <= 9)) {
    throw new RouteError({
      routeName: name,
      detail: `priority must be an integer from 0 (highest) to 9, not ${JSON.stringify(priority)}`,
    });
  }
  if (
    timeToLiveSecs !== undefined &&
    !(Number.isInteger(timeToLiveSecs) && timeToLiveSecs >= 0 && timeToLiveSecs <= MAX_TTL)
  ) {
    throw new RouteError({
      routeName: name,
      detail: `timeToLiveSecs must be an integer from 0 to ${MAX_TTL}, not ${JSON.stringify(timeToLiveSecs)}`,
    });
  }
  return {
    text: route,
    priority: priority ?? DEFAULT_ROUTE_PRIORITY,
    // edgeHub stores 0 for "not given" and then applies the global TTL, so 0 and absent mean the same.
    timeToLiveSecs: timeToLiveSecs === 0 ? undefined : timeToLiveSecs,
  };
}

function build(name: string, text: string, priority: number, timeToLiveSecs: number | undefined): CompiledRoute {
  const c = new Cursor(text, tokenize(text));
  if (c.peek().kind === 'EOF') {
    throw new RouteProblem(0, 'route is empty', { hint: 'write FROM <source> [WHERE <condition>] INTO <sink>' });
  }
  if (c.accept('SELECT')) c.expect('STAR', ["'*' after SELECT"]);
  c.expect('FROM', ['FROM'], 'a route reads FROM <source> [WHERE <condition>] INTO <sink>');

  const rawSource = parseSourcePath(c);
  const source = normaliseSource(rawSource);
  const warnings = sourceWarnings(rawSource, source);

  let condition: string | undefined;
  let where: Expr | undefined;
  if (c.accept('WHERE')) {
    const start = c.peek().start;
    where = parseCondition(c);
    condition = text.slice(start, c.lastEnd);
    c.expect('INTO', ['INTO']);
  } else {
    c.expect('INTO', ['WHERE', 'INTO']);
  }
  const sink = parseSink(c);
  c.expect('EOF', ['the end of the route'], 'nothing may follow the sink');

  // Type errors come after syntax errors, as in edgeHub (parse first, then compile the condition).
  let evaluate: (m: RouteMessage) => boolean | undefined = () => true;
  let raw: ((m: RouteMessage) => unknown) | undefined;
  if (where !== undefined) {
    const compiled = compileExpr(where, { warnings });
    evaluate = toCondition(compiled);
    raw = compiled.f;
  }

  const key = sinkKey(sink);
  // The condition's raw value is compared with true directly: only a boolean true (from a bool or a $body bool) routes.
  const matches =
    raw === undefined
      ? (m: RouteMessage) => sourceMatches(source, m.source)
      : (m: RouteMessage) => sourceMatches(source, m.source) && raw(m) === true;
  return {
    name,
    text,
    priority,
    ...(timeToLiveSecs === undefined ? {} : { timeToLiveSecs }),
    sink,
    sinkKey: key,
    source,
    ...(condition === undefined ? {} : { condition }),
    warnings,
    matches,
    evaluate,
  };
}

function parseSourcePath(c: Cursor): string {
  let path = '';
  c.expect('SLASH', ['a source path such as /messages/*']);
  for (;;) {
    const item = c.peek();
    if (item.kind !== 'STAR' && item.kind !== 'ID') throw c.unexpected(["a path segment (a name or *) after '/'"]);
    c.next();
    path += `/${item.text}`;
    if (!c.accept('SLASH')) return path;
  }
}

/** BaseMessageSource/CustomMessageSource: drop trailing '*' and '/', then end with exactly one '/'. */
function normaliseSource(path: string): string {
  let s = path.trim().replace(/\*+$/, '');
  if (s.length > 1) s = s.replace(/\/+$/, '');
  return `${s.trim().replace(/\/+$/, '')}/`;
}

function sourceWarnings(raw: string, source: string): string[] {
  const warnings: string[] = [];
  const last = raw.slice(raw.lastIndexOf('/') + 1);
  if (last.length > 1 && last.endsWith('*')) {
    warnings.push(
      `source ${raw}: there are no partial-name wildcards; "${last}" is read as "${last.replace(/\*+$/, '')}"`,
    );
  }
  const segments = source.split('/').filter((s) => s !== '');
  if (segments.some((s) => s.includes('*'))) {
    warnings.push(
      `source ${raw}: '*' is a wildcard only at the end of a source; elsewhere it is a literal character and matches nothing`,
    );
  } else if (!plausibleSource(segments)) {
    warnings.push(
      `source ${raw} never matches: edgeHub sources are /*, /messages/*, /messages/modules/{module}/*, /messages/modules/{module}/outputs/{output} and /twinChangeNotifications`,
    );
  }
  return warnings;
}

function plausibleSource(segments: readonly string[]): boolean {
  const [first, second, , fourth] = segments;
  if (first === undefined) return true;
  if (equalsIgnoreCase(first, 'twinChangeNotifications')) return segments.length === 1;
  if (!equalsIgnoreCase(first, 'messages') || segments.length > 5) return false;
  return (
    (second === undefined || equalsIgnoreCase(second, 'modules')) &&
    (fourth === undefined || equalsIgnoreCase(fourth, 'outputs'))
  );
}

function parseSink(c: Cursor): RouteSink {
  const t = c.peek();
  if (t.kind === 'SYS_PROP') {
    c.next();
    if (!equalsIgnoreCase(t.text, '$upstream'))
      throw new RouteProblem(t.start, `unknown sink ${JSON.stringify(t.text)}`, { found: t.text, hint: SINK_HINT });
    return { kind: 'upstream' };
  }
  if (t.kind === 'ID') {
    c.next();
    if (!equalsIgnoreCase(t.text, 'BrokeredEndpoint')) {
      const hint = equalsIgnoreCase(t.text, 'upstream') ? 'did you mean $upstream?' : SINK_HINT;
      throw new RouteProblem(t.start, `unknown sink ${JSON.stringify(t.text)}`, { found: t.text, hint });
    }
    c.expect('LPAREN', ["'('"], 'BrokeredEndpoint("/modules/{module}/inputs/{input}")');
    const address = c.peek();
    if (address.kind === 'UNTERMINATED_STRING') throw unterminated(c.text, address);
    c.expect('STRING', ['a quoted address such as "/modules/filter/inputs/input1"']);
    c.expect('RPAREN', ["')'"]);
    return brokeredEndpoint(address);
  }
  throw c.unexpected(['a sink ($upstream or BrokeredEndpoint(...))']);
}

/** EndpointFactory.CreateFunctionEndpoint: trim, drop one leading and one trailing '/', expect four parts. */
function brokeredEndpoint(address: Token): RouteSink {
  const raw = address.text.slice(1, -1); // edgeHub takes the text between the quotes as is, without unescaping
  let path = raw.trim();
  if (path.startsWith('/')) path = path.slice(1);
  if (path.endsWith('/')) path = path.slice(0, -1);
  const parts = path.split('/');
  // edgeHub only counts the parts; also requiring "modules" and "inputs" and non-empty names catches typos early.
  if (
    parts.length !== 4 ||
    !equalsIgnoreCase(parts[0]!, 'modules') ||
    !equalsIgnoreCase(parts[2]!, 'inputs') ||
    parts[1] === '' ||
    parts[3] === ''
  ) {
    throw new RouteProblem(
      address.start,
      `BrokeredEndpoint address ${JSON.stringify(raw)} is not /modules/{module}/inputs/{input}`,
      {
        found: raw,
      },
    );
  }
  return { kind: 'moduleInput', moduleId: parts[1]!, input: parts[3]! };
}

// ---- source matching without building the message's source string

/**
 * True when the message source path, with a trailing '/', starts with `pattern` ignoring case — edgeHub's
 * BaseMessageSource.Match — walked piece by piece so that no string is built per message.
 */
function sourceMatches(pattern: string, src: RouteSource): boolean {
  let p: number;
  switch (src.kind) {
    case 'device':
      p = eat(pattern, 0, '/messages/');
      break;
    case 'module':
      p = eat(pattern, 0, '/messages/modules/');
      p = eat(pattern, p, src.moduleId);
      if (src.output !== '') {
        p = eat(pattern, p, '/outputs/');
        p = eat(pattern, p, src.output);
      }
      p = eat(pattern, p, '/');
      break;
    case 'twinChangeNotification':
      p = eat(pattern, 0, '/twinChangeNotifications/');
      break;
    default:
      return false;
  }
  return p === pattern.length;
}

/** Consumes `piece` from `pattern` at `pos`; -1 on a mismatch; stops (successfully) at the end of the pattern. */
function eat(pattern: string, pos: number, piece: string): number {
  if (pos < 0) return -1;
  for (let k = 0; k < piece.length && pos < pattern.length; k++, pos++) {
    const x = pattern.charCodeAt(pos);
    const y = piece.charCodeAt(k);
    if (x === y) continue;
    if (x < 128 && y < 128) {
      const lx = x | 0x20;
      if (lx < 97 || lx > 122 || lx !== (y | 0x20)) return -1;
    } else if (pattern[pos]!.toUpperCase() !== piece[k]!.toUpperCase()) {
      return -1;
    }
  }
  return pos;
}
