import { highPriorityJobs } from '../../shared/services/workers.ts';
import { createQueueConsumer } from '../../shared/workers/consumer.ts';

/** Consumer of the high-priority queue. */
export const handler = createQueueConsumer('high', highPriorityJobs);
