import type { Agent, AgentSummary, CreateAgentBody, UpdateAgentBody } from '#domain/agent.ts';
import { conflict, notFound, preconditionFailed, validationFailed } from '#domain/errors.ts';
import { configurationErrors } from '#domain/execution.ts';
import { isUuid, newId } from '#domain/ids.ts';
import { replayOrRefuse } from './idempotency.ts';
import type { AgentPageQuery, AgentPatch, AgentStore, RowIdempotency, VersionedCache } from './ports.ts';
import { newWebhook, type Page, pageOf, readThrough, settled, toCached, webhookChange } from './resources.ts';

/** The configuration keys the platform reads, checked before anything is written (422). */
const checkConfiguration = (configuration: Readonly<Record<string, unknown>> | undefined): void => {
  const errors = configuration ? configurationErrors(configuration) : [];
  if (errors.length > 0) throw validationFailed(errors);
};

/** An agent just written, with the webhook secret when this write set one: shown this once. */
export interface AgentWrite {
  readonly agent: Agent;
  readonly webhookSecret?: string;
}

export const agentCacheKey = (tenantId: string, id: string): string => `agent:${tenantId}:${id}`;

export type AgentPage = Page<AgentSummary>;

/**
 * Agent use cases. Every read and write is scoped by tenant; every write stores the new
 * version in the cache, so no reader anywhere needs to guess which keys to drop.
 */
export class AgentService {
  constructor(
    private readonly repository: AgentStore,
    private readonly cache: VersionedCache,
  ) {}

  /**
   * Under an Idempotency-Key the agent an earlier request created with the same body comes
   * back (`replayed`; 422 for another body), with its webhook secret if it has not changed since.
   */
  async create(
    tenantId: string,
    body: CreateAgentBody,
    idempotency?: RowIdempotency,
  ): Promise<AgentWrite & { readonly replayed: boolean }> {
    checkConfiguration(body.configuration);
    const webhook = body.webhook_url ? newWebhook(body.webhook_url) : null;
    const now = new Date();
    const inserted = await this.repository.insertOrFind(
      {
        id: newId(),
        tenantId,
        name: body.name,
        model: body.model,
        systemPrompt: body.system_prompt,
        configuration: body.configuration ?? {},
        status: 'active',
        webhookUrl: webhook?.url ?? null,
        version: 1,
        createdAt: now,
        updatedAt: now,
      },
      webhook?.secret ?? null,
      idempotency,
    );
    const {
      row: { webhookSecret, ...agent },
      replayed,
    } = replayOrRefuse(inserted, idempotency);
    if (!replayed) await this.remember(agent);
    // A replay shows the secret the first answer showed, unless a later write changed the agent.
    const shown = replayed && agent.version !== 1 ? null : webhookSecret;
    return shown ? { agent, webhookSecret: shown, replayed } : { agent, replayed };
  }

  async get(tenantId: string, id: string): Promise<Agent> {
    // Not a UUID: no row can match, and Postgres would reject the cast.
    if (!isUuid(id)) throw notFound('agent');
    return readThrough(
      this.cache,
      agentCacheKey(tenantId, id),
      () => this.repository.findById(tenantId, id),
      'agent',
    );
  }

  async update(
    tenantId: string,
    id: string,
    body: UpdateAgentBody,
    expectedVersions: readonly number[] | undefined,
  ): Promise<AgentWrite> {
    if (!isUuid(id)) throw notFound('agent');
    checkConfiguration(body.configuration);
    const webhook = webhookChange(body.webhook_url);
    const patch: AgentPatch = {
      ...(body.name !== undefined && { name: body.name }),
      ...(body.model !== undefined && { model: body.model }),
      ...(body.system_prompt !== undefined && { systemPrompt: body.system_prompt }),
      ...(body.configuration !== undefined && { configuration: body.configuration }),
      ...(body.status !== undefined && { status: body.status }),
      ...(webhook !== undefined && { webhook }),
    };
    if (Object.keys(patch).length === 0) {
      // Nothing to change: no new version, but the precondition still holds or fails.
      const current = await this.get(tenantId, id);
      if (expectedVersions && !expectedVersions.includes(current.version)) throw preconditionFailed();
      return { agent: current };
    }
    const { agent: written } = settled(
      await this.repository.update(tenantId, id, patch, expectedVersions),
      'agent',
    );
    await this.remember(written);
    return webhook ? { agent: written, webhookSecret: webhook.secret } : { agent: written };
  }

  async delete(tenantId: string, id: string, expectedVersions: readonly number[] | undefined): Promise<void> {
    if (!isUuid(id)) throw notFound('agent');
    const result = await this.repository.softDelete(tenantId, id, expectedVersions);
    if (result.kind === 'in-use') {
      const names = result.workflows.map((w) => `"${w.name}" (${w.id})`).join(', ');
      throw conflict(
        `The agent is used by the current version of these workflows: ${names}. Change or delete them first.`,
      );
    }
    const { agent: deleted } = settled(result, 'agent');
    await this.cache.put(agentCacheKey(tenantId, id), deleted.version, null);
  }

  async list(query: AgentPageQuery): Promise<AgentPage> {
    return pageOf(
      query,
      (q) => this.repository.page(q),
      (a) => a.createdAt && { createdAt: a.createdAt, id: a.id },
    );
  }

  private remember(agent: Agent): Promise<void> {
    return this.cache.put(agentCacheKey(agent.tenantId, agent.id), agent.version, toCached(agent));
  }
}
