/**
 * A cached value with the version of the row it came from. `value: null` records that
 * the row does not exist (never did: version 0; deleted: the version of the delete), so
 * misses are cached too and a late reader can never resurrect a deleted row.
 */
export interface CacheEntry<T = unknown> {
  readonly version: number;
  readonly value: T | null;
}

/** An entry as L2 holds it: stamped with the cache generation it was written under. */
export interface StampedEntry {
  readonly entry: CacheEntry;
  readonly generation: number;
}

/**
 * `<version>|<json>`, or `<version>:<generation>|<json>` once the generation is not 0: the
 * version (and generation) are readable by the Lua compare without decoding JSON.
 */
export const encodeEntry = (entry: CacheEntry, generation = 0): string =>
  `${entry.version}${generation === 0 ? '' : `:${generation}`}|${JSON.stringify(entry.value)}`;

const safeInteger = (text: string): number | undefined => {
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
};

export const decodeStamped = (raw: string): StampedEntry | undefined => {
  const separator = raw.indexOf('|');
  if (separator <= 0) return undefined;
  const header = raw.slice(0, separator);
  const colon = header.indexOf(':');
  const version = safeInteger(colon < 0 ? header : header.slice(0, colon));
  const generation = colon < 0 ? 0 : safeInteger(header.slice(colon + 1));
  if (version === undefined || generation === undefined) return undefined;
  try {
    return { entry: { version, value: JSON.parse(raw.slice(separator + 1)) }, generation };
  } catch {
    return undefined;
  }
};

export const decodeEntry = (raw: string): CacheEntry | undefined => decodeStamped(raw)?.entry;
