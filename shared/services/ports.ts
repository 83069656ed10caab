import type { Agent, AgentListField, AgentStatus, AgentSummary } from '#domain/agent.ts';
import type { ChunkingSettings } from '#domain/chunking.ts';
import type { KeysetPosition } from '#domain/cursor.ts';
import type { EmbeddingModel } from '#domain/embedding.ts';
import type { Execution, ExecutionError, ExecutionStatus, RunRequest } from '#domain/execution.ts';
import type { JobEnvelope } from '#domain/jobs.ts';
import type {
  DocumentStatus,
  KnowledgeBase,
  KnowledgeBaseSummary,
  KnowledgeContentType,
  KnowledgeDocument,
  KnowledgeUse,
  Retrieval,
  SearchFilters,
  SearchMode,
  SearchResult,
} from '#domain/knowledge.ts';
import type { PurgedTable } from '#domain/retention.ts';
import type {
  StepDefinition,
  StepFailureMode,
  StepRun,
  Workflow,
  WorkflowRun,
  WorkflowRunStatus,
  WorkflowStats,
  WorkflowSummary,
  WorkflowWithSteps,
} from '#domain/workflow.ts';

/**
 * Ports the services declare and the adapters implement: a service names what it needs (only
 * the operations it calls), not which adapter provides it. The PostgreSQL repositories
 * implement the stores, the SQS adapter the job queue; the two-tier cache has the cache's shape.
 * The composition root (container.ts, workers.ts) is where the adapters are chosen.
 */

// ---------------------------------------------------------------------------------------
// Queues and cache.

export interface EnqueueOptions {
  /** Not visible to consumers before this (SQS caps it at 900 s). */
  readonly delaySeconds?: number;
}

/** What services need of the queues: put jobs on them, each on the queue its type is declared on. */
export interface JobQueue {
  enqueue(job: JobEnvelope, options?: EnqueueOptions): Promise<void>;
}

/** What a loader finds: the value with its version, or null (none; remembered as a miss). */
export type CacheLoader<T> = () => Promise<{ version: number; value: T } | null>;

/** A cache of versioned values: a newer version is never overwritten by an older one. */
export interface VersionedCache {
  /** The cached value, or what `load` finds (then cached); null for none. */
  get<T>(key: string, load: CacheLoader<T>): Promise<T | null>;
  /** Stores a version of the value (null: gone). */
  put<T>(key: string, version: number, value: T | null, ttlSeconds?: number): Promise<void>;
  /** The cached value, if any, without loading. */
  peek<T>(key: string): Promise<T | undefined>;
}

// ---------------------------------------------------------------------------------------
// Creations under an Idempotency-Key.

/**
 * An `Idempotency-Key` stored with the row a creating request wrote (migration 0006), unique
 * per tenant and scope: the durable tier behind the DynamoDB records.
 */
export interface RowIdempotency {
  readonly key: string;
  /** SHA-256 of the request body as canonical JSON: the same key with another body is refused. */
  readonly requestHash: string;
}

/** The row an earlier request created under a key, with the hash of that request's body. */
export interface EarlierInsert<T> {
  readonly kind: 'existing';
  readonly row: T;
  readonly requestHash: string | null;
}

/** What an insert under a key did: wrote the row, or found the one an earlier request wrote. */
export type KeyedInsert<T> = { readonly kind: 'created'; readonly row: T } | EarlierInsert<T>;

/** A page of a tenant's resources, newest first, after a keyset position (one row more than a page tells whether there is a next). */
export interface PageQuery {
  readonly tenantId: string;
  readonly limit: number;
  readonly after?: KeysetPosition;
}

/** A write conditional on the row (not deleted) and, under If-Match, on its version. */
export type ConditionalWrite<Done> = ({ kind: 'done' } & Done) | { kind: 'not-found' } | { kind: 'stale' };

// ---------------------------------------------------------------------------------------
// Agents (AgentService).

export interface AgentPageQuery extends PageQuery {
  readonly fields: ReadonlySet<AgentListField>;
  readonly status?: AgentStatus;
}

export interface AgentPatch {
  readonly name?: string;
  readonly model?: string;
  readonly systemPrompt?: string;
  readonly configuration?: Record<string, unknown>;
  readonly status?: AgentStatus;
  /** A new webhook with its new secret, or null to remove it. */
  readonly webhook?: { readonly url: string; readonly secret: string } | null;
}

