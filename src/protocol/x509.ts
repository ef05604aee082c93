// X.509 material for IoT Hub: CAs, TLS server certificates and device leaf certificates (ECDSA P-256).
// Pure computation (WebCrypto), no files: callers decide where PEMs live.
import 'reflect-metadata'; // @peculiar/x509 needs the Reflect metadata polyfill
import { webcrypto, X509Certificate as NodeX509Certificate, randomBytes } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** A CA that issues certificates: its certificate and key. */
export type IssuerPem = PemPair;

async function newKeys(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decode(pem)[0] as ArrayBuffer, ALGORITHM, true, [
    'sign',
  ]);
}

/** PEM files end with a newline, so that chains can be concatenated. */
const withNewline = (pem: string) => (pem.endsWith('\n') ? pem : pem + '\n');

const serial = () => {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f; // positive
  return bytes.toString('hex');
};

/** Escapes a value for an RFC 4514 distinguished name. */
const dnValue = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');

async function issue(opts: {
  subject: string;
  issuer: IssuerPem | undefined;
  validityDays: number;
  extensions: (keys: CryptoKeyPair) => Promise<x509.Extension[]>;
}): Promise<PemPair> {
  const keys = await newKeys();
  const notBefore = new Date(Date.now() - DAY_MS);
  const notAfter = new Date(Date.now() + opts.validityDays * DAY_MS);
  const extensions = await opts.extensions(keys);
  const cert =
    opts.issuer === undefined
      ? await x509.X509CertificateGenerator.createSelfSigned({
          serialNumber: serial(),
          name: opts.subject,
          notBefore,
          notAfter,
          keys,
          signingAlgorithm: ALGORITHM,
          extensions,
        })
      : await (async () => {
          const issuerCert = new x509.X509Certificate(opts.issuer!.certPem);
          extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerCert));
          return x509.X509CertificateGenerator.create({
            serialNumber: serial(),
            subject: opts.subject,
            issuer: issuerCert.subject,
            notBefore,
            notAfter,
            publicKey: keys.publicKey,
            signingKey: await importKeyPem(opts.issuer!.keyPem),
            signingAlgorithm: ALGORITHM,
            extensions,
          });
        })();
  return { certPem: withNewline(cert.toString('pem')), keyPem: withNewline(await exportKeyPem(keys.privateKey)) };
}

/** A certificate authority, self-signed or below `issuer` (an intermediate, e.g. an IoT Edge device CA). */
export async function createCertificateAuthority(
  commonName: string,
  opts: { issuer?: IssuerPem; validityDays?: number } = {},
): Promise<PemPair> {
  return issue({
    subject: `CN=${dnValue(commonName)}`,
    issuer: opts.issuer,
    validityDays: opts.validityDays ?? 3650,
    extensions: async (keys) => [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

/** A TLS server certificate for the given DNS names and IP addresses. */
export async function issueServerCertificate(
  issuer: IssuerPem,
  names: { dns: string[]; ips: string[] },
  validityDays = 825,
): Promise<PemPair> {
  return issue({
    subject: `CN=${dnValue(names.dns[0] ?? names.ips[0] ?? 'localhost')}`,
    issuer,
    validityDays,
    extensions: async (keys) => [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

/** A device (client) leaf certificate whose subject CN is the device id, as IoT Hub and DPS expect. */
export async function issueLeafCertificate(
  issuer: IssuerPem,
  commonName: string,
  validityDays = 365,
): Promise<PemPair> {
  return issue({
    subject: `CN=${dnValue(commonName)}`,
    issuer,
    validityDays,
    extensions: async (keys) => [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

/** The subject CN of a PEM or DER certificate. */
export function commonNameOf(cert: string | Buffer): string | undefined {
  const subject = new NodeX509Certificate(cert).subject;
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return undefined;
}

/** SHA-256 thumbprint, upper-case hex without separators, as IoT Hub shows thumbprints. */
export function thumbprintOf(cert: string | Buffer): string {
  return new NodeX509Certificate(cert).fingerprint256.replace(/:/g, '');
}
