// Device id patterns: "thermostat-{index:04}", "{group}-{index}". Parsed once, formatted per identity.

export type IdPart = { literal: string } | { index: true; width: number } | { group: true } | { gateway: true };

export class IdPatternError extends Error {}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** `gateway`: the pattern may name {gateway} (a downstream device's gateway id). */
export function parseIdPattern(pattern: string, allow: { gateway?: boolean } = {}): IdPart[] {
  const parts: IdPart[] = [];
  let last = 0;
  let hasIndex = false;
  for (const match of pattern.matchAll(PLACEHOLDER)) {
    const at = match.index ?? 0;
    if (at > last) parts.push({ literal: pattern.slice(last, at) });
    const name = (match[1] ?? '').trim();
    const index = /^index(?::(\d{1,2}))?$/.exec(name);
    if (index) {
      parts.push({ index: true, width: Number(index[1] ?? 0) });
      hasIndex = true;
    } else if (name === 'group') {
      parts.push({ group: true });
    } else if (name === 'gateway' && allow.gateway === true) {
      parts.push({ gateway: true });
    } else {
      const gateway = allow.gateway === true ? ', {gateway}' : '';
      throw new IdPatternError(
        `unknown placeholder {${name}}; expected {index}, {index:NN} (zero-padded to NN digits)${gateway} or {group}`,
      );
    }
    last = at + match[0].length;
  }
  if (last < pattern.length) parts.push({ literal: pattern.slice(last) });
  if (parts.some((part) => 'literal' in part && /[{}]/.test(part.literal))) {
    throw new IdPatternError('unbalanced { or }; placeholders are {index}, {index:NN} and {group}');
  }
  if (!hasIndex) throw new IdPatternError('expected {index} in the pattern, so that every device gets its own id');
  return parts;
}

export function formatId(parts: readonly IdPart[], index: number, group: string, gateway = ''): string {
  let out = '';
  for (const part of parts) {
    if ('literal' in part) out += part.literal;
    else if ('group' in part) out += group;
    else if ('gateway' in part) out += gateway;
    else out += String(index).padStart(part.width, '0');
  }
  return out;
}

// DPS registration ids (which become device ids and X.509 CNs): up to 128 of A-Z a-z 0-9 - . _ :, the last
// alphanumeric or '-'. Connection-string devices already exist, so they are not checked here.
const REGISTRATION_ID = /^[A-Za-z0-9._:-]{0,127}[A-Za-z0-9-]$/;

export function registrationIdProblem(id: string): string | undefined {
  if (id.length > 128)
    return `device id "${id.slice(0, 40)}..." is ${id.length} characters long; DPS accepts at most 128`;
  if (!REGISTRATION_ID.test(id)) {
    return `device id "${id}" is not a valid DPS registration id: expected letters, digits, - . _ : and the last character a letter, digit or -`;
  }
  return undefined;
}
