import type { Tracer } from '@aws-lambda-powertools/tracer';
import type middy from '@middy/core';
import type { SqsCallOutcome, SqsCallTracer } from '#adapters/aws/sqs-api.ts';

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

/**
 * An AWS SDK v3 client, traced where tracing is on (`tracer.captureAWSv3Client`: a subsegment
 * per call); the client itself where it is off.
 */
export const traceAwsClient = <T>(client: T): T =>
  tracing ? (tracing.tracer.captureAWSv3Client(client) as T) : client;

type TraceParent = NonNullable<ReturnType<Tracer['getSegment']>>;

/** SDK error codes X-Ray marks as throttles (the SDK middleware asks @smithy for the same). */
const throttled = (outcome: SqsCallOutcome): boolean =>
  outcome.statusCode === 429 ||
  (outcome.error instanceof Error &&
    /Throttl|TooManyRequests|RequestLimitExceeded/.test((outcome.error as { code?: string }).code ?? ''));

const countOf = (value: unknown): number | undefined => (Array.isArray(value) ? value.length : undefined);

/**
 * The lean SQS client's tracer (shared/adapters/aws/sqs-api.ts): per call, the subsegment that
 * `tracer.captureAWSv3Client` opens for an SDK client — named `SQS`, namespace `aws`, with the
 * operation, region, queue URL, request id, retries, message counts and HTTP status — and its
 * `X-Amzn-Trace-Id` on the request, which SQS carries on to the messages. Undefined where
 * tracing is off: the client then checks one field per call, nothing more.
 */
export const sqsCallTracer = (): SqsCallTracer | undefined => {
  if (!tracing) return undefined;
  const { tracer } = tracing;
  return (operation, input, region) => {
    // The provider's getSegment: Tracer#getSegment warns on every call made outside a segment.
    const parent: TraceParent | undefined = tracer.provider.getSegment();
    if (!parent) return undefined;
    const subsegment = parent.notTraced
      ? parent.addNewSubsegmentWithoutSampling('SQS')
      : parent.addNewSubsegment('SQS');
    subsegment.addAttribute('namespace', 'aws');
    const root = 'segment' in parent ? parent.segment : parent;
    let traceHeader = `Root=${root.trace_id};Parent=${subsegment.id};Sampled=${subsegment.notTraced ? '0' : '1'}`;
    for (const [key, value] of Object.entries(root.additionalTraceData ?? {})) {
      traceHeader += `;${key}=${String(value)}`;
    }
    return {
      traceHeader,
      end: (outcome) => {
        const output = (outcome.output ?? {}) as Record<string, unknown>;
        const aws: Record<string, unknown> = {
          operation,
          region,
          retries: Math.max(0, outcome.attempts - 1),
          queue_url: input['QueueUrl'],
        };
        if (outcome.requestId) aws['request_id'] = outcome.requestId;
        const sent = countOf(input['Entries']);
        if (sent !== undefined) aws['message_count'] = sent;
        const received = countOf(output['Messages']);
        if (received !== undefined) aws['message_count'] = received;
        const failed = countOf(output['Failed']);
        if (failed !== undefined) aws['failed_count'] = failed;
        const successful = countOf(output['Successful']);
        if (successful !== undefined) aws['successful_count'] = successful;
        if (typeof output['MessageId'] === 'string') aws['message_id'] = output['MessageId'];
        subsegment.addAttribute('aws', aws);
        if (outcome.statusCode) subsegment.addAttribute('http', { response: { status: outcome.statusCode } });
        if (throttled(outcome)) subsegment.addThrottleFlag();
        const status = outcome.statusCode ?? 0;
        if (status >= 500) subsegment.addFaultFlag();
        else if (status >= 400) subsegment.addErrorFlag();
        if (outcome.error === undefined) {
          subsegment.close();
        } else {
          const error =
            outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error as unknown));
          subsegment.close(error, true);
        }
      },
    };
  };
};
