/**
 * Tokenizer for edgeHub's route language, following the token rules of Azure/iotedge
 * `Routing.Core/grammar/GrammarLexer.g4`: at each position the longest match wins and a tie goes to the rule listed
 * first, as in ANTLR. Keeping that rule matters because the grammar's ID is very permissive: `a-1`, `x!` and `5*2`
 * (no spaces) are single identifiers in edgeHub, and `-1` straight after a value is a negative literal. Matching
 * edgeHub here means a route that misbehaves on a real device misbehaves the same way in the simulator.
 */

import { RouteProblem } from './route-error.js';

export type TokenKind =
  | 'LBRACE'
  | 'RBRACE'
  | 'SELECT'
  | 'FROM'
  | 'WHERE'
  | 'INTO'
  | 'STRING'
  | 'UNTERMINATED_STRING'
  | 'INTEGER'
  | 'HEX'
  | 'REAL'
  | 'TRUE'
  | 'FALSE'
  | 'NULL'
  | 'UNDEFINED'
  | 'LPAREN'
  | 'RPAREN'
  | 'COMMA'
  | 'PLUS'
  | 'MINUS'
  | 'STAR'
  | 'SLASH'
  | 'PERCENT'
  | 'AND'
  | 'OR'
  | 'NOT'
  | 'EQ'
  | 'NE'
  | 'LTGT'
  | 'LE'
  | 'GE'
  | 'GT'
  | 'LT'
  | 'CONCAT'
  | 'COALESCE'
  | 'SYS_PROP'
  | 'ID'
  | 'QUERY_PATH'
  | 'UNKNOWN'
  | 'EOF';

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** Offset of the first character in the route text. */
  readonly start: number;
  readonly end: number;
}

type Rule = { kind: TokenKind | 'WS' | 'COMMENT'; re: RegExp };

const ESC = String.raw`\\(?:["'\\]|u[0-9a-fA-F]{4})`;

