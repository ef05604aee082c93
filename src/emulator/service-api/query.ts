// POST /devices/query: the twins a query selects, in device id order, a page at a time (`x-ms-max-item-count`); the
// next page's token (`x-ms-continuation`) is the last key answered, so pages stay right while devices come and go.
import { HubQueryError, matchesHubQuery, parseHubQuery, type QueryValue } from '../../protocol/index.js';
import { badRequest, json, requireObject, type ApiReply } from './http.js';
import type { RouteContext } from './context.js';
import { deviceTwinJson, moduleTwinJson, type ViewContext } from './views.js';

/** Items per page when the caller names none, and the most it may ask for (IoT Hub's figures). */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

function pageSize(header: string | string[] | undefined): number {
  if (header === undefined) return DEFAULT_PAGE;
  const size = Number(Array.isArray(header) ? header[0] : header);
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) {
    throw badRequest(`x-ms-max-item-count must be a whole number from 1 to ${MAX_PAGE}`);
  }
  return size;
}

/** The key after which the page starts: the continuation token, base64url of the last key answered. */
function startAfter(header: string | string[] | undefined): string | undefined {
  const token = Array.isArray(header) ? header[0] : header;
  if (token === undefined || token === '') return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw badRequest('x-ms-continuation is not a token this emulator gave');
  return Buffer.from(token, 'base64url').toString('utf8');
}

/** Every twin the query ranges over, as `[key, document]`, in key order (the order continuation tokens follow). */
function documents(view: ViewContext, from: 'devices' | 'devices.modules'): [string, () => QueryValue][] {
  const devices = [...view.registry.devices.values()];
  const all: [string, () => QueryValue][] =
    from === 'devices'
      ? devices.map((d) => [d.id, (): QueryValue => deviceTwinJson(view, d)])
      : devices.flatMap((d) =>
          [...d.modules.values()].map((m): [string, () => QueryValue] => [
            `${d.id}/${m.moduleId}`,
            (): QueryValue => moduleTwinJson(view, d, m),
          ]),
        );
  return all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Runs a query; IoT Hub throttles queries apart from registry operations, so the registry gate is not asked. */
export async function runQuery(view: ViewContext, ctx: RouteContext): Promise<ApiReply> {
  const body = requireObject(await ctx.body());
  if (typeof body.query !== 'string') throw badRequest('the body needs a "query" string');
  let query;
  try {
    query = parseHubQuery(body.query);
  } catch (err) {
    if (err instanceof HubQueryError) throw badRequest(`the query: ${err.message}`, 'BadRequest');
    throw err;
  }
  const size = pageSize(ctx.req.headers['x-ms-max-item-count']);
  const after = startAfter(ctx.req.headers['x-ms-continuation']);
  const page: QueryValue[] = [];
  let last: string | undefined;
  let more = false;
  for (const [key, doc] of documents(view, query.from)) {
    if (after !== undefined && key <= after) continue;
    const value = doc();
    if (!matchesHubQuery(query, value)) continue;
    if (page.length === size) {
      more = true;
      break;
    }
    page.push(value);
    last = key;
  }
  const headers: Record<string, string> = { 'x-ms-item-type': 'Twin' };
  if (more && last !== undefined) headers['x-ms-continuation'] = Buffer.from(last, 'utf8').toString('base64url');
  return json(page, headers);
}
