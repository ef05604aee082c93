// A worker thread: a thin entry over the worker runtime (worker-runtime.ts), which tests also run in-process.
import { parentPort, workerData } from 'node:worker_threads';
import { runWorker } from './worker-runtime.js';
import type { WorkerInit } from './messages.js';

if (parentPort === null) throw new Error('engine/worker.js runs as a worker thread (the coordinator starts it)');
const runtime = await runWorker(parentPort, workerData as WorkerInit);
// The fleet could not be built: the coordinator has been told why.
if (runtime === undefined) process.exit(1);
