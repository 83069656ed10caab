import { canonicalId, isUuid } from './ids.ts';

/** Keyset position: the sort key of the last row of a page. Opaque to clients. */
export interface KeysetPosition {
  readonly createdAt: Date;
  readonly id: string;
}

export const encodeCursor = (position: KeysetPosition): string =>
  Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id]), 'utf8').toString('base64url');

/**
 * The instants a cursor may hold: rows are created now, and both PostgreSQL (4713 BC to
 * 294276 AD) and JS Dates (±275760 years) can represent every one of them, so a forged date
 * outside never reaches a query.
 */
export const cursorTimeBounds = {
  min: Date.UTC(1970, 0, 1),
  max: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
} as const;

/** The position a cursor encodes, or undefined when it is not one of ours. */
export const decodeCursor = (cursor: string): KeysetPosition | undefined => {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(decoded) || decoded.length !== 2) return undefined;
    const [at, id] = decoded as unknown[];
    if (typeof at !== 'string' || typeof id !== 'string' || !isUuid(id)) return undefined;
    const createdAt = new Date(at);
    // Only what encodeCursor writes: a forged or rolled-over date is not one of ours.
    const time = createdAt.getTime();
    if (Number.isNaN(time) || time < cursorTimeBounds.min || time > cursorTimeBounds.max) return undefined;
    if (createdAt.toISOString() !== at) return undefined;
    // Ids in their canonical (lower-case) spelling, as every other id the API reads.
    return { createdAt, id: canonicalId(id) };
  } catch {
    return undefined;
  }
};
