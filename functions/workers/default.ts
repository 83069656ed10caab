import { defaultPriorityJobs } from '../../shared/services/workers.ts';
import { createQueueConsumer } from '../../shared/workers/consumer.ts';

/** Consumer of the default-priority queue. */
export const handler = createQueueConsumer('default', defaultPriorityJobs);
