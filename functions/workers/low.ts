import { jobHandlers } from '#services/workers.ts';
import { createJobConsumer } from '#workers/consumer.ts';

/** Consumer of the low-priority queue: its job types (shared/manifest.ts `jobs`), audit rows a batch at a time. */
export const handler = createJobConsumer('low', jobHandlers);
