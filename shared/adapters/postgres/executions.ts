import type { Execution, ExecutionError, ExecutionStatus } from '#domain/execution.ts';
import type {
  ClaimRefusal,
  CompletedCall,
  ExecutionAttemptStore,
  ExecutionPageQuery,
  ExecutionRedrive,
  ExecutionStore,
  KeyedInsert,
  NewExecution,
} from '#services/ports.ts';
import { auditInserted } from './audit.ts';
import type { Queryable } from './db.ts';
import { findByKey, type KeyedTable, keyedInsertResults } from './keyed-insert.ts';
import { latestRetrieval } from './knowledge-retrievals.ts';
import { type CallRow, type RequestRow, toCallRecord, toRunRequest } from './run-rows.ts';
import { sharedStatement } from './shared-statement.ts';
import { qualified, readPage, rollupUpsert, takeStuckStatement } from './sql.ts';

interface ExecutionRow extends RequestRow, CallRow {
  agent_id: string;
  status: ExecutionStatus;
  model: string;
  system_prompt: string;
  configuration: Record<string, unknown>;
  attempts: number;
  version: number;
  queued_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

/** Everything but the prompt snapshot, which only the worker needs. */
const resourceColumns = `id, tenant_id, agent_id, status, input, metadata, model, output, error, provider, model_used,
  input_tokens, output_tokens, cost_usd, cached, attempts, version, queued_at, started_at, completed_at`;
const workerColumns = `${resourceColumns}, system_prompt, configuration`;

const toExecution = (row: ExecutionRow): Execution => ({
  ...toRunRequest(row),
  ...toCallRecord(row),
  agentId: row.agent_id,
  status: row.status,
  model: row.model,
  systemPrompt: row.system_prompt ?? '',
  configuration: row.configuration ?? {},
  attempts: row.attempts,
  version: row.version,
  queuedAt: row.queued_at,
  startedAt: row.started_at,
  completedAt: row.completed_at,
});

/** The sweeper's take (`takeStuckStatement`): touched by `updated_at`. */
const takeStuckExecutions = takeStuckStatement({
  table: 'executions',
  key: 'id',
  clock: 'updated_at',
  set: 'updated_at = now()',
  returning: 'id, tenant_id, attempts',
});

/** Rows per shared INSERT: beyond a few dozen, one statement holds the others' answers back. */
const insertBatchLimit = 32;

/** Executions' Idempotency-Keys are scoped by (tenant, agent). */
const keyedExecutions: KeyedTable<ExecutionRow, Execution> = {
  table: 'executions',
  alias: 'e',
  columns: resourceColumns,
  scope: 'agent_id',
  toResource: toExecution,
};

/**
 * Model answers as statement parameters, one array per column, in the order the completion
 * statements read them: output, provider, model_used, input_tokens, output_tokens, cost_usd, cached.
 */
export const callColumns = (calls: readonly CompletedCall[]): unknown[][] => [
  calls.map((c) => c.output),
  calls.map((c) => c.provider),
  calls.map((c) => c.modelUsed),
  calls.map((c) => c.inputTokens),
  calls.map((c) => c.outputTokens),
  calls.map((c) => c.costUsd),
  calls.map((c) => c.cached),
];

/**
 * The shard of a daily rollup row this connection adds to (migration 0004): concurrent
 * completions on different connections do not queue on one hot row's lock; readers sum.
 */
export const rollupShard = '(pg_backend_pid() % 8)::smallint';

/**
 * The usage rollup of the executions a statement just finished (`done`), in that same
 * statement, aggregated first: one upsert per (tenant, day, agent, model) however many rows.
 * Workflow steps roll up through it too (their rows have the same columns).
 */
export const rollUpUsage = (outcome: 'succeeded' | 'failed') => `
  usage AS (
    ${rollupUpsert(
      'usage_daily',
      ['tenant_id', 'day', 'agent_id', 'model', 'shard'],
      ['executions', 'succeeded', 'failed', 'cached', 'input_tokens', 'output_tokens', 'cost_usd'],
      `SELECT tenant_id, (completed_at AT TIME ZONE 'UTC')::date, agent_id, COALESCE(model_used, model), ${rollupShard},
           count(*),
           ${outcome === 'succeeded' ? 'count(*)' : '0'}, ${outcome === 'failed' ? 'count(*)' : '0'},
           count(*) FILTER (WHERE cached), COALESCE(sum(input_tokens), 0), COALESCE(sum(output_tokens), 0),
           COALESCE(sum(cost_usd), 0)
      FROM done
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 2, 3, 4`,
    )}
  )`;

/**
 * Executions. Each state change is one conditional statement, so a redelivered message,
 * a cancellation racing a worker, or two workers on one message resolve in Postgres:
 * the statement that does not match changes nothing.
 */
export class ExecutionRepository implements ExecutionStore, ExecutionAttemptStore, ExecutionRedrive {
  /**
   * Accepts that arrive together (concurrent requests in one process) share one INSERT. One
   * under an Idempotency-Key that an earlier request already used is not inserted: the
   * earlier execution comes back (`existing`), whatever crashed between its commit and now.
   */
  readonly insertOrFind: (execution: NewExecution) => Promise<KeyedInsert<Execution>> = sharedStatement(
    (executions) => this.insertMany(executions),
    insertBatchLimit,
  );

