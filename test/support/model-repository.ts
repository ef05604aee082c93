// A device models repository written for tests: Interfaces of our own in the DMR layout (dtmi/com/…/name-1.json), a
// controller whose components and `extends` name other DTMIs, and an HTTP server on 127.0.0.1 that serves a folder
// and counts what it is asked.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const CONTROLLER = 'dtmi:com:edgefleet:test:ClimateController;2';
export const POWERED = 'dtmi:com:edgefleet:test:PoweredDevice;1';
export const ZONE = 'dtmi:com:edgefleet:test:Zone;1';
export const IDENTITY = 'dtmi:com:edgefleet:test:Identity;1';

type Interface = Record<string, unknown>;

const V2 = 'dtmi:dtdl:context;2';

export const controller: Interface = {
  '@context': V2,
  '@id': CONTROLLER,
  '@type': 'Interface',
  displayName: { en: 'Climate controller', de: 'Klimaregler' },
  extends: POWERED,
  contents: [
    { '@type': ['Telemetry', 'DataSize'], name: 'workingSet', schema: 'double', unit: 'kibibit' },
    { '@type': 'Component', name: 'zone1', schema: ZONE },
    { '@type': 'Component', name: 'zone2', schema: ZONE },
    { '@type': 'Component', name: 'info', schema: IDENTITY },
    { '@type': 'Command', name: 'reboot', request: { name: 'delay', schema: 'integer' } },
  ],
};

export const powered: Interface = {
  '@context': V2,
  '@id': POWERED,
  '@type': 'Interface',
  contents: [
    { '@type': ['Telemetry', 'Power'], name: 'powerDraw', schema: 'double', unit: 'watt' },
    {
      '@type': 'Property',
      name: 'powerState',
      schema: {
        '@type': 'Enum',
        valueSchema: 'string',
        enumValues: [
          { name: 'on', enumValue: 'on' },
          { name: 'off', enumValue: 'off' },
        ],
      },
    },
  ],
};

export const zone: Interface = {
  '@context': V2,
  '@id': ZONE,
  '@type': 'Interface',
  contents: [
    { '@type': ['Telemetry', 'Temperature'], name: 'temperature', schema: 'double', unit: 'degreeCelsius' },
    {
      '@type': ['Property', 'Temperature'],
      name: 'targetTemperature',
      schema: 'double',
      unit: 'degreeCelsius',
      writable: true,
    },
  ],
};

export const identity: Interface = {
  '@context': V2,
  '@id': IDENTITY,
  '@type': 'Interface',
  contents: [
    { '@type': 'Property', name: 'manufacturer', schema: 'string' },
    { '@type': 'Property', name: 'serialNumber', schema: 'string' },
  ],
};

/** Where the DMR convention keeps a DTMI's model, relative to the repository. */
export function dmrPath(dtmi: string, expanded = false): string {
  return `${dtmi.toLowerCase().replace(/:/g, '/').replace(';', '-')}${expanded ? '.expanded.json' : '.json'}`;
}

/** Writes Interfaces (or any text) into a repository folder under their DTMIs' paths. */
export async function writeModels(dir: string, models: Record<string, unknown>, expanded = false): Promise<void> {
  for (const [dtmi, model] of Object.entries(models)) {
    const file = path.join(dir, dmrPath(dtmi, expanded));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, typeof model === 'string' ? model : JSON.stringify(model, null, 2));
  }
}

/** A fresh repository folder with the controller and every Interface it names. */
export async function controllerRepository(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgefleet-dmr-'));
  await writeModels(dir, { [CONTROLLER]: controller, [POWERED]: powered, [ZONE]: zone, [IDENTITY]: identity });
  return dir;
}

export interface FolderServer {
  url: string;
  /** Paths asked for, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `dir` at /repo/ over HTTP on 127.0.0.1 (a free port); `status` may answer some paths with an error. */
export async function serveFolder(
  dir: string,
  status: (urlPath: string) => number | undefined = () => undefined,
): Promise<FolderServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(urlPath);
    const forced = status(urlPath);
    if (forced !== undefined) {
      res.writeHead(forced).end();
      return;
    }
    if (!urlPath.startsWith('/repo/')) {
      res.writeHead(404).end();
      return;
    }
    readFile(path.join(dir, urlPath.slice('/repo/'.length))).then(
      (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/repo`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
