/**
 * An `Idempotency-Key` stored with the row a creating request wrote (migration 0006), unique
 * per tenant and scope: the durable tier behind the DynamoDB records.
 */
export interface RowIdempotency {
  readonly key: string;
  /** SHA-256 of the request body as canonical JSON: the same key with another body is refused. */
  readonly requestHash: string;
}

/** What an insert under a key did: wrote the row, or found the one an earlier request wrote. */
export type KeyedInsert<T> =
  | { readonly kind: 'created'; readonly row: T }
  | { readonly kind: 'existing'; readonly row: T; readonly requestHash: string | null };