  constructor(private readonly db: Queryable) {}

  /** Inserts an execution; under a key already used, answers the earlier one. */
  async insert(execution: NewExecution): Promise<Execution> {
    return (await this.insertOrFind(execution)).row;
  }

  private async insertMany(
    executions: readonly NewExecution[],
  ): Promise<(KeyedInsert<Execution> | undefined)[]> {
    const column = <T>(pick: (execution: NewExecution) => T) => executions.map(pick);
    // Without keys (the common case) the statement is the plain INSERT: no arbiter index to check.
    const keyed = executions.some((e) => e.idempotency);
    const values = [
      column((e) => e.id),
      column((e) => e.tenantId),
      column((e) => e.agentId),
      column((e) => JSON.stringify(e.input)),
      column((e) => (e.metadata === null ? null : JSON.stringify(e.metadata))),
      column((e) => e.model),
      column((e) => e.systemPrompt),
      column((e) => JSON.stringify(e.configuration)),
      column((e) => e.queuedAt),
      ...(keyed
        ? [column((e) => e.idempotency?.key ?? null), column((e) => e.idempotency?.requestHash ?? null)]
        : []),
    ];
    const audit = auditInserted('inserted', 'queued_at', values.length + 1, executions);
    const rows = await this.db.query<ExecutionRow>(
      `WITH inserted AS (
       INSERT INTO executions (id, tenant_id, agent_id, status, input, metadata, model, system_prompt,
                               configuration, queued_at, updated_at${keyed ? ', idempotency_key, request_hash' : ''})
       SELECT id, tenant_id, agent_id, 'queued', input, metadata, model, system_prompt, configuration,
              queued_at, queued_at${keyed ? ', idempotency_key, request_hash' : ''}
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::jsonb[], $5::jsonb[], $6::text[], $7::text[],
                     $8::jsonb[], $9::timestamptz[]${keyed ? ', $10::text[], $11::text[]' : ''})
              AS t (id, tenant_id, agent_id, input, metadata, model, system_prompt, configuration, queued_at${
                keyed ? ', idempotency_key, request_hash' : ''
              })
       ${keyed ? `ON CONFLICT (tenant_id, agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING` : ''}
       RETURNING ${resourceColumns}
       )${audit.cte}
       SELECT * FROM inserted`,
      [...values, ...audit.values],
    );
    return keyedInsertResults(this.db, keyedExecutions, executions, rows, (e) => e.agentId);
  }

  /** The execution an Idempotency-Key started on this agent, if any. */
  findByKey(tenantId: string, agentId: string, key: string): Promise<KeyedInsert<Execution> | undefined> {
    return findByKey(this.db, keyedExecutions, { tenantId, scopeId: agentId, key });
  }

  async findById(tenantId: string, id: string): Promise<Execution | null> {
    const rows = await this.db.query<ExecutionRow>(
      `SELECT ${qualified('e', resourceColumns)}, ${latestRetrieval('e.id::text')} AS retrieval
         FROM executions e WHERE e.tenant_id = $1 AND e.id = $2`,
      [tenantId, id],
    );
    return rows[0] ? toExecution(rows[0]) : null;
  }

  async page(query: ExecutionPageQuery): Promise<Execution[]> {
    return readPage(
      this.db,
      {
        table: 'executions',
        columns: resourceColumns,
        filters: { tenant_id: query.tenantId, agent_id: query.agentId, status: query.status },
        timeColumn: 'queued_at',
        limit: query.limit,
        after: query.after,
      },
      toExecution,
    );
  }

  /**
   * Starts attempts: on queued executions, or running ones whose lease ran out (their
   * worker died). Anything else is left alone, so a redelivered message never runs a
   * finished execution. One statement for a whole SQS batch.
   */
  async claimMany(
    keys: readonly { tenantId: string; id: string }[],
    leaseSeconds: number,
  ): Promise<Map<string, { execution: Execution; hasWebhook: boolean }>> {
    if (keys.length === 0) return new Map();
    const rows = await this.db.query<ExecutionRow & { has_webhook: boolean }>(
      `UPDATE executions e SET status = 'running', attempts = e.attempts + 1,
              started_at = COALESCE(e.started_at, now()), lease_until = now() + make_interval(secs => $3),
              version = e.version + 1, updated_at = now()
         FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, id)
        WHERE e.tenant_id = k.tenant_id AND e.id = k.id
          AND (e.status = 'queued' OR (e.status = 'running' AND e.lease_until < now()))
        RETURNING ${qualified('e', workerColumns)},
                  (SELECT a.webhook_url IS NOT NULL FROM agents a WHERE a.id = e.agent_id) AS has_webhook`,
      [keys.map((k) => k.tenantId), keys.map((k) => k.id), leaseSeconds],
    );
    return new Map(rows.map((row) => [row.id, { execution: toExecution(row), hasWebhook: row.has_webhook }]));
  }

  /**
   * Gives claimed executions back (queued, no lease) when their batch failed before
   * recording anything: the redelivered message claims them at once instead of waiting
   * for the lease. Only attempts that still own their execution.
   */
  async release(claims: readonly { id: string; attempt: number }[]): Promise<void> {
    if (claims.length === 0) return;
    await this.db.query(
      `UPDATE executions e SET status = 'queued', lease_until = NULL, version = e.version + 1, updated_at = now()
         FROM unnest($1::uuid[], $2::int[]) AS k(id, attempt)
        WHERE e.id = k.id AND e.status = 'running' AND e.attempts = k.attempt`,
      [claims.map((c) => c.id), claims.map((c) => c.attempt)],
    );
  }

  /** Why an execution could not be claimed (the rare path: redelivery, races, retention). */
  async claimRefusal(tenantId: string, id: string): Promise<ClaimRefusal> {
    const current = await this.db.query<{
      status: ExecutionStatus;
      announced: boolean;
      seconds_left: number;
    }>(
      `SELECT status, notified_at IS NOT NULL AS announced,
              GREATEST(0, EXTRACT(EPOCH FROM lease_until - now()))::float8 AS seconds_left
         FROM executions WHERE tenant_id = $1 AND id = $2`,
      [tenantId, id],
    );
    const found = current[0];
    if (!found) return { kind: 'missing' };
    if (found.status === 'running' || found.status === 'queued') {
      return { kind: 'leased', secondsLeft: found.seconds_left ?? 0 };
    }
    return { kind: 'finished', status: found.status, announced: found.announced };
  }

  /**
   * Records answers, each only if its attempt still owns the execution (not cancelled or
   * re-claimed meanwhile), and rolls usage up, in one statement for a whole batch.
   * `silentUnderMs`: with no webhook to call, a run shorter than this has no completion
   * event to send, so it is marked announced in the same statement.
   */
  async succeedMany(
    answers: readonly { id: string; attempt: number; call: CompletedCall; silentUnderMs: number | null }[],
  ): Promise<Map<string, Execution & { announced: boolean }>> {
    if (answers.length === 0) return new Map();
    const rows = await this.db.query<ExecutionRow & { announced: boolean }>(
      `WITH answer AS (
         SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[],
                              $8::numeric[], $9::boolean[], $10::int[])
           AS a(id, attempt, output, provider, model_used, input_tokens, output_tokens, cost_usd, cached, silent_ms)
       ), done AS (
         UPDATE executions e SET status = 'succeeded', output = a.output, provider = a.provider,
                model_used = a.model_used, input_tokens = a.input_tokens, output_tokens = a.output_tokens,
                cost_usd = a.cost_usd, cached = a.cached, error = NULL, completed_at = now(), lease_until = NULL,
                version = e.version + 1, updated_at = now(),
                notified_at = CASE
                  WHEN a.silent_ms IS NOT NULL AND now() - e.started_at < make_interval(secs => a.silent_ms / 1000.0)
                  THEN now() END
           FROM answer a
          WHERE e.id = a.id AND e.status = 'running' AND e.attempts = a.attempt
          RETURNING ${qualified('e', resourceColumns)}, e.notified_at IS NOT NULL AS announced
       ), ${rollUpUsage('succeeded')}
       SELECT * FROM done`,
      [
        answers.map((a) => a.id),
        answers.map((a) => a.attempt),
        ...callColumns(answers.map((a) => a.call)),
        answers.map((a) => a.silentUnderMs),
      ],
    );
    return new Map(rows.map((row) => [row.id, { ...toExecution(row), announced: row.announced }]));
  }

  /** Fails the execution for good: a non-retryable error, or the last attempt spent. */
  async fail(id: string, error: ExecutionError, attempt?: number): Promise<Execution | null> {
    const rows = await this.db.query<ExecutionRow>(
      `WITH done AS (
         UPDATE executions SET status = 'failed', error = $2::jsonb, completed_at = now(), lease_until = NULL,
                version = version + 1, updated_at = now()
          WHERE id = $1 AND status IN ('queued', 'running') AND ($3::int IS NULL OR attempts = $3)
          RETURNING ${resourceColumns}
       ), ${rollUpUsage('failed')}
       SELECT * FROM done`,
      [id, JSON.stringify(error), attempt ?? null],
    );
    return rows[0] ? toExecution(rows[0]) : null;
  }

  /** Back to queued after a retryable failure; the message comes back after its backoff. */
  async requeue(id: string, attempt: number, error: ExecutionError): Promise<boolean> {
    const rows = await this.db.query<{ id: string }>(
      `UPDATE executions SET status = 'queued', error = $3::jsonb, lease_until = NULL,
              version = version + 1, updated_at = now()
        WHERE id = $1 AND status = 'running' AND attempts = $2
        RETURNING id`,
      [id, attempt, JSON.stringify(error)],
    );
    return rows.length > 0;
  }

  async cancel(tenantId: string, id: string): Promise<Execution | 'finished' | null> {
    const rows = await this.db.query<ExecutionRow>(
      `UPDATE executions SET status = 'cancelled', completed_at = now(), lease_until = NULL,
              version = version + 1, updated_at = now()
        WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')
        RETURNING ${resourceColumns}`,
      [tenantId, id],
    );
    if (rows[0]) return toExecution(rows[0]);
    const exists = await this.db.query<{ exists: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM executions WHERE tenant_id = $1 AND id = $2) AS exists',
      [tenantId, id],
    );
    return exists[0]?.exists ? 'finished' : null;
  }

