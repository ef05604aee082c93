// Where workers run: worker threads (a run), or the coordinator's own thread on MessageChannel ports (tests
// that drive the coordinator in-process, and see every message cross a structured clone as it would).
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { runWorker, type WorkerRuntime, type WorkerRuntimeOptions } from './worker-runtime.js';

/** The coordinator's handle on one worker; a worker_threads Worker is one. */
export interface WorkerHandle {
  postMessage(message: ToWorker): void;
  on(event: 'message', listener: (message: FromWorker) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
  terminate(): Promise<unknown>;
  /** The worker's own event loop, when it has one (a thread): its utilization is shown per worker. */
  readonly performance?: { eventLoopUtilization: Worker['performance']['eventLoopUtilization'] };
}

type Listener = ((message: FromWorker) => void) | ((err: Error) => void) | ((code: number) => void);

export type WorkerSpawner = (init: WorkerInit) => WorkerHandle;

/** The compiled worker file: next to this one in dist/, or in dist/ when running from the sources (tests). */
export function workerFile(): string {
  const here = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(here)) return here;
  const dist = here.replace(/([/\\])src([/\\])engine([/\\])worker\.js$/, '$1dist$2engine$3worker.js');
  if (existsSync(dist)) return dist;
  throw new Error(`cannot find the worker program (${here}); run "npm run build"`);
}

/** One worker thread each. */
export function threadWorkers(file: string = workerFile()): WorkerSpawner {
  return (init) => new Worker(file, { workerData: init });
}

/**
 * Each worker's runtime in this thread, on a MessageChannel: the same messages, cloned the same way, without a
 * thread. `terminate` halts its things and timers, as ending a thread would.
 */
export function inThreadWorkers(options: WorkerRuntimeOptions = {}): WorkerSpawner {
  return (init) => {
    const { port1, port2 } = new MessageChannel();
    const events = new EventEmitter();
    port1.on('message', (m: FromWorker) => events.emit('message', m));
    let running: Promise<WorkerRuntime | undefined> | undefined;
    let terminated = false;
    // Started on the next turn, once the coordinator listens (a thread starts later still).
    setImmediate(() => {
      if (terminated) return;
      running = runWorker(port2, structuredClone(init), options);
      void running.then(
        (runtime) => runtime === undefined && events.emit('exit', 1),
        (err: Error) => {
          events.emit('error', err);
          events.emit('exit', 1);
        },
      );
    });
    return {
      postMessage: (m: ToWorker) => port1.postMessage(m),
      on(event: 'message' | 'error' | 'exit', listener: Listener) {
        events.on(event, listener);
        return this;
      },
      async terminate() {
        terminated = true;
        const runtime = await running?.catch(() => undefined);
        await runtime?.halt();
        port1.close();
        port2.close();
      },
    };
  };
}
