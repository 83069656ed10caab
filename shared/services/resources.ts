import { setTimeout as sleep } from 'node:timers/promises';
import type { KeysetPosition } from '#domain/cursor.ts';
import { conflict, notFound, preconditionFailed, validationFailed } from '#domain/errors.ts';
import { generateWebhookSecret, validateWebhookUrl } from '#domain/webhooks.ts';
import { config } from '#runtime/config.ts';
import { logger, metrics } from '#runtime/observability.ts';
import type { Cancellation, ConditionalWrite, PageQuery, VersionedCache } from './ports.ts';

/** What the resource services (agents, workflows, executions and runs) do alike. */

/** A resource as the cache holds it: JSON, so its dates travel as strings. */
type Cached<T extends { createdAt: Date; updatedAt: Date }> = Omit<T, 'createdAt' | 'updatedAt'> & {
  readonly createdAt: string;
  readonly updatedAt: string;
};

export const toCached = <T extends { createdAt: Date; updatedAt: Date }>(resource: T): Cached<T> => ({
  ...resource,
  createdAt: resource.createdAt.toISOString(),
  updatedAt: resource.updatedAt.toISOString(),
});

const fromCached = <T extends { createdAt: Date; updatedAt: Date }>(cached: Cached<T>): T =>
  ({
    ...cached,
    createdAt: new Date(cached.createdAt),
    updatedAt: new Date(cached.updatedAt),
  }) as unknown as T;

/**
 * A resource read through the cache (on a miss, `find` loads it and the cache keeps it under
 * its version), or 404 when there is none.
 */
export const readThrough = async <T extends { version: number; createdAt: Date; updatedAt: Date }>(
  cache: VersionedCache,
  key: string,
  find: () => Promise<T | null>,
  resource: string,
): Promise<T> => {
  const cached = await cache.get<Cached<T>>(key, async () => {
    const found = await find();
    return found ? { version: found.version, value: toCached(found) } : null;
  });
  if (!cached) throw notFound(resource);
  return fromCached(cached);
};

/** A webhook URL checked against the SSRF rules (422 if refused), with a fresh secret. */
export const newWebhook = (url: string): { url: string; secret: string } => {
  const checked = validateWebhookUrl(url, { allowPrivate: config().webhooksAllowPrivate });
  if (!checked.ok) throw validationFailed([{ field: 'webhook_url', detail: checked.reason }]);
  return { url: checked.url.href, secret: generateWebhookSecret() };
};

/**
 * The webhook a write asks for: unchanged (the field is absent), removed (null), or a new
 * one with a new secret.
 */
export const webhookChange = (
  url: string | null | undefined,
): { url: string; secret: string } | null | undefined =>
  url === undefined ? undefined : url === null ? null : newWebhook(url);

/** The written outcome of a conditional write, or 404 (gone) / 412 (If-Match no longer holds). */
export const settled = <Done>(result: ConditionalWrite<Done>, resource: string): Done => {
  if (result.kind === 'not-found') throw notFound(resource);
  if (result.kind === 'stale') throw preconditionFailed();
  return result;
};

export interface Page<T> {
  readonly items: T[];
  readonly next: KeysetPosition | null;
}

/**
 * A page read with one row beyond its limit: the extra row tells whether there is a next
 * page, without a count; the next page starts after the last item's `position`.
 */
export const pageOf = async <Query extends PageQuery, T>(
  query: Query,
  read: (query: Query) => Promise<T[]>,
  position: (row: T) => KeysetPosition | undefined,
): Promise<Page<T>> => {
  const rows = await read({ ...query, limit: query.limit + 1 });
  const items = rows.slice(0, query.limit);
  const last = items[items.length - 1];
  return { items, next: (rows.length > query.limit && last && position(last)) || null };
};

/**
 * Reads `current` again until `finished` or `seconds` pass, with a growing interval (20 ms to
 * 500 ms): cheap indexed reads, and no connection held between them.
 */
export const pollUntil = async <T>(
  current: T,
  finished: (value: T) => boolean,
  read: () => Promise<T>,
  seconds: number,
): Promise<T> => {
  const deadline = Date.now() + seconds * 1000;
  let interval = 20;
  while (!finished(current) && Date.now() < deadline) {
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
    interval = Math.min(500, interval * 2);
    current = await read();
  }
  return current;
};

/** A cancellation's outcome, or 404 (no such resource) / 409 (it had already finished). */
export const cancelled = <T>(result: Cancellation<T>, resource: string): T => {
  if (result === null) throw notFound(resource);
  if (result === 'finished') throw conflict(`The ${resource} has already finished.`);
  return result;
};

/**
 * Sends the jobs of work a request just committed. Committed is accepted: a send that fails
 * is counted and logged, and the sweeper re-sends what did not reach the queue.
 */
export const enqueueCommitted = async (
  send: () => Promise<unknown>,
  what: string,
  ids: Readonly<Record<string, string>>,
): Promise<void> => {
  try {
    await send();
  } catch (error) {
    metrics.addMetric('EnqueueFailures', 'Count', 1);
    logger.error(`${what} committed but not enqueued; the sweeper will resend it`, {
      ...ids,
      error: (error as Error).message,
    });
  }
};
