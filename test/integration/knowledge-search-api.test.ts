import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashingEmbedding } from '#adapters/embeddings/local.ts';
import { database } from '#adapters/postgres/db.ts';
import { maxQueryCharacters } from '#domain/knowledge.ts';
import { globexKey, queriesOf, realServersEnv, type TestApi, useTestApi } from '../support/api.ts';
import { describeRealServers, pgvectorInstalled, realServersRequired } from '../support/real-servers.ts';

interface SearchBody {
  hits: {
    document_id: string;
    title: string;
    chunk_id: string;
    text: string;
    highlight: string;
    score: number;
    rank_keyword: number | null;
    rank_semantic: number | null;
  }[];
  facets: { content_type: Record<string, number>; tags: Record<string, number> };
  mode: string;
  cached: boolean;
  took_ms: number;
}

/**
 * POST /v1/knowledge-bases/{id}/search through the local gateway and functions/api/knowledge-search.ts,
 * against the runtime in this process (its answers checked against the OpenAPI document). The
 * base is created through the API; its documents and chunks are written with SQL, as ingestion
 * leaves them.
 */
const knowledgeSearchApiContract = (api: () => TestApi): void => {
  const search = (baseId: string, body: unknown, key?: string) =>
    api().call(`/v1/knowledge-bases/${baseId}/search`, { method: 'POST', json: body, ...(key && { key }) });

  const createBase = async (): Promise<{ id: string; dimensions: number }> => {
    const response = await api().call('/v1/knowledge-bases', {
      method: 'POST',
      json: { name: `search ${randomUUID()}` },
    });
    expect(response.status, await response.clone().text()).toBe(201);
    const base = (await response.json()) as { id: string; embedding_model: { dimensions: number } };
    return { id: base.id, dimensions: base.embedding_model.dimensions };
  };

  /** A ready document with its chunks (vectors from the local embedder), straight into the tables. */
  const addDocument = async (
    base: { id: string; dimensions: number },
    title: string,
    texts: string[],
    tags: string[] = [],
  ): Promise<string> => {
    const db = database();
    const id = randomUUID();
    await db.query(
      `INSERT INTO knowledge_documents (id, tenant_id, knowledge_base_id, title, content_type, tags, status,
                                        generation, searchable_generation, chunk_count, created_at, updated_at)
       SELECT $1, tenant_id, id, $3, 'text/markdown', $4, 'ready', 1, 1, $5, now(), now()
         FROM knowledge_bases WHERE id = $2`,
      [id, base.id, title, tags, texts.length],
    );
    for (const [ordinal, text] of texts.entries()) {
      await db.query(
        `INSERT INTO knowledge_chunks (id, tenant_id, knowledge_base_id, document_id, generation, ordinal, text,
                                       token_count, search_vector, dimensions, embedding)
         SELECT $1, tenant_id, knowledge_base_id, id, 1, $2, $3, 10,
                setweight(to_tsvector('english', title), 'A') || to_tsvector('english', $3), $4, $5::real[]
           FROM knowledge_documents WHERE id = $6`,
        [
          randomUUID(),
          ordinal,
          text,
          base.dimensions,
          `{${hashingEmbedding(text, base.dimensions).join(',')}}`,
          id,
        ],
      );
    }
    return id;
  };

  /** A base with two documents, read once so the base is in the cache as a search finds it. */
  const seededBase = async () => {
    const base = await createBase();
    const owls = await addDocument(
      base,
      'Owl field guide',
      ['Barn owls hunt at night, finding mice by their acute hearing alone.', 'Owls hoot to mark territory.'],
      ['birds'],
    );
    const kettle = await addDocument(
      base,
      'Kettle care',
      ['Descale the kettle with white vinegar.'],
      ['home'],
    );
    expect((await api().call(`/v1/knowledge-bases/${base.id}`)).status).toBe(200);
    return { base, owls, kettle };
  };

  it('answers hits, facets and the mode in one query; a repeat from the cache in none', async () => {
    const { base, owls } = await seededBase();
    const first = await search(base.id, { query: 'owls hunt', filters: { tags: ['birds'] } });
    expect(first.status, await first.clone().text()).toBe(200);
    expect(queriesOf(first)).toBe(1);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const body = (await first.json()) as SearchBody;
    expect(body).toMatchObject({
      mode: 'hybrid',
      cached: false,
      facets: { content_type: { 'text/markdown': 1 }, tags: { birds: 1 } },
    });
    expect(body.hits[0]).toMatchObject({
      document_id: owls,
      title: 'Owl field guide',
      text: 'Barn owls hunt at night, finding mice by their acute hearing alone.',
      highlight:
        'Barn <mark>owls</mark> <mark>hunt</mark> at night, finding mice by their acute hearing alone.',
      rank_keyword: 1,
      rank_semantic: 1,
    });

    const again = await search(base.id, { filters: { tags: ['birds'] }, query: 'owls hunt', mode: 'hybrid' });
    expect(again.status).toBe(200);
    expect(queriesOf(again)).toBe(0);
    expect(((await again.json()) as SearchBody).cached).toBe(true);
  });

  it.each(['keyword', 'semantic', 'hybrid'])('%s: 200 with the hits that mode finds', async (mode) => {
    const { base, kettle } = await seededBase();
    const response = await search(base.id, { query: 'descale kettle vinegar', mode, limit: 5 });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(queriesOf(response)).toBe(1);
    const body = (await response.json()) as SearchBody;
    expect(body.mode).toBe(mode);
    expect(body.hits[0]?.document_id).toBe(kettle);
    expect(body.hits.length).toBeLessThanOrEqual(5);
  });

  it('searches again once a change to the base moves its version', async () => {
    const { base, owls } = await seededBase();
    const query = { query: 'owls', mode: 'keyword' };
    expect(((await (await search(base.id, query)).json()) as SearchBody).hits).toHaveLength(2);
    expect(((await (await search(base.id, query)).json()) as SearchBody).cached).toBe(true);
    const deleted = await api().call(`/v1/knowledge-bases/${base.id}/documents/${owls}`, {
      method: 'DELETE',
    });
    expect(deleted.status, await deleted.clone().text()).toBe(204);
    const after = (await (await search(base.id, query)).json()) as SearchBody;
    expect(after).toMatchObject({ cached: false, hits: [] });
  });

  it('answers an empty base with no hits', async () => {
    const base = await createBase();
    const response = await search(base.id, { query: 'owls' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ hits: [], facets: { content_type: {}, tags: {} } });
  });

  it('answers 404 for another tenant’s base, a deleted one, an unknown id or no id at all', async () => {
    const { base } = await seededBase();
    expect((await search(base.id, { query: 'owls' }, globexKey)).status).toBe(404);
    expect((await search(randomUUID(), { query: 'owls' })).status).toBe(404);
    expect((await search('not-a-uuid', { query: 'owls' })).status).toBe(404);
    expect((await api().call(`/v1/knowledge-bases/${base.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await search(base.id, { query: 'owls' })).status).toBe(404);
  });

  it('never answers a hostile query with a 5xx', async () => {
    const { base } = await seededBase();
    const long = 'owls & hunt | (mice) <-> !night: '.repeat(400).slice(0, maxQueryCharacters);
    for (const mode of ['keyword', 'semantic', 'hybrid']) {
      for (const query of [
        long,
        `!:&|()<*'"\\`,
        "owl:* & !(mice | 'hoot')",
        'the and of',
        '"',
        '🦉'.repeat(2_000),
      ]) {
        const response = await search(base.id, { query, mode });
        expect(response.status, `${mode} ${query.slice(0, 40)}: ${await response.clone().text()}`).toBe(200);
      }
      const nul = await search(base.id, { query: 'owls\u0000hunt', mode });
      expect(nul.status).toBeGreaterThanOrEqual(400);
      expect(nul.status).toBeLessThan(500);
    }
    // Too long, an unknown mode, a limit over 50, an unknown filter: refused by the schema.
    for (const body of [
      { query: 'x'.repeat(maxQueryCharacters + 1) },
      { query: 'owls', mode: 'fuzzy' },
      { query: 'owls', limit: 51 },
      { query: 'owls', filters: { colour: 'red' } },
      { query: '   ' },
    ]) {
      expect((await search(base.id, body)).status).toBe(422);
    }
  });
};

describe('knowledge search API on the embedded stand-ins (PGlite with pgvector, L1 cache)', () => {
  knowledgeSearchApiContract(useTestApi());
});

// Semantic and hybrid search need pgvector: CI builds it (and forbids skips); elsewhere a
// PostgreSQL without it skips this suite, and says how to install it.
if (pgvectorInstalled() || realServersRequired()) {
  describeRealServers('knowledge search API on PostgreSQL 15 and Redis 7', (servers) => {
    knowledgeSearchApiContract(useTestApi(realServersEnv(servers)));
  });
} else {
  console.warn(
    'pgvector is not installed for the PostgreSQL the tests start: the knowledge search API suite on it is skipped. ' +
      'Build it from .ci/vendor/pgvector-0.8.1.tar.gz as .ci/vendor/README.md says (about 20 s).',
  );
}
