import { isUuid } from './ids.ts';

/** Keyset position: the sort key of the last row of a page. Opaque to clients. */
export interface KeysetPosition {
  readonly createdAt: Date;
  readonly id: string;
}

export const encodeCursor = (position: KeysetPosition): string =>
  Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id]), 'utf8').toString('base64url');

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
    if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) return undefined;
    return { createdAt, id };
  } catch {
    return undefined;
  }
};
