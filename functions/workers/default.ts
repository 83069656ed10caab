import { jobHandlers } from '#services/workers.ts';
import { createJobConsumer } from '#workers/consumer.ts';

/** Consumer of the default-priority queue: its job types (shared/manifest.ts `jobs`). */
export const handler = createJobConsumer('default', jobHandlers);
