import { lowPriorityBatchJobs, lowPriorityJobs } from '../../shared/services/workers.ts';
import { createQueueConsumer } from '../../shared/workers/consumer.ts';

/** Consumer of the low-priority queue: audit rows a batch at a time, the sweeper. */
export const handler = createQueueConsumer('low', lowPriorityJobs, lowPriorityBatchJobs);
