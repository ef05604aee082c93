// JSON Schemas for editors, from the same zod definitions the loader validates with. They describe what a
// person writes (the input side: "30s", not milliseconds); cross-field rules are checked by the loader only.
import { z } from 'zod';
import { profileSchema } from './profile.js';
import { scenarioSchema } from './scenario.js';

export const SCENARIO_SCHEMA_ID = 'https://edgefleet.dev/schemas/scenario.json';
export const PROFILE_SCHEMA_ID = 'https://edgefleet.dev/schemas/profile.json';

function toJsonSchema(schema: z.ZodType, id: string, title: string): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return { ...json, $id: id, title };
}

export function scenarioJsonSchema(): Record<string, unknown> {
  return toJsonSchema(scenarioSchema, SCENARIO_SCHEMA_ID, 'edgefleet scenario');
}

export function profileJsonSchema(): Record<string, unknown> {
  return toJsonSchema(profileSchema, PROFILE_SCHEMA_ID, 'edgefleet profile');
}
