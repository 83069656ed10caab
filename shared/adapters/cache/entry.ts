/**
 * A cached value with the version of the row it came from. `value: null` records that
 * the row does not exist (never did: version 0; deleted: the version of the delete), so
 * misses are cached too and a late reader can never resurrect a deleted row.
 */
export interface CacheEntry<T = unknown> {
  readonly version: number;
  readonly value: T | null;
}

/** `<version>|<json>`: the version is readable by the Lua compare without decoding JSON. */
export const encodeEntry = (entry: CacheEntry): string => `${entry.version}|${JSON.stringify(entry.value)}`;

export const decodeEntry = (raw: string): CacheEntry | undefined => {
  const separator = raw.indexOf('|');
  if (separator <= 0) return undefined;
  const version = Number(raw.slice(0, separator));
  if (!Number.isSafeInteger(version)) return undefined;
  try {
    return { version, value: JSON.parse(raw.slice(separator + 1)) };
  } catch {
    return undefined;
  }
};