// Order is the grammar's rule order (it breaks ties). '{' and '}' come first: ANTLR defines the implicit literal
// tokens of parser rules before the lexer rules.
const RULES: readonly Rule[] = [
  { kind: 'LBRACE', re: /\{/y },
  { kind: 'RBRACE', re: /\}/y },
  { kind: 'SELECT', re: /select/iy },
  { kind: 'FROM', re: /from/iy },
  { kind: 'WHERE', re: /where/iy },
  { kind: 'INTO', re: /into/iy },
  { kind: 'STRING', re: new RegExp(`"(?:${ESC}|[^"\\\\])*"|'(?:${ESC}|[^'\\\\])*'`, 'y') },
  { kind: 'UNTERMINATED_STRING', re: new RegExp(`"(?:${ESC}|[^"\\\\])*|'(?:${ESC}|[^'\\\\])*`, 'y') },
  { kind: 'INTEGER', re: /-?[0-9]+/y },
  { kind: 'HEX', re: /0[xX][0-9a-fA-F]+/y },
  // REAL has two alternatives in the grammar; both are tried and the longer kept (see longest()).
  { kind: 'REAL', re: /-?[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?/y },
  { kind: 'REAL', re: /-?[0-9]*[eE][+-]?[0-9]+/y },
  // true/false/null/undefined are case-sensitive in the grammar, unlike the keywords.
  { kind: 'TRUE', re: /true/y },
  { kind: 'FALSE', re: /false/y },
  { kind: 'NULL', re: /null/y },
  { kind: 'UNDEFINED', re: /undefined/y },
  { kind: 'LPAREN', re: /\(/y },
  { kind: 'RPAREN', re: /\)/y },
  { kind: 'COMMA', re: /,/y },
  { kind: 'PLUS', re: /\+/y },
  { kind: 'MINUS', re: /-/y },
  { kind: 'STAR', re: /\*/y },
  { kind: 'SLASH', re: /\//y },
  { kind: 'PERCENT', re: /%/y },
  { kind: 'AND', re: /and/iy },
  { kind: 'OR', re: /or/iy },
  { kind: 'NOT', re: /not/iy },
  { kind: 'EQ', re: /=/y },
  { kind: 'NE', re: /!=/y },
  { kind: 'LTGT', re: /<>/y },
  { kind: 'LE', re: /<=/y },
  { kind: 'GE', re: />=/y },
  { kind: 'GT', re: />/y },
  { kind: 'LT', re: /</y },
  { kind: 'CONCAT', re: /\|\|/y },
  { kind: 'COALESCE', re: /\?\?/y },
  // SYS_PROP = '$' QUERY_PATH; QUERY_PATH characters are ID characters plus '[' and ']' (for $body.a[0]).
  { kind: 'SYS_PROP', re: /\$[^()<>@,;:\\"/?={} \t\n\r]+/y },
  { kind: 'ID', re: /[^()<>@,;:\\"/[\]?={} \t\n\r]+/y },
  { kind: 'QUERY_PATH', re: /[^()<>@,;:\\"/?={} \t\n\r]+/y },
  { kind: 'WS', re: /[ \t\r\n]+/y },
  { kind: 'COMMENT', re: /\/\*[\s\S]*?\*\//y },
];

/** Splits a route into tokens; whitespace and comments are dropped; never throws (bad characters become UNKNOWN). */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < text.length) {
    let bestLen = 0;
    let bestKind: Rule['kind'] = 'UNKNOWN';
    for (const rule of RULES) {
      rule.re.lastIndex = pos;
      const m = rule.re.exec(text);
      // Strictly longer only: on a tie the earlier rule keeps the match.
      if (m !== null && m[0].length > bestLen) {
        bestLen = m[0].length;
        bestKind = rule.kind;
      }
    }
    if (bestLen === 0) {
      bestLen = 1;
      bestKind = 'UNKNOWN';
    }
    if (bestKind !== 'WS' && bestKind !== 'COMMENT') {
      tokens.push({ kind: bestKind, text: text.slice(pos, pos + bestLen), start: pos, end: pos + bestLen });
    }
    pos += bestLen;
  }
  tokens.push({ kind: 'EOF', text: '', start: text.length, end: text.length });
  return tokens;
}

/** How a token kind is named in "expected ..." messages. */
export function describeKind(kind: TokenKind): string {
  switch (kind) {
    case 'SELECT':
    case 'FROM':
    case 'WHERE':
    case 'INTO':
    case 'AND':
    case 'OR':
    case 'NOT':
      return kind;
    case 'LPAREN':
      return "'('";
    case 'RPAREN':
      return "')'";
    case 'LBRACE':
      return "'{'";
    case 'RBRACE':
      return "'}'";
    case 'COMMA':
      return "','";
    case 'STAR':
      return "'*'";
    case 'SLASH':
      return "'/'";
    case 'STRING':
      return 'a quoted string';
    case 'SYS_PROP':
      return 'a $property';
    case 'ID':
      return 'a name';
    case 'EOF':
      return 'the end of the route';
    default:
      return kind.toLowerCase();
  }
}

/** Forward-only view of the tokens with the error reporting the parsers share. */
export class Cursor {
  private index = 0;
  constructor(
    readonly text: string,
    readonly tokens: readonly Token[],
  ) {}

  peek(ahead = 0): Token {
    return this.tokens[Math.min(this.index + ahead, this.tokens.length - 1)]!;
  }

  /** End offset of the last token consumed. */
  lastEnd = 0;

  next(): Token {
    const token = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    if (token.kind !== 'EOF') this.lastEnd = token.end;
    return token;
  }

  accept(kind: TokenKind): Token | undefined {
    return this.peek().kind === kind ? this.next() : undefined;
  }

  expect(kind: TokenKind, expected: readonly string[] = [describeKind(kind)], hint?: string): Token {
    const token = this.accept(kind);
    if (token === undefined) throw this.unexpected(expected, hint);
    return token;
  }

  /**
   * The error for the current token when it is not one of `expected`; bad strings and characters get their own words.
   */
  unexpected(expected: readonly string[], hint?: string): RouteProblem {
    const token = this.peek();
    if (token.kind === 'UNTERMINATED_STRING') return unterminated(this.text, token);
    if (token.kind === 'UNKNOWN') {
      return new RouteProblem(token.start, `unexpected character ${JSON.stringify(token.text)}`, {
        expected,
        found: token.text,
        hint,
      });
    }
    if (token.kind === 'QUERY_PATH') {
      return new RouteProblem(
        token.start,
        `${JSON.stringify(token.text)} is not a valid name ('[' and ']' belong in $body paths only)`,
        {
          expected,
          found: token.text,
        },
      );
    }
    const found = token.kind === 'EOF' ? 'but the route ended' : `but found ${JSON.stringify(token.text)}`;
    return new RouteProblem(token.start, `expected ${joinOr(expected)} ${found}`, {
      expected,
      found: token.text,
      hint,
    });
  }
}

export function unterminated(text: string, token: Token): RouteProblem {
  // The string rule stops at a backslash that starts no valid escape; say so rather than "unterminated".
  if (text[token.end] === '\\') {
    return new RouteProblem(token.end, `invalid escape sequence "${text.slice(token.end, token.end + 2)}" in string`, {
      found: token.text,
      hint: String.raw`allowed escapes: \' \" \\ \uXXXX`,
    });
  }
  const shown = token.text.length > 24 ? `${token.text.slice(0, 24)}…` : token.text;
  return new RouteProblem(token.start, `unterminated string: no closing ${token.text[0]} for ${shown}`, {
    found: token.text,
  });
}

function joinOr(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? 'something else';
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}