/** An agent as its creation wrote it, with the webhook secret it set (a replay shows it again). */
export type CreatedAgent = Agent & { webhookSecret: string | null };

export interface AgentStore {
  /** Inserts an agent; under an Idempotency-Key already used, answers that request's agent. */
  insertOrFind(
    agent: Agent,
    webhookSecret: string | null,
    idempotency?: RowIdempotency,
  ): Promise<KeyedInsert<CreatedAgent>>;
  findById(tenantId: string, id: string): Promise<Agent | null>;
  update(
    tenantId: string,
    id: string,
    patch: AgentPatch,
    expectedVersions: readonly number[] | undefined,
  ): Promise<ConditionalWrite<{ agent: Agent }>>;
  /** Refused while the current version of a live workflow runs the agent. */
  softDelete(
    tenantId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<
    ConditionalWrite<{ agent: Agent }> | { kind: 'in-use'; workflows: { id: string; name: string }[] }
  >;
  page(query: AgentPageQuery): Promise<AgentSummary[]>;
}

// ---------------------------------------------------------------------------------------
// Starts (an agent execution, a workflow run): what the request brings besides its body.

/** What a request did, as the audit trail names it: `agent.created` on an `agent`. */
export interface AuditAction {
  readonly action: string;
  readonly resourceType: string;
}

/** Who did what, under which request: an audit record, written with the row it is about. */
export interface AuditStamp extends AuditAction {
  readonly id: string;
  readonly keyId: string;
  readonly requestId: string;
}

export interface StartContext {
  readonly trace?: string | undefined;
  /** The request's Idempotency-Key: one start per (tenant, parent, key). */
  readonly idempotency?: RowIdempotency | undefined;
  /** Written by the start's own statement, only when it inserts (a replay is not audited again). */
  readonly audit?: AuditStamp | undefined;
}

// ---------------------------------------------------------------------------------------
// Agent executions (ExecutionService, the execution attempts, the dead-letter redrive).

export interface NewExecution extends RunRequest {
  readonly agentId: string;
  readonly model: string;
  readonly systemPrompt: string;
  readonly configuration: Record<string, unknown>;
  readonly queuedAt: Date;
  /** The request's Idempotency-Key: one execution per (tenant, agent, key). */
  readonly idempotency?: RowIdempotency;
  readonly audit?: AuditStamp;
}

/** A model's answer as recorded, with what it cost. */
export interface CompletedCall {
  readonly output: string;
  readonly provider: string;
  readonly modelUsed: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
  readonly cached: boolean;
}

/** Why a claim did not start an attempt. */
export type ClaimRefusal =
  | { kind: 'missing' }
  | { kind: 'finished'; status: ExecutionStatus; announced: boolean }
  /** Held by an attempt whose lease has this long to run (0: queued, or the lease just ran out). */
  | { kind: 'leased'; secondsLeft: number };

export interface ExecutionPageQuery extends PageQuery {
  readonly agentId: string;
  readonly status?: ExecutionStatus;
}

/** A cancellation: the cancelled resource, `finished` (too late), or null (no such resource). */
export type Cancellation<T> = T | 'finished' | null;

export interface ExecutionStore {
  /** Inserts an execution; under an Idempotency-Key already used, answers the earlier one. */
  insertOrFind(execution: NewExecution): Promise<KeyedInsert<Execution>>;
  findByKey(tenantId: string, agentId: string, key: string): Promise<KeyedInsert<Execution> | undefined>;
  findById(tenantId: string, id: string): Promise<Execution | null>;
  page(query: ExecutionPageQuery): Promise<Execution[]>;
  cancel(tenantId: string, id: string): Promise<Cancellation<Execution>>;
}

/** What the attempts of agent executions need: claims, completions, the sweeper's takes. */
export interface ExecutionAttemptStore {
  findById(tenantId: string, id: string): Promise<Execution | null>;
  claimMany(
    keys: readonly { tenantId: string; id: string }[],
    leaseSeconds: number,
  ): Promise<Map<string, { execution: Execution; hasWebhook: boolean }>>;
  claimRefusal(tenantId: string, id: string): Promise<ClaimRefusal>;
  release(claims: readonly { id: string; attempt: number }[]): Promise<void>;
  /**
   * Records answers that still own their execution; `silentUnderMs`: with no webhook to
   * call, a run shorter than this is marked announced in the same statement.
   */
  succeedMany(
    answers: readonly { id: string; attempt: number; call: CompletedCall; silentUnderMs: number | null }[],
  ): Promise<Map<string, Execution & { announced: boolean }>>;
  fail(id: string, error: ExecutionError, attempt?: number): Promise<Execution | null>;
  requeue(id: string, attempt: number, error: ExecutionError): Promise<boolean>;
  statusOf(tenantId: string, id: string): Promise<ExecutionStatus | null>;
  agentHasWebhook(agentId: string): Promise<boolean>;
  markAnnounced(ids: readonly string[]): Promise<void>;
  takeStuck(
    staleSeconds: number,
    limit: number,
  ): Promise<{ id: string; tenantId: string; attempts: number }[]>;
  takeUnannounced(staleSeconds: number, limit: number): Promise<{ id: string; tenantId: string }[]>;
}

/** What the dead-letter redrive needs: the executions of the moved messages queued again. */
export interface ExecutionRedrive {
  /** The ids requeued. */
  redrive(ids: readonly string[]): Promise<string[]>;
}

// ---------------------------------------------------------------------------------------
// Workflows (WorkflowService).

export interface WorkflowPatch {
  readonly name?: string;
  readonly description?: string | null;
  readonly onStepFailure?: StepFailureMode;
  readonly webhook?: { url: string; secret: string } | null;
  readonly steps?: readonly StepDefinition[];
}

export type WorkflowWrite =
  | ConditionalWrite<{ workflow: WorkflowWithSteps }>
  | { kind: 'missing-agents'; agentIds: string[] };

/** A workflow as its creation wrote it, with the webhook secret it set (a replay shows it again). */
export interface CreatedWorkflow {
  readonly workflow: WorkflowWithSteps;
  readonly webhookSecret: string | null;
}

export interface WorkflowPageQuery extends PageQuery {
  /** A case-insensitive prefix of the name. */
  readonly q?: string;
}

export interface WorkflowStore {
  /** A workflow with its first version's steps; under a key already used, the earlier one. */
  insert(
    workflow: Omit<Workflow, 'version' | 'stepCount'>,
    steps: readonly StepDefinition[],
    webhookSecret: string | null,
    idempotency?: RowIdempotency,
  ): Promise<WorkflowWrite | EarlierInsert<CreatedWorkflow>>;
  findByKey(tenantId: string, key: string): Promise<EarlierInsert<CreatedWorkflow> | undefined>;
  findById(tenantId: string, id: string): Promise<Workflow | null>;
  findWithSteps(tenantId: string, id: string): Promise<WorkflowWithSteps | null>;
  stepsOfVersion(workflowId: string, version: number): Promise<StepDefinition[]>;
  update(
    tenantId: string,
    id: string,
    patch: WorkflowPatch,
    expectedVersions: readonly number[] | undefined,
  ): Promise<WorkflowWrite>;
  softDelete(
    tenantId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<ConditionalWrite<{ version: number }>>;
  page(query: WorkflowPageQuery): Promise<WorkflowSummary[]>;
  stats(tenantId: string, workflowId?: string): Promise<WorkflowStats[]>;
}

// ---------------------------------------------------------------------------------------
// Workflow runs (WorkflowService, the step attempts).

export interface NewRun extends RunRequest {
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly onStepFailure: StepFailureMode;
  readonly steps: readonly StepDefinition[];
  readonly createdAt: Date;
  /** The request's Idempotency-Key: one run per (tenant, workflow, key). */
  readonly idempotency?: RowIdempotency;
  readonly audit?: AuditStamp;
}

export interface RunPageQuery extends PageQuery {
  readonly workflowId: string;
  readonly status?: WorkflowRunStatus;
}

export interface WorkflowRunStore {
  /** A run and all its steps; under an Idempotency-Key already used, answers the earlier run. */
  createOrFind(run: NewRun): Promise<KeyedInsert<WorkflowRun>>;
  findByKey(tenantId: string, workflowId: string, key: string): Promise<KeyedInsert<WorkflowRun> | undefined>;
  findById(tenantId: string, id: string): Promise<{ run: WorkflowRun; steps: StepRun[] | undefined } | null>;
  findStep(tenantId: string, runId: string, key: string): Promise<StepRun | null>;
  page(query: RunPageQuery): Promise<WorkflowRun[]>;
  cancel(tenantId: string, id: string): Promise<Cancellation<WorkflowRun>>;
}

/** A run that finished, with what its announcement needs. */
export type FinishedRun = WorkflowRun & { hasWebhook: boolean; announced: boolean };

/** A step of a run: what its job names. */
export interface StepKey {
  readonly executionId: string;
  readonly key: string;
  readonly tenantId: string;
}

/** A step attempt the claim started, with what running it needs. */
export interface ClaimedStep {
  readonly executionId: string;
  readonly key: string;
  readonly attempt: number;
  readonly agentId: string;
  readonly tenantId: string;
  readonly workflowId: string;
  readonly workflowVersion: number;
  readonly onStepFailure: StepFailureMode;
  readonly input: string | Record<string, unknown>;
  /** Outputs of the finished steps its template reads, by key. */
  readonly outputs: Readonly<Record<string, string | null>>;
}

export interface StepAnswer {
  readonly executionId: string;
  readonly key: string;
  readonly attempt: number;
  readonly renderedInput: string;
  readonly model: string;
  readonly call: CompletedCall;
  /** Steps that depend on this one (from the pinned definition). */
  readonly dependents: readonly string[];
}

/** A step attempt: which step, and which of its attempts. */
type StepAttempt = { executionId: string; key: string; attempt: number };

/** What the attempts of workflow steps need: claims, completions, the sweeper's takes. */
export interface StepAttemptStore {
  /** Claimed steps by step id (`stepId`). */
  claim(
    keys: readonly { executionId: string; key: string }[],
    leaseSeconds: number,
  ): Promise<Map<string, ClaimedStep>>;
  /** Seconds left on the live leases of steps that could not be claimed, by step id. */
  leaseSecondsLeft(keys: readonly { executionId: string; key: string }[]): Promise<Map<string, number>>;
  /** Records answers that still own their step: the steps done (by id), those released, the runs finished. */
  complete(
    answers: readonly StepAnswer[],
  ): Promise<{ done: Set<string>; released: StepKey[]; finished: FinishedRun[] }>;
  release(steps: readonly StepAttempt[]): Promise<void>;
  /** Queued again, due after the backoff; false if the attempt no longer owns the step. */
  retry(step: StepAttempt, error: ExecutionError, delaySeconds: number): Promise<boolean>;
  fail(
    step: { executionId: string; key: string; attempt?: number },
    error: ExecutionError,
    mode: StepFailureMode,
    downstream: readonly string[],
  ): Promise<{ failed: boolean; finished: FinishedRun[] }>;
  statusOf(runId: string): Promise<WorkflowRunStatus | null>;
  markAnnounced(ids: readonly string[]): Promise<void>;
  takeStuckSteps(staleSeconds: number, limit: number): Promise<StepKey[]>;
  takeUnannounced(staleSeconds: number, limit: number): Promise<FinishedRun[]>;
}

// ---------------------------------------------------------------------------------------
// Retention (runRetention).

/** Where a table's keyset resumes: the key values of the last row of the previous batch. */
export type Keyset = readonly unknown[];

export interface BatchResult {
  /** Rows the batch deleted. */
  readonly deleted: number;
  /** Rows their deletion cascaded to (workflow step runs). */
  readonly cascaded: number;
  /** Where the next batch starts; undefined when this one found fewer rows than its limit: done. */
  readonly next: Keyset | undefined;
}

export interface CountResult {
  readonly rows: number;
  readonly cascaded: number;
}

/** Deleting what is past retention, table by table, in keyset batches. */
export interface RetentionStore {
  /** The keyset a table's first batch starts after. */
  start(table: PurgedTable): Keyset;
  /** Deletes up to `limit` rows of `table` older than `cutoff`, after `after`. */
  deleteBatch(table: PurgedTable, cutoff: Date, after: Keyset, limit: number): Promise<BatchResult>;
  /** What deleting everything older than `cutoff` would delete (a dry run). */
  count(table: PurgedTable, cutoff: Date): Promise<CountResult>;
}

// ---------------------------------------------------------------------------------------
// Knowledge.

/**
 * Vectors already computed, by tenant, model and the SHA-256 of the text they embed:
 * re-ingesting an unchanged chunk (or the same text in another document) costs no provider
 * call. Per tenant, as the response cache is: a hit must not tell one tenant that another has
 * embedded a text.
 */
export interface EmbeddingCache {
  /** The vectors held for these text hashes; a hash it does not hold is absent from the map. */
  getMany(tenantId: string, model: EmbeddingModel, hashes: readonly string[]): Promise<Map<string, number[]>>;
  putMany(
    tenantId: string,
    model: EmbeddingModel,
    entries: readonly { hash: string; vector: number[] }[],
  ): Promise<void>;
}

export interface KnowledgeBasePatch {
  readonly name?: string;
  readonly description?: string | null;
  readonly chunking?: ChunkingSettings;
}

export interface KnowledgeBaseStore {
  /**
   * Inserts a base. Its Idempotency-Key is held by the DynamoDB tier alone: knowledge_bases has
   * no key columns (migration 0006's row tier would need them).
   */
  insert(base: KnowledgeBase): Promise<KnowledgeBase>;
  findById(tenantId: string, id: string): Promise<KnowledgeBase | null>;
  update(
    tenantId: string,
    id: string,
    patch: KnowledgeBasePatch,
    expectedVersions: readonly number[] | undefined,
  ): Promise<ConditionalWrite<{ base: KnowledgeBase }>>;
  /** Marks it deleted (search and ingestion stop seeing it at once); retention removes the rows. */
  softDelete(
    tenantId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<ConditionalWrite<{ base: KnowledgeBase }>>;
  /** Live bases, newest first, each with its document count from the same statement. */
  page(query: PageQuery): Promise<KnowledgeBaseSummary[]>;
}

/** Where a document's bytes are: in its row (inline bodies) or in the upload store. */
export type DocumentSource =
  | { readonly kind: 'inline'; readonly bytes: Uint8Array }
  | { readonly kind: 'chunks'; readonly bytes: Uint8Array }
  | { readonly kind: 'upload'; readonly key: string };

/** What a post or an upload writes: the document's own fields, its source, the time. */
export interface NewDocument
  extends Pick<
    KnowledgeDocument,
    | 'id'
    | 'tenantId'
    | 'knowledgeBaseId'
    | 'externalId'
    | 'title'
    | 'description'
    | 'contentType'
    | 'tags'
    | 'metadata'
    | 'expiresAt'
  > {
  readonly source: DocumentSource;
  readonly sourceBytes: number | null;
  readonly now: Date;
}

export interface DocumentPageQuery extends PageQuery {
  readonly knowledgeBaseId: string;
  readonly status?: DocumentStatus;
  readonly contentType?: KnowledgeContentType;
  readonly tag?: string;
  readonly createdAfter?: Date;
  readonly createdBefore?: Date;
}

export interface DocumentPatch {
  readonly title?: string;
  readonly description?: string | null;
  readonly tags?: readonly string[];
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly expiresAt?: Date | null;
}

export interface BulkDocumentChange {
  readonly ids: readonly string[];
  readonly setStatus?: 'archived' | 'ready';
  readonly addTags?: readonly string[];
  readonly removeTags?: readonly string[];
}

export interface DocumentStore {
  /**
   * Inserts the document, or (same base, same external id) starts a new generation of the one
   * there, which search keeps showing until the new one is ready. `base-gone` when the base is
   * not the tenant's live base. One statement either way; the base's version moves with it.
   */
  upsert(document: NewDocument): Promise<
    | {
        readonly kind: 'created' | 'replaced';
        readonly document: KnowledgeDocument;
        /** The base as the statement left it (version bumped): the service caches it. */
        readonly base: KnowledgeBase;
      }
    | { readonly kind: 'base-gone' }
  >;
  findById(tenantId: string, knowledgeBaseId: string, id: string): Promise<KnowledgeDocument | null>;
  page(query: DocumentPageQuery): Promise<KnowledgeDocument[]>;
  /** With the base as the statement left it (version bumped), as every write below. */
  update(
    tenantId: string,
    knowledgeBaseId: string,
    id: string,
    patch: DocumentPatch,
    expectedVersions: readonly number[] | undefined,
  ): Promise<ConditionalWrite<{ document: KnowledgeDocument; base: KnowledgeBase }>>;
  /** Deletes it and its chunks; an ingestion in flight finds it gone and stops. */
  delete(
    tenantId: string,
    knowledgeBaseId: string,
    id: string,
    expectedVersions: readonly number[] | undefined,
  ): Promise<ConditionalWrite<{ document: KnowledgeDocument; base: KnowledgeBase }>>;
  /**
   * One statement for all of them; answers the ids it changed (others were not in the base, or
   * already as asked) and the base, whose version moved only if some changed (else null).
   */
  bulk(
    tenantId: string,
    knowledgeBaseId: string,
    change: BulkDocumentChange,
  ): Promise<{ readonly documentIds: readonly string[]; readonly base: KnowledgeBase | null }>;
}

/** What an ingestion works on: the document's generation, its base's settings, its source. */
export interface IngestionClaim {
  readonly tenantId: string;
  readonly documentId: string;
  readonly generation: number;
  readonly base: KnowledgeBase;
  readonly title: string;
  readonly contentType: KnowledgeContentType;
  readonly source: DocumentSource;
  /** Claims of this generation so far, this one included: the fencing token of its writes. */
  readonly attempts: number;
  /** Seconds the lease runs from each write: the claim's, renewed by every batch written. */
  readonly leaseSeconds: number;
  /** Chunks of this generation an earlier attempt already wrote: a retry resumes after them. */
  readonly chunksDone: number;
  /**
   * SHA-256 (hex) of the text of the last chunk written (ordinal chunksDone - 1), null when
   * none: a retry resumes only if its chunking reproduces that chunk (else it starts over).
   */
  readonly lastChunkSha256: string | null;
}

export interface NewChunk {
  readonly id: string;
  readonly ordinal: number;
  readonly heading: string | null;
  readonly text: string;
  readonly tokens: number;
  readonly embedding: readonly number[];
}

export interface IngestionStore {
  /**
   * Takes the lease on a document's generation; null when there is nothing to do (the document
   * or its base is gone, a newer generation superseded it, it is finished, or another live
   * lease holds it).
   */
  claim(
    tenantId: string,
    documentId: string,
    generation: number,
    leaseSeconds: number,
  ): Promise<IngestionClaim | null>;
  /**
   * Writes a batch of chunks in one statement (a chunk of the same ordinal already there is
   * replaced) with the progress, and renews the lease; false when the claim is void.
   */
  writeChunks(claim: IngestionClaim, chunks: readonly NewChunk[], chunksTotal: number): Promise<boolean>;
  /**
   * Makes the generation searchable and drops older generations' chunks, in one transaction,
   * bumping the base's version; answers the base as it left it (for the cache), or null when
   * the claim is void (nothing changes then).
   */
  finish(claim: IngestionClaim, chunkCount: number): Promise<KnowledgeBase | null>;
  /** Marks the generation failed with a reason and drops its chunks; the older generation stays searchable. */
  fail(claim: IngestionClaim, reason: string): Promise<void>;
  /** Gives the lease up (a retry or a continuation claims it again at once). */
  release(claim: IngestionClaim): Promise<void>;
  /**
   * Documents whose ingestion nobody is working on: the lease expired (a dead worker) or never
   * taken for `staleSeconds` (a lost message). Touched, so the next sweep leaves them alone for
   * `staleSeconds` while the message sent again is handled.
   */
  stalled(
    staleSeconds: number,
    limit: number,
  ): Promise<readonly { tenantId: string; documentId: string; generation: number }[]>;
}

export interface SearchRequest {
  readonly base: KnowledgeBase;
  readonly query: string;
  readonly mode: SearchMode;
  /** The query's embedding (semantic and hybrid). */
  readonly queryVector?: readonly number[];
  readonly filters: SearchFilters;
  readonly limit: number;
  readonly now: Date;
}

/** One statement per search: ranks, fusion, highlights and facets together. */
export interface KnowledgeSearchStore {
  search(request: SearchRequest): Promise<SearchResult>;
}

/** Where a client sends a file: a pre-signed POST (multipart/form-data, the fields then the file). */
export interface UploadTicket {
  readonly url: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly expiresAt: Date;
}

/**
 * Files too large for a request body (S3 in AWS, a folder of the data directory under
 * `npm start`). A file landing announces itself as a `knowledge.ingest` job (S3 → EventBridge →
 * the default queue; the local stand-in enqueues the same envelope).
 */
export interface UploadStore {
  /** A POST that accepts one file of this content type, 1 to `maxBytes` bytes, at `key`. */
  presign(
    key: string,
    contentType: string,
    maxBytes: number,
    expiresInSeconds: number,
  ): Promise<UploadTicket>;
  /** The file's bytes; null when nothing was uploaded at `key`. */
  read(key: string): Promise<Uint8Array | null>;
  delete(key: string): Promise<void>;
}

/** Passages for a model call from a tenant's knowledge bases (each base's search, fused). */
export interface Retriever {
  retrieve(tenantId: string, use: KnowledgeUse, query: string, signal?: AbortSignal): Promise<Retrieval>;
}

/** What a retrieval fed an attempt, kept for the execution or step's citations, timings and usage. */
export interface RetrievalLog {
  record(tenantId: string, unitId: string, attempt: number, retrieval: Retrieval): Promise<void>;
}
