// The official IoT Hub service SDK (azure-iothub), as a back end would use it against the emulator. The SDK takes no
// port: it hands the connection string's `HostName` to node's https.request as the host, so `localhost:1234` fails
// with ENOTFOUND. Its public constructors take the REST client, and that takes the object that builds HTTP requests:
// this one splits `host:port` and leaves everything else (headers, SAS token, error translation) to the SDK.
import { request as httpsRequest, type Agent } from 'node:https';
import type { IncomingMessage } from 'node:http';
import iothub from 'azure-iothub';
import { RestApiClient } from 'azure-iothub/dist/common-http/rest_api_client.js';

export const { Registry, Client, Amqp, ConnectionString, SharedAccessSignature } = iothub;
export type { Device, Twin as ServiceTwin } from 'azure-iothub';

type Done = (err: Error | null | undefined, body?: string, response?: IncomingMessage) => void;

/** An HTTPS request builder with the SDK's `buildRequest` contract that honours a port in the host name. */
export class PortAwareHttp {
  private agent: Agent | undefined;

  setOptions(options: { http?: { agent?: Agent } }): void {
    this.agent = options.http?.agent;
  }

  buildRequest(method: string, path: string, headers: Record<string, string>, host: string, ...rest: unknown[]) {
    const done = rest.find((r): r is Done => typeof r === 'function') as Done;
    const at = host.lastIndexOf(':');
    const port = at > 0 && /^\d+$/.test(host.slice(at + 1)) ? Number(host.slice(at + 1)) : 443;
    const hostname = at > 0 && port !== 443 ? host.slice(0, at) : host;
    const options = { hostname, port, path, method, headers, ...(this.agent ? { agent: this.agent } : {}) };
    const req = httpsRequest(options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('error', (err) => done(err));
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        done(status >= 300 ? new Error(response.statusMessage) : null, body, response);
      });
    });
    req.on('error', (err) => done(err));
    return req;
  }
}

interface HubConfig {
  host: string;
  sharedAccessSignature: string;
}

/** The SDK's config for a connection string: host and a policy SAS token valid for an hour. */
export function serviceConfig(connectionString: string): HubConfig {
  const cn = ConnectionString.parse(connectionString);
  const token = SharedAccessSignature.create(
    cn.HostName as string,
    cn.SharedAccessKeyName as string,
    cn.SharedAccessKey as string,
    Math.floor(Date.now() / 1000) + 3600,
  );
  return { host: cn.HostName as string, sharedAccessSignature: token.toString() };
}

const restClient = (config: HubConfig) =>
  // The SDK types its builder as its own Http class; this one has the same contract.
  new RestApiClient(config, 'edgefleet-tests', new PortAwareHttp() as never);

/** A Registry on the emulator's hub HTTPS port. */
export function serviceRegistry(connectionString: string): InstanceType<typeof Registry> {
  const config = serviceConfig(connectionString);
  return new Registry(config, restClient(config));
}

/** A service Client for direct methods (its AMQP transport is never opened: the emulator does not speak AMQP). */
export function serviceClient(connectionString: string): InstanceType<typeof Client> {
  const config = serviceConfig(connectionString);
  return new Client(new Amqp(config), restClient(config));
}

/** A connection string for another shared access policy of the emulator (secrets.json `servicePolicies`). */
export function policyConnectionString(hostName: string, policy: string, key: string): string {
  return `HostName=${hostName};SharedAccessKeyName=${policy};SharedAccessKey=${key}`;
}
