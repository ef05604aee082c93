/**
 * Errors of the edgeHub route engine. `RouteProblem` is thrown by the lexer, parser and condition compiler, which do
 * not know the route's name; `compileRoute` turns it into a `RouteError` that names the route and the column.
 */

export class RouteError extends Error {
  override readonly name = 'RouteError';
  /** The route's key in `$edgeHub` desired `routes`. */
  readonly routeName: string;
  /** What went wrong, without the route name or position. */
  readonly detail: string;
  /** 1-based line and column of the offending text; absent for errors about the spec object. */
  readonly line: number | undefined;
  readonly column: number | undefined;
  /** What the parser would have accepted at that point, when that is the problem. */
  readonly expected: readonly string[] | undefined;
  /** The text found instead ("" at the end of the route). */
  readonly found: string | undefined;
  readonly routeText: string | undefined;

  constructor(init: {
    routeName: string;
    detail: string;
    routeText?: string;
    offset?: number;
    expected?: readonly string[];
    found?: string;
    hint?: string;
  }) {
    let line: number | undefined;
    let column: number | undefined;
    if (init.offset !== undefined && init.routeText !== undefined) {
      const before = init.routeText.slice(0, init.offset);
      const lastBreak = before.lastIndexOf('\n');
      line = before.split('\n').length;
      column = init.offset - lastBreak; // lastBreak is -1 on the first line, so this is 1-based
    }
    const where =
      column === undefined
        ? ''
        : line !== undefined && line > 1
          ? ` at line ${line}, column ${column}`
          : ` at column ${column}`;
    super(`route "${init.routeName}": ${init.detail}${where}${init.hint ? ` (${init.hint})` : ''}`);
    this.routeName = init.routeName;
    this.detail = init.detail;
    this.line = line;
    this.column = column;
    this.expected = init.expected;
    this.found = init.found;
    this.routeText = init.routeText;
  }
}

/** Internal: a problem at an offset of the route text. */
export class RouteProblem extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
    readonly extra: { expected?: readonly string[]; found?: string; hint?: string } = {},
  ) {
    super(detail);
  }
}
