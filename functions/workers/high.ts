import { highPriorityBatchJobs, highPriorityJobs } from '../../shared/services/workers.ts';
import { createQueueConsumer } from '../../shared/workers/consumer.ts';

/** Consumer of the high-priority queue: agent executions, a whole batch at a time. */
export const handler = createQueueConsumer('high', highPriorityJobs, highPriorityBatchJobs);
