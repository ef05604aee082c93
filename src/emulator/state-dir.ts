// The emulator's state directory: its CAs, server certificate and secrets, created once and reused so that
// certificates users trust and keys they copied keep working across restarts.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createCertificateAuthority, issueServerCertificate, type PemPair } from '../protocol/x509.js';
import { HUB_POLICY_NAMES, type HubPolicyName } from '../protocol/hub-policy.js';
import { newSymmetricKeys, type SymmetricKeys } from './registry.js';
import { loadOrCreatePair, readIfExists, writeSecret } from '../core/pem-files.js';

export interface EmulatorSecrets {
  idScope: string;
  enrollmentGroups: { devices: SymmetricKeys; edgeDevices: SymmetricKeys };
  apiToken: string;
  /** The keys of the hub's shared access policies (`iothubowner`, `registryReadWrite`, `serviceConnect`, …). */
  servicePolicies: Record<HubPolicyName, SymmetricKeys>;
}

export interface StateDir {
  dir: string;
  caCertPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  deviceCaCertPath: string;
  deviceCaKeyPath: string;
  ca: PemPair;
  server: PemPair;
  deviceCa: PemPair;
  secrets: EmulatorSecrets;
}

const newIdScope = () => '0ne' + randomBytes(4).toString('hex').toUpperCase();

/**
 * Creates what is missing in the state directory and loads the rest. `serverNames` are the DNS names the
 * server certificate must carry (localhost and the loopback addresses are always in it).
 */
export async function ensureStateDir(dirInput: string, serverNames: string[] = []): Promise<StateDir> {
  const dir = resolve(dirInput);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await loadOrCreatePair(dir, 'ca', () => createCertificateAuthority('edgefleet emulator root CA'));
  const deviceCa = await loadOrCreatePair(dir, 'device-ca', () => createCertificateAuthority('edgefleet device CA'));
  const dns = [...new Set(['localhost', ...serverNames.filter((n) => !/^[\d.:]+$/.test(n))])];
  const namesPath = join(dir, 'server-names.json');
  const wanted = JSON.stringify(dns);
  if ((await readIfExists(namesPath)) !== wanted) {
    // The names changed (or first start): issue a new server certificate.
    const server = await issueServerCertificate(ca, { dns, ips: ['127.0.0.1', '::1'] });
    await writeFile(join(dir, 'server.pem'), server.certPem + ca.certPem);
    await writeSecret(join(dir, 'server-key.pem'), server.keyPem);
    await writeFile(namesPath, wanted);
  }
  const server = {
    certPem: await readFile(join(dir, 'server.pem'), 'utf8'),
    keyPem: await readFile(join(dir, 'server-key.pem'), 'utf8'),
  };
  const secrets = await loadOrCreateSecrets(join(dir, 'secrets.json'));
  return {
    dir,
    caCertPath: join(dir, 'ca.pem'),
    serverCertPath: join(dir, 'server.pem'),
    serverKeyPath: join(dir, 'server-key.pem'),
    deviceCaCertPath: join(dir, 'device-ca.pem'),
    deviceCaKeyPath: join(dir, 'device-ca-key.pem'),
    ca,
    server,
    deviceCa,
    secrets,
  };
}

/** The policies' keys, created where missing; the other secrets are kept as they are. */
function withServicePolicies(stored: Partial<EmulatorSecrets>): { secrets: EmulatorSecrets; added: boolean } {
  const policies: Partial<Record<HubPolicyName, SymmetricKeys>> = { ...stored.servicePolicies };
  let added = false;
  for (const name of HUB_POLICY_NAMES) {
    if (policies[name]?.primaryKey === undefined || policies[name]?.secondaryKey === undefined) {
      policies[name] = newSymmetricKeys();
      added = true;
    }
  }
  const servicePolicies = policies as Record<HubPolicyName, SymmetricKeys>;
  return { secrets: { ...(stored as EmulatorSecrets), servicePolicies }, added };
}

/**
 * secrets.json, created on first start. One written by an earlier version, without the service policies, gets them
 * added (written whole, then renamed, so a reader never sees half of it); nothing else in it changes.
 */
async function loadOrCreateSecrets(path: string): Promise<EmulatorSecrets> {
  const stored = await readIfExists(path);
  const { secrets, added } = withServicePolicies(
    stored === undefined
      ? {
          idScope: newIdScope(),
          enrollmentGroups: { devices: newSymmetricKeys(), edgeDevices: newSymmetricKeys() },
          apiToken:
            'SharedAccessSignature sr=edgefleet-emulator&sig=' +
            randomBytes(24).toString('base64url') +
            '&skn=operator&se=4102444800',
        }
      : (JSON.parse(stored) as Partial<EmulatorSecrets>),
  );
  if (stored === undefined || added) {
    const tmp = `${path}.${process.pid}.tmp`;
    await writeSecret(tmp, JSON.stringify(secrets, null, 2) + '\n');
    await rename(tmp, path);
  }
  return secrets;
}
