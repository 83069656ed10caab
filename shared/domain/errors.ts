/**
 * Errors that are the client's doing, each an RFC 9457 problem. Services throw them;
 * the HTTP layer renders them. Anything else is ours, and becomes a 500.
 */

export interface FieldError {
  /** JSON Pointer-ish path of the offending field, e.g. `name` or `configuration.temperature`. */
  readonly field: string;
  readonly detail: string;
}

const problemTypeBase = 'https://switchyard.dev/problems/';

export class ProblemError extends Error {
  override name = 'ProblemError';
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly extra: { errors?: readonly FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
  }

  get type(): string {
    return problemTypeBase + this.slug;
  }
}

export const badRequest = (detail: string, errors?: readonly FieldError[]) =>
  new ProblemError(400, 'bad-request', 'Bad Request', detail, errors ? { errors } : {});

export const invalidQuery = (errors: readonly FieldError[]) =>
  new ProblemError(
    400,
    'invalid-query',
    'Invalid query parameters',
    'One or more query parameters are invalid.',
    {
      errors,
    },
  );

export const malformedJson = (detail: string) =>
  new ProblemError(400, 'malformed-json', 'Malformed JSON', detail);

export const unauthorized = (detail = 'A valid API key is required: Authorization: Bearer <key>.') =>
  new ProblemError(401, 'unauthorized', 'Unauthorized', detail, {
    headers: { 'www-authenticate': 'Bearer' },
  });

export const notFound = (what = 'resource') =>
  new ProblemError(404, 'not-found', 'Not Found', `The ${what} does not exist.`);

export const methodNotAllowed = (allow: readonly string[]) =>
  new ProblemError(405, 'method-not-allowed', 'Method Not Allowed', `Allowed methods: ${allow.join(', ')}.`, {
    headers: { allow: allow.join(', ') },
  });

export const conflict = (detail: string) => new ProblemError(409, 'conflict', 'Conflict', detail);

export const preconditionFailed = () =>
  new ProblemError(
    412,
    'precondition-failed',
    'Precondition Failed',
    'The resource has changed since the ETag in If-Match was issued; nothing was changed.',
  );

export const payloadTooLarge = (limitBytes: number) =>
  new ProblemError(413, 'payload-too-large', 'Payload Too Large', `The body exceeds ${limitBytes} bytes.`);

export const unsupportedMediaType = () =>
  new ProblemError(
    415,
    'unsupported-media-type',
    'Unsupported Media Type',
    'Send the body as application/json.',
  );

export const validationFailed = (errors: readonly FieldError[]) =>
  new ProblemError(422, 'validation-failed', 'Validation failed', 'The body does not match the schema.', {
    errors,
  });
