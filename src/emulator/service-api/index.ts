// The hub's service REST API on the hub HTTPS port (docs/protocol.md §8): the registry, twins, direct methods,
// IoT Edge configuration content and queries, for back ends holding a shared access policy's key. One registry and
// one set of twins with the IoT Central-shaped REST API.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HubRight } from '../../protocol/index.js';
import { ServiceError } from '../service.js';
import { authorizeService } from './auth.js';
import type { RouteContext, ServiceApiOptions } from './context.js';
import { DeviceRoutes } from './devices.js';
import { badRequest, errorReply, HubApiError, readJson, send, type ApiReply } from './http.js';
import { runQuery } from './query.js';
import { TwinRoutes } from './twins.js';
import type { ViewContext } from './views.js';

export { policyTokenOf } from './auth.js';
export type { RegistryOperationGate, ServiceApiOptions } from './context.js';

/** The API versions accepted: the one the official service SDKs send, and earlier ones with the same shapes. */
const API_VERSIONS = new Set(['2021-04-12', '2020-09-30', '2020-05-31-preview', '2020-03-13', '2019-10-01']);

type Handler = (ctx: RouteContext) => ApiReply | Promise<ApiReply>;

interface Route {
  pattern: RegExp;
  /** Per method: the rights of which one is needed, and the handler. */
  methods: Partial<Record<string, [readonly HubRight[], Handler]>>;
}

const READ: readonly HubRight[] = ['registryRead'];
const WRITE: readonly HubRight[] = ['registryWrite'];
const SERVICE: readonly HubRight[] = ['serviceConnect'];
const TWIN_READ: readonly HubRight[] = ['registryRead', 'serviceConnect'];
const TWIN_WRITE: readonly HubRight[] = ['registryWrite', 'serviceConnect'];

function routeTable(devices: DeviceRoutes, twins: TwinRoutes, view: ViewContext): Route[] {
  const r = (pattern: RegExp, methods: Route['methods']): Route => ({ pattern, methods });
  const ID = '([^/]+)';
  return [
    r(/^\/devices\/?$/, {
      GET: [READ, (c) => devices.list(c)],
      POST: [WRITE, (c) => devices.bulk(c)],
    }),
    r(/^\/devices\/query\/?$/, { POST: [TWIN_READ, (c) => runQuery(view, c)] }),
    r(new RegExp(`^/devices/${ID}/?$`), {
      GET: [READ, (c) => devices.get(c)],
      PUT: [WRITE, (c) => devices.put(c)],
      DELETE: [WRITE, (c) => devices.delete(c)],
    }),
    r(new RegExp(`^/devices/${ID}/applyConfigurationContent/?$`), {
      POST: [TWIN_WRITE, (c) => twins.applyConfigurationContent(c)],
    }),
    r(new RegExp(`^/devices/${ID}/modules/?$`), { GET: [READ, (c) => devices.listModules(c)] }),
    r(new RegExp(`^/devices/${ID}/modules/${ID}/?$`), {
      GET: [READ, (c) => devices.getModule(c)],
      PUT: [WRITE, (c) => devices.putModule(c)],
      DELETE: [WRITE, (c) => devices.deleteModule(c)],
    }),
    r(new RegExp(`^/twins/${ID}(?:/modules/${ID})?/?$`), {
      GET: [TWIN_READ, (c) => twins.get(c)],
      PATCH: [TWIN_WRITE, (c) => twins.write(c, false)],
      PUT: [TWIN_WRITE, (c) => twins.write(c, true)],
    }),
    r(new RegExp(`^/twins/${ID}(?:/modules/${ID})?/methods/?$`), { POST: [SERVICE, (c) => twins.invoke(c)] }),
  ];
}

function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw badRequest('the path is not valid percent-encoding');
  }
}

function checkApiVersion(url: URL): void {
  const version = url.searchParams.get('api-version');
  if (version === null || version === '') throw badRequest('api-version is required', 'InvalidProtocolVersion');
  if (!API_VERSIONS.has(version)) {
    const known = [...API_VERSIONS].join(', ');
    throw badRequest(
      `api-version "${version.slice(0, 40)}" is not served; use one of ${known}`,
      'InvalidProtocolVersion',
    );
  }
}

/** Finds the route, checks the token's rights, then runs it. Authorization first: a 404 says nothing to a stranger. */
async function dispatch(routes: Route[], opts: ServiceApiOptions, req: IncomingMessage): Promise<ApiReply> {
  const url = new URL(req.url ?? '/', 'https://hub');
  let params: string[] = [];
  const route = routes.find((candidate) => {
    const m = candidate.pattern.exec(url.pathname);
    if (m !== null) params = m.slice(1).filter((p): p is string => p !== undefined);
    return m !== null;
  });
  const entry = route?.methods[req.method ?? ''];
  authorizeService(req, url.pathname, opts, entry?.[0] ?? ['registryRead']);
  if (route === undefined) throw new HubApiError(404, 'NotFound', `no route ${url.pathname.slice(0, 200)}`);
  if (entry === undefined) {
    throw new HubApiError(405, 'MethodNotAllowed', `${req.method} is not allowed on ${url.pathname.slice(0, 200)}`);
  }
  checkApiVersion(url);
  let body: Promise<unknown> | undefined;
  const ctx: RouteContext = {
    req,
    url,
    params: params.map(decodeSegment),
    body: () => (body ??= readJson(req, opts.count)),
  };
  return entry[1](ctx);
}

/** The service API's request handler: never throws; every failure is IoT Hub's error answer. */
export function createServiceApiHandler(opts: ServiceApiOptions) {
  const view: ViewContext = {
    registry: opts.service.registry,
    isConnected: (deviceId, moduleId) => opts.service.isConnected(deviceId, moduleId),
    pendingC2D: opts.pendingC2D,
  };
  const routes = routeTable(new DeviceRoutes(opts, view), new TwinRoutes(opts, view), view);
  const failure = (req: IncomingMessage, err: unknown): ApiReply => {
    if (err instanceof ServiceError) {
      if (err instanceof HubApiError && err.reason !== undefined) opts.count(err.reason);
      return errorReply(err);
    }
    opts.count('internalError');
    const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
    opts.log(`hub service API ${req.method} ${req.url?.slice(0, 200)}: internal error: ${stack}`);
    return errorReply(new ServiceError(500, 'ServerError', 'internal error'));
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    dispatch(routes, opts, req)
      .catch((err: unknown) => failure(req, err))
      .then(async (reply) => {
        // What the answer says has been recorded before it leaves.
        await opts.committed();
        send(res, reply);
      })
      .catch((err: unknown) => {
        opts.log(`hub service API: could not answer ${req.method} ${req.url?.slice(0, 200)}: ${String(err)}`);
        res.destroy();
      });
  };
}
