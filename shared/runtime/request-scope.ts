import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Per-request counters, carried through async calls without threading them through
 * every signature: the Postgres adapter counts queries, the cache counts hits.
 */
export interface RequestScope {
  queries: number;
  queryMs: number;
  cacheHits: number;
  cacheMisses: number;
}

const storage = new AsyncLocalStorage<RequestScope>();

export const newScope = (): RequestScope => ({ queries: 0, queryMs: 0, cacheHits: 0, cacheMisses: 0 });

export const runInScope = <T>(scope: RequestScope, fn: () => T): T => storage.run(scope, fn);

export const currentScope = (): RequestScope | undefined => storage.getStore();

/** Runs `fn` outside any request's scope: a statement run for several requests at once. */
export const outsideScope = <T>(fn: () => T): T => storage.exit(fn);

/** Counts one shared statement once in each request it served. */
export const chargeQuery = (scopes: readonly (RequestScope | undefined)[], ms: number): void => {
  for (const scope of scopes) {
    if (!scope) continue;
    scope.queries += 1;
    scope.queryMs += ms;
  }
};
