/** The timed HTTP client virtual users share: one undici Pool, JSON in and out, Bearer key. */
import type { Pool } from 'undici';
import type { Sample } from '../report/stats.ts';
import type { CallOptions, CallResult, Http } from './types.ts';

/**
 * `prefix` is the base URL's path (an API Gateway stage such as `/prod`), `record` receives
 * one sample per call (omit it for untimed setup), `origin()` is the run's performance.now() start.
 */
export const createHttp = (
  pool: Pool,
  prefix: string,
  apiKey: string,
  record?: (sample: Sample) => void,
  origin: () => number = () => 0,
): Http => {
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  return {
    async call(name, method, path, options: CallOptions): Promise<CallResult> {
      const started = performance.now();
      let status = 0;
      let json: unknown;
      try {
        const response = await pool.request({
          path: `${prefix}${path}`,
          method,
          headers,
          body: options.body === undefined ? null : JSON.stringify(options.body),
        });
        status = response.statusCode;
        if (options.json || options.check) json = await response.body.json().catch(() => undefined);
        else await response.body.dump();
      } catch {
        // Network error or timeout: status 0, an error sample with the time it took to fail.
      }
      const ended = performance.now();
      const expected =
        typeof options.expect === 'number' ? status === options.expect : options.expect.includes(status);
      const ok = expected && (options.check?.(json, status) ?? true);
      record?.({ name, at: ended - origin(), ms: ended - started, ok });
      return { ok, status, json };
    },
  };
};
