import { createQueueConsumer } from '../../shared/workers/consumer.ts';

/** Consumer of the low-priority queue. Job types register here as features add them. */
export const handler = createQueueConsumer('low', {});
