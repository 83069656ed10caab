import { lowPriorityJobs } from '../../shared/services/workers.ts';
import { createQueueConsumer } from '../../shared/workers/consumer.ts';

/** Consumer of the low-priority queue. */
export const handler = createQueueConsumer('low', lowPriorityJobs);
