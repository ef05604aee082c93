// Digital twin model identifiers (DTMIs): their syntax in each DTDL version, and where a model repository keeps the
// model a DTMI names (the device models repository convention: Azure/iot-plugandplay-models-tools).
import type { DtdlVersion } from './limits.js';

const SEGMENT = '[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?';
// v2 requires a one-part version; v3 made it optional and allowed major.minor (at most 9 and 6 digits, no zeros first).
const DTMI_V2 = new RegExp(`^dtmi:${SEGMENT}(?::${SEGMENT})*;[1-9][0-9]{0,8}$`);
const DTMI_V3 = new RegExp(`^dtmi:${SEGMENT}(?::${SEGMENT})*(?:;[1-9][0-9]{0,8}(?:\\.[1-9][0-9]{0,5})?)?$`);

/** A user DTMI as this DTDL version writes it. */
export function isDtmi(id: string, version: DtdlVersion): boolean {
  return (version === 2 ? DTMI_V2 : DTMI_V3).test(id);
}

/** What is wrong with a DTMI, for messages: '' when it is fine. */
export function dtmiProblem(id: string, version: DtdlVersion): string {
  if (isDtmi(id, version)) return '';
  if (version === 2 && /;\d+\.\d+$|^[^;]*$/.test(id)) return ' (DTDL v2 needs a one-part version such as ";1")';
  if (/:_/.test(id)) return ' (a segment starting with "_" is a system segment, which models may not use)';
  if (/;0|;\d{10}|\.\d{7}|\.0/.test(id)) {
    return ' (a version has at most 9 digits, a minor version at most 6, and neither starts with 0)';
  }
  return ' (segments of letters, digits and underscores starting with a letter, then ";" and a version)';
}

/**
 * The file a device models repository keeps a model in: the DTMI lower-cased, ":" → "/", ";" → "-", plus ".json"
 * (or ".expanded.json": the model with every Interface it depends on). Only DTMIs with a one-part version have one.
 */
export function repositoryPath(dtmi: string, expanded = false): string | undefined {
  if (!DTMI_V2.test(dtmi)) return undefined;
  return `${dtmi.toLowerCase().replace(/:/g, '/').replace(';', '-')}${expanded ? '.expanded.json' : '.json'}`;
}
