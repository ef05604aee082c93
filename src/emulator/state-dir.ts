// The emulator's state directory: its CAs, server certificate and secrets, created once and reused so that
// certificates users trust and keys they copied keep working across restarts.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createCertificateAuthority, issueServerCertificate, type PemPair } from '../protocol/x509.js';
import { newSymmetricKeys, type SymmetricKeys } from './registry.js';
import { loadOrCreatePair, readIfExists, writeSecret } from '../core/pem-files.js';

export interface EmulatorSecrets {
  idScope: string;
  enrollmentGroups: { devices: SymmetricKeys; edgeDevices: SymmetricKeys };
  apiToken: string;
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
  const secretsPath = join(dir, 'secrets.json');
  const stored = await readIfExists(secretsPath);
  let secrets: EmulatorSecrets;
  if (stored === undefined) {
    secrets = {
      idScope: newIdScope(),
      enrollmentGroups: { devices: newSymmetricKeys(), edgeDevices: newSymmetricKeys() },
      apiToken:
        'SharedAccessSignature sr=edgefleet-emulator&sig=' +
        randomBytes(24).toString('base64url') +
        '&skn=operator&se=4102444800',
    };
    await writeSecret(secretsPath, JSON.stringify(secrets, null, 2) + '\n');
  } else {
    secrets = JSON.parse(stored) as EmulatorSecrets;
  }
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