  /** A finished execution with its agent's webhook, for delivery; null when the agent has none now. */
  async webhookTarget(
    tenantId: string,
    id: string,
  ): Promise<{ execution: Execution; url: string; secret: string } | null> {
    const rows = await this.db.query<
      ExecutionRow & { webhook_url: string | null; webhook_secret: string | null }
    >(
      `SELECT ${qualified('e', resourceColumns)}, ${latestRetrieval('e.id::text')} AS retrieval,
              a.webhook_url, a.webhook_secret
         FROM executions e JOIN agents a ON a.id = e.agent_id
        WHERE e.tenant_id = $1 AND e.id = $2`,
      [tenantId, id],
    );
    const row = rows[0];
    if (!row?.webhook_url || !row.webhook_secret) return null;
    return { execution: toExecution(row), url: row.webhook_url, secret: row.webhook_secret };
  }

  async statusOf(tenantId: string, id: string): Promise<ExecutionStatus | null> {
    const rows = await this.db.query<{ status: ExecutionStatus }>(
      'SELECT status FROM executions WHERE tenant_id = $1 AND id = $2',
      [tenantId, id],
    );
    return rows[0]?.status ?? null;
  }

  async agentHasWebhook(agentId: string): Promise<boolean> {
    const rows = await this.db.query<{ has: boolean }>(
      'SELECT webhook_url IS NOT NULL AS has FROM agents WHERE id = $1',
      [agentId],
    );
    return rows[0]?.has ?? false;
  }

