import { uuidv7 } from 'uuidv7';

/** Time-ordered ids: new rows land at the right edge of the primary-key index. */
export const newId = (): string => uuidv7();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: string): boolean => UUID.test(value);

/**
 * The canonical spelling of an id: a UUID in lower case (PostgreSQL's own output), so caches,
 * idempotency scopes and comparisons see one key per resource whatever the client typed.
 * Anything that is not a UUID is returned unchanged (and answers 404 where an id is looked up).
 */
export const canonicalId = (value: string): string => (UUID.test(value) ? value.toLowerCase() : value);
