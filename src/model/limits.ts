// DTDL's numeric limits, as the language specifications state them (Azure/opendigitaltwins-dtdl, DTDL/v2/DTDL.v2.md,
// DTDL/v3/DTDL.v3.md, DTDL/v4/DTDL.v4.md) and as the official parser (DTDLParser) counts them. Each message that
// refuses a model names the limit and where it is written, so a person can check it.

export type DtdlVersion = 2 | 3 | 4;

export type LimitName =
  | 'name'
  | 'displayName'
  | 'description'
  | 'comment'
  | 'interfaceId'
  | 'dtmi'
  | 'schemaDepth'
  | 'extendsDepth'
  | 'extendsPerInterface'
  | 'extendsInHierarchy'
  | 'contents'
  | 'elementsInHierarchy'
  | 'objectFields'
  | 'enumValues'
  | 'relationshipProperties'
  | 'maxMultiplicity'
  | 'interfaceText';

interface Limit {
  max: number;
  /** Where the specification states it, and in its words. */
  where: string;
}

const common = (version: DtdlVersion, nameMax: number): Partial<Record<LimitName, Limit>> => ({
  name: { max: nameMax, where: `"name": max ${nameMax} characters` },
  displayName: { max: nameMax, where: `"displayName": max ${nameMax} characters (each language's text)` },
  description: { max: 512, where: '"description": max 512 characters (each language\'s text)' },
  comment: { max: 512, where: '"comment": max 512 characters' },
  interfaceId: { max: 128, where: 'Interface "@id": max 128 characters' },
  dtmi: { max: 2048, where: '"@id": max 2048 characters (the maximum length of a user DTMI)' },
  extendsDepth: {
    max: version === 4 ? 12 : 10,
    where: `Interface "extends": max depth of ${version === 4 ? 12 : 10} levels`,
  },
  schemaDepth: {
    max: version === 4 ? 8 : 5,
    where: `"the maximum depth of nested complex schemas is ${version === 4 ? 8 : 5} levels"`,
  },
});

const LIMITS: Record<DtdlVersion, Partial<Record<LimitName, Limit>>> = {
  2: {
    ...common(2, 64),
    extendsPerInterface: { max: 2, where: 'Interface "extends": max 2 Interfaces in set' },
    contents: {
      max: 300,
      where: 'Interface "contents": max 300 Contents in set, including those imported via extends',
    },
    objectFields: { max: 30, where: 'Object "fields": max 30 Fields in set' },
    enumValues: { max: 100, where: 'Enum "enumValues": max 100 EnumValues in set' },
    relationshipProperties: { max: 300, where: 'Relationship "properties": max 300 Properties in set' },
    maxMultiplicity: { max: 500, where: 'Relationship "maxMultiplicity": must be <= 500' },
  },
  3: {
    ...common(3, 512),
    extendsInHierarchy: { max: 1024, where: 'Interface "extends": max 1024 Interfaces in hierarchy' },
    elementsInHierarchy: {
      max: 100_000,
      where: 'Interface "contents": max 100,000 elements in hierarchy, including those imported via extends',
    },
    interfaceText: { max: 1_048_576, where: '"The text of each Interface is limited to 1 MiByte"' },
  },
  4: {
    ...common(4, 512),
    extendsInHierarchy: { max: 1024, where: 'Interface "extends": max 1024 Interfaces in hierarchy' },
    elementsInHierarchy: {
      max: 100_000,
      where: 'Interface "contents": max 100,000 elements in hierarchy, including those imported via extends',
    },
    interfaceText: { max: 1_048_576, where: '"The text of each Interface is limited to 1 MiByte"' },
  },
};

/** The limit in this DTDL version, or undefined when the version has none of that kind. */
export function limitOf(version: DtdlVersion, name: LimitName): number | undefined {
  return LIMITS[version][name]?.max;
}

/** " (the DTDL v2 limit, DTDL.v2.md: Interface "contents": max 300 …)" */
export function limitSource(version: DtdlVersion, name: LimitName): string {
  const limit = LIMITS[version][name];
  return limit === undefined ? '' : ` (the DTDL v${version} limit, DTDL.v${version}.md: ${limit.where})`;
}
