// Module identities of an IoT Edge device, managed over the hub's HTTPS registry with the device's own SAS
// token, as the IoT Edge identity service does (PUT/GET /devices/{id}/modules/{module}).
import { request } from 'node:https';
import { createSasToken, sasResource } from '../../protocol/index.js';
import { ClassifiedError, classify, classifyStatus } from '../../transport/errors.js';

const API_VERSION = '2021-04-12';
const TOKEN_TTL_SECONDS = 3600;

export interface IdentityEndpoint {
  /** Host name as devices know the hub (`host[:port]`, for the token's resource). */
  hubHost: string;
  /** Where the HTTPS endpoint listens. */
  dial: { host: string; port: number };
  caPem?: string;
  timeoutMs: number;
}

/** Returns the module's primary key, creating the identity if it does not exist. */
export async function moduleKey(endpoint: IdentityEndpoint, deviceId: string, deviceKey: string, moduleId: string, create: boolean): Promise<string> {
  const token = createSasToken({
    resourceUri: sasResource.device(endpoint.hubHost, deviceId),
    key: deviceKey,
    expiry: Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS,
  });
  const path = `/devices/${encodeURIComponent(deviceId)}/modules/${encodeURIComponent(moduleId)}?api-version=${API_VERSION}`;
  const body = create ? JSON.stringify({ moduleId, deviceId, managedBy: 'iotEdge' }) : undefined;
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request({
      host: endpoint.dial.host, port: endpoint.dial.port, path, method: create ? 'PUT' : 'GET',
      servername: 'localhost' === endpoint.dial.host ? 'localhost' : endpoint.dial.host,
      headers: { authorization: token, 'content-type': 'application/json', ...(body === undefined ? {} : { 'content-length': Buffer.byteLength(body) }) },
      ...(endpoint.caPem === undefined ? {} : { ca: endpoint.caPem }),
      timeout: endpoint.timeoutMs,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new ClassifiedError('timeout', `module identity ${moduleId}: no answer in ${endpoint.timeoutMs} ms`)));
    req.on('error', (err) => reject(classify(err)));
    req.end(body);
  });
  if (answer.status !== 200) throw classifyStatus(answer.status, `module identity ${deviceId}/${moduleId} (${answer.text.slice(0, 160)})`);
  const key = (JSON.parse(answer.text) as { authentication?: { symmetricKey?: { primaryKey?: string } } }).authentication?.symmetricKey?.primaryKey;
  if (typeof key !== 'string') throw new ClassifiedError('protocol', `module identity ${deviceId}/${moduleId} came without a symmetric key`);
  return key;
}
