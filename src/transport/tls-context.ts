// One TLS SecureContext per distinct PEM set, shared by every connection that uses it. Given `ca`/`cert`/`key`
// per connection, Node builds (and keeps, per socket) a context of its own: parsing the CA and holding a copy of
// it for each of thousands of connections costs connect time and memory.
import { createSecureContext, type SecureContext } from 'node:tls';

export interface TlsMaterial {
  /** PEM of the CA(s) to trust; none: Node's default roots. */
  ca?: string | Buffer | undefined;
  /** Client certificate and its private key (X.509 authentication), PEM. */
  cert?: string | undefined;
  key?: string | undefined;
}

/**
 * Contexts with a client certificate are one device's own (each has its own key), reused only across that
 * device's reconnects, so they are held in a small least-recently-used set; CA-only contexts are shared by all.
 */
const MAX_SHARED = 16;
const MAX_WITH_CLIENT_CERT = 256;

const shared = new Map<string, SecureContext>();
const withClientCert = new Map<string, SecureContext>();

const pem = (v: string | Buffer | undefined): string =>
  v === undefined ? '' : typeof v === 'string' ? v : v.toString('utf8');

/** The context for this material, built once and cached by content. */
export function secureContextFor(material: TlsMaterial): SecureContext {
  const ca = pem(material.ca);
  if (material.cert === undefined && material.key === undefined) {
    let context = shared.get(ca);
    if (context === undefined) {
      context = build(material);
      remember(shared, ca, context, MAX_SHARED);
    }
    return context;
  }
  const id = `${material.cert ?? ''}\0${material.key ?? ''}\0${ca}`;
  let context = withClientCert.get(id);
  if (context === undefined) context = build(material);
  else withClientCert.delete(id); // re-inserted below as the most recently used
  remember(withClientCert, id, context, MAX_WITH_CLIENT_CERT);
  return context;
}

function build(material: TlsMaterial): SecureContext {
  return createSecureContext({
    ...(material.ca === undefined ? {} : { ca: material.ca }),
    ...(material.cert === undefined ? {} : { cert: material.cert }),
    ...(material.key === undefined ? {} : { key: material.key }),
  });
}

function remember(cache: Map<string, SecureContext>, id: string, context: SecureContext, max: number): void {
  cache.set(id, context);
  if (cache.size > max) cache.delete(cache.keys().next().value as string);
}

/** How many contexts are cached (shared, with a client certificate); for tests. */
export function cachedContexts(): { shared: number; withClientCert: number } {
  return { shared: shared.size, withClientCert: withClientCert.size };
}
