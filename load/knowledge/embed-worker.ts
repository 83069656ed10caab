/**
 * A worker thread of the benchmark's loader: generates its share of a corpus's chunks and
 * embeds them with the local embedder (the CPU-heavy part), one batch per request of the main
 * thread, which inserts them meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LocalEmbedder } from '#adapters/embeddings/local.ts';
import { estimateTokens } from '#domain/chunking.ts';
import { type CorpusShape, generateCorpus } from './corpus.ts';

export interface EmbedTask {
  readonly shape: CorpusShape;
  /** Documents (by ordinal) this worker embeds. */
  readonly from: number;
  readonly to: number;
  readonly batchSize: number;
  readonly dimensions: number;
}

/** A batch of chunk rows, column by column (as the INSERT's unnest takes them). */
export interface ChunkBatch {
  readonly document: number[];
  readonly generation: number[];
  readonly ordinal: number[];
  readonly heading: string[];
  readonly text: string[];
  readonly tokens: number[];
  /** Each vector as a real[] literal, 7 significant digits (real's precision). */
  readonly embedding: string[];
}

/** The (generation, ordinal) of each chunk row a document has: a re-ingestion in flight has two generations. */
export const chunkRows = (state: string, count: number): { generation: number; ordinal: number }[] => {
  if (state !== 'processing')
    return Array.from({ length: count }, (_, ordinal) => ({ generation: 1, ordinal }));
  const pending = Math.floor(count / 2);
  return [
    ...Array.from({ length: count - pending }, (_, ordinal) => ({ generation: 1, ordinal })),
    ...Array.from({ length: pending }, (_, ordinal) => ({ generation: 2, ordinal })),
  ];
};

if (parentPort) {
  const port = parentPort;
  const task = workerData as EmbedTask;
  const corpus = generateCorpus(task.shape);
  const embedder = new LocalEmbedder(task.dimensions);
  const pending = (function* () {
    for (let d = task.from; d < task.to; d += 1) {
      const document = corpus.documents[d]!;
      for (const row of chunkRows(document.state, document.chunkCount)) {
        yield { document, ...row, ...corpus.chunk(document, row.ordinal + (row.generation - 1) * 1_000) };
      }
    }
  })();
  port.on('message', async () => {
    const batch: ChunkBatch = {
      document: [],
      generation: [],
      ordinal: [],
      heading: [],
      text: [],
      tokens: [],
      embedding: [],
    };
    for (let i = 0; i < task.batchSize; i += 1) {
      const next = pending.next();
      if (next.done) break;
      const chunk = next.value;
      batch.document.push(chunk.document.ordinal);
      batch.generation.push(chunk.generation);
      batch.ordinal.push(chunk.ordinal);
      batch.heading.push(chunk.heading);
      batch.text.push(chunk.text);
      batch.tokens.push(estimateTokens(chunk.text));
    }
    const { vectors } = await embedder.embed(batch.text);
    for (const vector of vectors) batch.embedding.push(`{${vector.map((x) => x.toPrecision(7)).join(',')}}`);
    port.postMessage(batch);
  });
}
