import type middy from '@middy/core';

/**
 * Powertools Tracer, loaded only where tracing is on: in Lambda (AWS_EXECUTION_ENV) unless
 * POWERTOOLS_TRACE_ENABLED=false. The X-Ray SDK it brings installs async hooks that tax
 * every promise of the process, and adds ~100 KB to each bundle, so a function that does
 * not trace must not import it. Top-level await: in Lambda it loads during INIT.
 */
export const tracingEnabled = (env: Record<string, string | undefined> = process.env): boolean =>
  env['POWERTOOLS_TRACE_ENABLED']?.toLowerCase() !== 'false' && env['AWS_EXECUTION_ENV'] !== undefined;

const loadTracing = async () => {
  const [{ Tracer }, { captureLambdaHandler }] = await Promise.all([
    import('@aws-lambda-powertools/tracer'),
    import('@aws-lambda-powertools/tracer/middleware'),
  ]);
  const tracer = new Tracer({ serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? 'switchyard' });
  return { tracer, captureLambdaHandler };
};

const tracing = tracingEnabled() ? await loadTracing() : undefined;

/** The handler-tracing middleware, or none where tracing is off. */
export const tracingMiddleware = (): middy.MiddlewareObj[] =>
  tracing ? [tracing.captureLambdaHandler(tracing.tracer, { captureResponse: false })] : [];
