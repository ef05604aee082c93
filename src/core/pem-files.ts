// Certificate pairs kept on disk (PEM files in a state directory), created once and reused so that what users
// trust keeps working across runs and restarts. Making a certificate is pure (protocol/x509.ts); this is the I/O.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PemPair } from '../protocol/x509.js';

/** The file's text, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes a file only its owner can read (a private key, a token). */
export async function writeSecret(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

/** `<dir>/<name>.pem` and `<dir>/<name>-key.pem` (owner-only), made by `make` when either is missing. */
export async function loadOrCreatePair(dir: string, name: string, make: () => Promise<PemPair>): Promise<PemPair> {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}-key.pem`);
  const [certPem, keyPem] = await Promise.all([readIfExists(certPath), readIfExists(keyPath)]);
  if (certPem !== undefined && keyPem !== undefined) return { certPem, keyPem };
  const made = await make();
  await writeFile(certPath, made.certPem);
  await writeSecret(keyPath, made.keyPem);
  return made;
}
