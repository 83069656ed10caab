import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ProblemError } from '../domain/errors.ts';

/** RFC 9457 body for any error: client errors as they are, anything else as an opaque 500. */
export const problemResponse = (error: unknown, instance: string): APIGatewayProxyStructuredResultV2 => {
  const problem =
    error instanceof ProblemError
      ? error
      : new ProblemError(
          500,
          'internal',
          'Internal Server Error',
          'The request failed on our side; it is logged.',
        );
  const body: Record<string, unknown> = {
    type: problem.type,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    instance,
  };
  if (problem.extra.errors) body['errors'] = problem.extra.errors;
  return {
    statusCode: problem.status,
    headers: { 'content-type': 'application/problem+json', ...problem.extra.headers },
    body: JSON.stringify(body),
  };
};
