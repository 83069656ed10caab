/**
 * The queue workers on a thread of their own: `npm start` on PostgreSQL runs them here, apart
 * from the API, as Lambda runs the worker functions apart from the API functions. The thread
 * has its own module instances (pool, caches, clients: a container of its own) and reaches
 * the main thread's stand-ins through their endpoints, as bin/worker.ts does from a process.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startLocalRuntime } from './runtime.ts';

export interface WorkerThreadData {
  /** The main thread's environment once its stand-ins are up (endpoints, queue URLs, keys). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The queues were created by this start, so the sweeper resends what a previous one left. */
  readonly freshQueues: boolean;
}

/** Main thread → worker: drain and stop. Worker → main: started (or not), stopped. */
export type WorkerThreadMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'stopped' };

const port = parentPort;
if (!port) throw new Error('worker-thread.ts runs as a worker thread of the local runtime');
const { env, freshQueues } = workerData as WorkerThreadData;
const post = (message: WorkerThreadMessage) => port.postMessage(message);

try {
  const runtime = await startLocalRuntime({ api: false, env, freshQueues });
  port.once('message', () => {
    void runtime.stop().finally(() => {
      post({ kind: 'stopped' });
      port.close();
    });
  });
  post({ kind: 'ready' });
} catch (error) {
  post({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
  port.close();
}
