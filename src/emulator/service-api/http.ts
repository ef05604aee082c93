// HTTP plumbing of the hub's service API: errors in IoT Hub's shape, JSON answers with their headers, bodies read
// within a limit as wire JSON (no prototype keys, bounded nesting).
import { readBoundedBody } from '../http-body.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { parseWireJson, WireJsonError } from '../../protocol/index.js';
import { isJsonObject, type JsonObject } from '../twin.js';
import { ServiceError } from '../service.js';
import type { RejectionReason } from '../stats.js';

/** The largest request body: a bulk request of 100 records with their tags and desired properties. */
export const MAX_SERVICE_BODY = 1024 * 1024;

/**
 * A refusal with its HTTP status and IoT Hub error code (`ErrorCode:<code>;<message>` in the body, the code in the
 * `iothub-errorcode` header), and the /stats reason it counts as, if any.
 */
export class HubApiError extends ServiceError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly reason?: RejectionReason,
    readonly body?: unknown,
  ) {
    super(status, code, message);
  }
}

export const badRequest = (message: string, code = 'ArgumentInvalid') => new HubApiError(400, code, message);
export const unauthorized = (message: string) => new HubApiError(401, 'IotHubUnauthorizedAccess', message, 'auth');
export const deviceNotFound = (deviceId: string) =>
  new HubApiError(404, 'DeviceNotFound', `device "${deviceId}" does not exist`);
export const moduleNotFound = (deviceId: string, moduleId: string) =>
  new HubApiError(404, 'ModuleNotFound', `module "${moduleId}" of device "${deviceId}" does not exist`);
export const preconditionFailed = (what: string) =>
  new HubApiError(412, 'PreconditionFailed', `the If-Match ETag does not match the ${what}'s ETag`);

/** An answer: status, JSON body (none for 204) and extra headers. */
export interface ApiReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export const json = (body: unknown, headers: Record<string, string> = {}, status = 200): ApiReply => ({
  status,
  body,
  headers,
});

/** Writes an answer; a body is JSON with its length. */
export function send(res: ServerResponse, reply: ApiReply): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = reply.body === undefined ? undefined : JSON.stringify(reply.body);
  const headers: Record<string, string | number> = { ...reply.headers };
  if (text !== undefined) {
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-length'] = Buffer.byteLength(text);
  } else {
    headers['content-length'] = 0;
  }
  res.writeHead(reply.status, headers);
  res.end(text);
}

/** IoT Hub's error answer: `{Message: "ErrorCode:<code>;<message>", ExceptionMessage}` and `iothub-errorcode`. */
export function errorReply(err: ServiceError): ApiReply {
  const body =
    err instanceof HubApiError && err.body !== undefined
      ? err.body
      : { Message: `ErrorCode:${err.code};${err.message}`, ExceptionMessage: `Tracking ID:${randomUUID()}` };
  const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  const headers: Record<string, string> = { 'iothub-errorcode': err.code };
  if (typeof retryAfter === 'number') headers['retry-after'] = String(retryAfter);
  return { status: err.status, body, headers };
}

/** How much of a body over the limit is read and thrown away, so that the client still gets its 413. */
const MAX_DRAIN_BYTES = 4 * MAX_SERVICE_BODY;

/** Reads the body, draining (not buffering) past the limit; a body past the drain limit closes the connection. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return readBoundedBody(req, {
    maxBytes: MAX_SERVICE_BODY,
    drainBytes: MAX_DRAIN_BYTES,
    tooLarge: () => new HubApiError(413, 'RequestEntityTooLarge', `the body is over ${MAX_SERVICE_BODY / 1024} KB`),
    cutShort: () => badRequest('the request body was cut short'),
  });
}

/** The request body as wire JSON; undefined when empty. */
export async function readJson(req: IncomingMessage, count: (reason: RejectionReason) => void): Promise<unknown> {
  const text = (await readBody(req)).toString('utf8');
  if (text.trim().length === 0) return undefined;
  try {
    return parseWireJson(text);
  } catch (err) {
    const problem = err instanceof WireJsonError ? err.problem : 'syntax';
    if (problem !== 'syntax') count(problem);
    throw badRequest(`the body: ${(err as Error).message}`, 'IotHubFormatError');
  }
}

/** `If-Match` without its quotes (`*` matches anything); undefined when absent. */
export function ifMatch(req: IncomingMessage): string | undefined {
  const header = req.headers['if-match'];
  if (header === undefined || header.trim() === '') return undefined;
  const value = header.trim();
  return value.startsWith('W/') ? unquote(value.slice(2)) : unquote(value);
}

const unquote = (v: string) => (v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v);

/** Whether an `If-Match` value (unquoted) allows a change of something whose ETag is `etag`. */
export const etagMatches = (given: string | undefined, etag: string) =>
  given === undefined || given === '*' || given === etag;

/** An ETag header value: the ETag in quotes, as IoT Hub sends it. */
export const etagHeader = (etag: string) => ({ etag: `"${etag}"` });

/** The value as a JSON object, or a 400 naming `what`. */
export function requireObject(v: unknown, what = 'the body'): JsonObject {
  if (!isJsonObject(v)) throw badRequest(`${what} must be a JSON object`);
  return v;
}
