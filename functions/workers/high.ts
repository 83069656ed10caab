import { jobHandlers } from '#services/workers.ts';
import { createJobConsumer } from '#workers/consumer.ts';

/** Consumer of the high-priority queue: its job types (shared/manifest.ts `jobs`), executions and workflow steps a whole batch at a time. */
export const handler = createJobConsumer('high', jobHandlers);