  async markAnnounced(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query('UPDATE executions SET notified_at = now() WHERE id = ANY($1::uuid[])', [ids]);
  }

  /**
   * Unfinished executions nobody is working on: queued past `staleSeconds` (an enqueue
   * that was lost) or running past their lease (a worker that died: recovered as soon as
   * the lease ends, not `staleSeconds` later). Touching them
   * keeps the next sweep from picking them again before the re-sent message is handled.
   */
  async takeStuck(
    staleSeconds: number,
    limit: number,
  ): Promise<{ id: string; tenantId: string; attempts: number }[]> {
    const rows = await this.db.query<{ id: string; tenant_id: string; attempts: number }>(
      takeStuckExecutions,
      [staleSeconds, limit],
    );
    return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id, attempts: r.attempts }));
  }

  /** Finished executions whose completion events never reached the queue. */
  async takeUnannounced(staleSeconds: number, limit: number): Promise<{ id: string; tenantId: string }[]> {
    const rows = await this.db.query<{ id: string; tenant_id: string }>(
      `SELECT id, tenant_id FROM executions
        WHERE notified_at IS NULL AND completed_at IS NOT NULL AND completed_at < now() - make_interval(secs => $1)
        ORDER BY completed_at LIMIT $2`,
      [staleSeconds, limit],
    );
    return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id }));
  }

  /** Operator redrive: the executions of messages moved back from a DLQ run again. */
  async redrive(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.query<{ id: string }>(
      `UPDATE executions SET status = 'queued', error = NULL, completed_at = NULL, lease_until = NULL,
              notified_at = NULL, version = version + 1, updated_at = now()
        WHERE id = ANY($1::uuid[]) AND status IN ('failed', 'queued', 'running')
        RETURNING id`,
      [ids],
    );
    return rows.map((r) => r.id);
  }
}
