import type { Agent } from '#domain/agent.ts';
import { conflict, notFound } from '#domain/errors.ts';
import type { CreateExecutionBody, Execution } from '#domain/execution.ts';
import { isFinished } from '#domain/execution.ts';
import { isUuid, newId } from '#domain/ids.ts';
import { jobTypes, newJob } from '#domain/jobs.ts';
import { orEarlier, replayOrRefuse } from './idempotency.ts';
import type { ExecutionPageQuery, ExecutionStore, JobQueue, StartContext } from './ports.ts';
import { cancelled, enqueueCommitted, type Page, pageOf, pollUntil } from './resources.ts';

/** Finds an agent of a tenant (through the cache), or throws 404. */
export type AgentLookup = (tenantId: string, agentId: string) => Promise<Agent>;

export const executeJob = (execution: Pick<Execution, 'id' | 'tenantId'>, trace?: string) =>
  newJob(
    jobTypes.executeAgent,
    execution.tenantId,
    { execution_id: execution.id },
    `execute:${execution.id}`,
    trace,
  );

/**
 * Agent executions as the API sees them. Accepting one commits the row before answering
 * 202, then enqueues it; if the enqueue fails, the sweeper re-sends it, so an accepted
 * execution is never lost.
 */
export class ExecutionService {
  constructor(
    private readonly repository: ExecutionStore,
    private readonly queue: JobQueue,
    private readonly findAgent: AgentLookup,
  ) {}

  /**
   * Under an Idempotency-Key the execution an earlier request started with the same body
   * comes back, in its current state (enqueued again only while still queued; 422 for another
   * body), even if its agent has been paused or deleted since.
   */
  async accept(
    tenantId: string,
    agentId: string,
    body: CreateExecutionBody,
    { trace, idempotency, audit }: StartContext = {},
  ): Promise<Execution> {
    const { row: execution, replayed } = await orEarlier(
      idempotency,
      async () => {
        const agent = await this.findAgent(tenantId, agentId);
        if (agent.status === 'paused')
          throw conflict('The agent is paused; resume it (status "active") to execute it.');
        const inserted = await this.repository.insertOrFind({
          id: newId(),
          tenantId,
          agentId: agent.id,
          input: body.input,
          metadata: body.metadata ?? null,
          // A snapshot: edits to the agent after acceptance do not change this run.
          model: agent.model,
          systemPrompt: agent.systemPrompt,
          configuration: agent.configuration,
          queuedAt: new Date(),
          ...(idempotency && { idempotency }),
          ...(audit && { audit }),
        });
        return replayOrRefuse(inserted, idempotency);
      },
      async (key) => (isUuid(agentId) ? this.repository.findByKey(tenantId, agentId, key) : undefined),
    );
    // A replay whose execution is still queued is sent again: its first request may have died
    // between the commit and the send. A duplicate message is harmless (the claim is idempotent).
    if (replayed && execution.status !== 'queued') return execution;
    await enqueueCommitted(() => this.queue.enqueue(executeJob(execution, trace)), 'execution', {
      executionId: execution.id,
    });
    return execution;
  }

  async get(tenantId: string, id: string): Promise<Execution> {
    if (!isUuid(id)) throw notFound('execution');
    const execution = await this.repository.findById(tenantId, id);
    if (!execution) throw notFound('execution');
    return execution;
  }

  /** Holds until the execution is finished or `seconds` pass (`pollUntil`). */
  waitForFinish(tenantId: string, execution: Execution, seconds: number): Promise<Execution> {
    return pollUntil(
      execution,
      (current) => isFinished(current.status),
      () => this.get(tenantId, execution.id),
      seconds,
    );
  }

  async listForAgent(query: ExecutionPageQuery): Promise<Page<Execution>> {
    await this.findAgent(query.tenantId, query.agentId);
    return pageOf(
      query,
      (q) => this.repository.page(q),
      (e) => ({ createdAt: e.queuedAt, id: e.id }),
    );
  }

  async cancel(tenantId: string, id: string): Promise<Execution> {
    if (!isUuid(id)) throw notFound('execution');
    return cancelled(await this.repository.cancel(tenantId, id), 'execution');
  }
}
