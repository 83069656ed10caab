import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type middy from '@middy/core';

/**
 * One logger and metrics per container, shared by every module, with the same service
 * name and namespace everywhere (POWERTOOLS_SERVICE_NAME / _METRICS_NAMESPACE override
 * them). Locally the runtime turns metrics off and logs at WARN. The tracer lives in
 * tracing.ts: it is loaded only where tracing is on.
 */
const serviceName = process.env['POWERTOOLS_SERVICE_NAME'] ?? 'switchyard';

export const logger = new Logger({ serviceName });

export const metrics = new Metrics({
  serviceName,
  namespace: process.env['POWERTOOLS_METRICS_NAMESPACE'] ?? 'Switchyard',
  defaultDimensions: { stage: process.env['STAGE'] ?? 'local' },
});

/**
 * Whether EMF metrics are published. Locally they are off, and the local runtime serves
 * concurrent requests from one container (Lambda never does), which would share one set
 * of per-request dimensions: per-request metric work is skipped altogether there.
 */
export const metricsEnabled = (): boolean =>
  process.env['POWERTOOLS_METRICS_DISABLED']?.toLowerCase() !== 'true';

/** Warn at most once per interval for a recurring condition (e.g. the cache being down). */
export const throttledWarn = (intervalMs: number) => {
  let last = 0;
  return (message: string, extra?: Record<string, unknown>): void => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    logger.warn(message, extra ?? {});
  };
};

/**
 * Publishes each invocation's metrics (EMF) where metrics are on; where they are off there
 * is nothing to publish, and Powertools would warn about that on every invocation.
 */
export const metricsMiddleware = (): middy.MiddlewareObj[] => (metricsEnabled() ? [logMetrics(metrics)] : []);
