// A request body read with a bound, for every HTTP face of the emulator: what is past the bound is drained (not
// buffered) so the client still reads its 413, and past the drain bound the connection is closed.

export interface BodyBounds {
  /** The most a body may hold. */
  maxBytes: number;
  /** How much is read and thrown away past `maxBytes` before the connection is closed. */
  drainBytes: number;
  /** The errors answered: a body over `maxBytes`, and one the client cut short. */
  tooLarge: () => Error;
  cutShort: () => Error;
}

export function readBoundedBody(req: NodeJS.ReadableStream, bounds: BodyBounds): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bounds.drainBytes) (req as NodeJS.ReadableStream & { destroy(): void }).destroy();
      else if (size <= bounds.maxBytes) chunks.push(chunk);
    });
    req.on('end', () => (size > bounds.maxBytes ? reject(bounds.tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
    req.on('close', () => reject(bounds.cutShort()));
  });
}
