// The edge CA of simulated transparent gateways (--gateway-listen): created once in the state directory and
// reused, so that a device (or the official SDK) that trusts it once keeps trusting every run's gateways.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadOrCreatePair } from '../../core/pem-files.js';
import { createCertificateAuthority, type PemPair } from '../../protocol/x509.js';

const EDGE_CA = 'edge-ca';
export const EDGE_CA_CERT_FILE = `${EDGE_CA}.pem`;

/** The edge CA (certificate and key) of `stateDir`, created when missing; `certPath` is what users trust. */
export async function loadEdgeCa(stateDir: string): Promise<PemPair & { certPath: string }> {
  await mkdir(stateDir, { recursive: true });
  const ca = await loadOrCreatePair(stateDir, EDGE_CA, () =>
    createCertificateAuthority('edgefleet edge CA (simulated IoT Edge gateways)'),
  );
  return { ...ca, certPath: join(stateDir, EDGE_CA_CERT_FILE) };
}

export interface GatewayListenSpec {
  gatewayId: string;
  host: string;
  /** 0: a free port. */
  port: number;
}

/** `GATEWAY_ID[=HOST:PORT]` (`HOST:PORT`, `:PORT` or `HOST`); undefined when it cannot be read. */
export function parseGatewayListen(text: string): GatewayListenSpec | undefined {
  const m = /^([^=\s]+)(?:=(?:\[([^\]]+)\]|([^:\s]*))(?::(\d{1,5}))?)?$/.exec(text.trim());
  if (m === null) return undefined;
  const port = m[4] === undefined ? 0 : Number(m[4]);
  if (port > 65535) return undefined;
  const host = m[2] ?? (m[3] === undefined || m[3] === '' ? '127.0.0.1' : m[3]);
  return { gatewayId: m[1]!, host, port };
}
