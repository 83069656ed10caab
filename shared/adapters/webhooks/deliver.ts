/**
 * Delivers one signed webhook: resolve, refuse non-public addresses (DNS rebinding), then POST
 * to exactly the addresses that were checked. One attempt; the queue worker owns retries and
 * uses `retryable` / `retryAfterMs` to schedule them.
 */

import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import {
  bareHostname,
  isPublicAddress,
  signWebhook,
  validateWebhookUrl,
  webhookEventIdHeader,
  webhookSignatureHeader,
} from '#domain/webhooks.ts';

export const webhookUserAgent = 'Switchyard-Webhooks/1';
const defaultTimeoutMs = 10_000;
/** Receivers owe us a status, not a body: read this much at most, then hang up. */
const maxResponseBytes = 64 * 1024;

/** Resolves every address of a host name, like `dns.promises.lookup(host, { all: true })`. */
export type ResolveAll = (hostname: string, options: { all: true }) => Promise<LookupAddress[]>;

export interface DeliverWebhookOptions {
  readonly url: string;
  /** Several secrets sign with each (one `v1=` apiece) while a secret rotates. */
  readonly secret: string | readonly string[];
  /** The JSON text, sent and signed byte for byte. */
  readonly body: string;
  /** Sent as Switchyard-Event-Id, the same on every retry, so receivers can drop duplicates. */
  readonly eventId: string;
  /** Local mode: private and loopback addresses, and plain http, are allowed. */
  readonly allowPrivate: boolean;
  /** Covers resolving, connecting, and the response status and body. */
  readonly timeoutMs?: number;
  /** The signature timestamp; now by default. */
  readonly nowSeconds?: number;
  /** For tests: stands in for DNS. */
  readonly lookup?: ResolveAll;
}

export interface WebhookDeliveryResult {
  readonly status: number;
  readonly ms: number;
}

/** refused: the URL or what it resolves to is not allowed; nothing was sent. */
export type WebhookFailureKind = 'refused' | 'http' | 'network' | 'timeout';

export class WebhookDeliveryError extends Error {
  override name = 'WebhookDeliveryError';
  readonly kind: WebhookFailureKind;
  /** Whether another attempt may succeed; false means give up (dead-letter, or disable the hook). */
  readonly retryable: boolean;
  /** The receiver's status, when it answered. 410 means it wants no more deliveries. */
  readonly status: number | undefined;
  /** From Retry-After, when the receiver sent one with a retryable status. */
  readonly retryAfterMs: number | undefined;
  readonly ms: number;

  constructor(
    message: string,
    details: {
      kind: WebhookFailureKind;
      retryable: boolean;
      ms: number;
      status?: number;
      retryAfterMs?: number;
      cause?: unknown;
    },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = details.kind;
    this.retryable = details.retryable;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.ms = details.ms;
  }
}

/** Retry-After as delay-seconds or an HTTP-date, in milliseconds from now; undefined if unreadable. */
export const parseRetryAfter = (value: string | undefined, nowMs = Date.now()): number | undefined => {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
};

// 408, 425 and 429 say "not now"; 5xx says "not us". Every other status will not change by retrying.
const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 425 || status === 429 || status >= 500;

const errorCode = (error: unknown): string =>
  (error as NodeJS.ErrnoException | undefined)?.code ??
  (error instanceof Error ? error.message : String(error));

export const deliverWebhook = async (options: DeliverWebhookOptions): Promise<WebhookDeliveryResult> => {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) throw new RangeError('timeoutMs must be positive');
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const remaining = () => Math.max(1, timeoutMs - (performance.now() - started));
  const fail = (
    message: string,
    details: { kind: WebhookFailureKind; status?: number; retryAfterMs?: number; cause?: unknown },
  ) =>
    new WebhookDeliveryError(message, {
      ...details,
      // Refusals are settled by configuration, not by time.
      retryable:
        details.kind !== 'refused' && (details.status === undefined || isRetryableStatus(details.status)),
      ms: elapsed(),
    });

  // The URL was checked when it was set; check again, as the local-mode setting may differ now.
  const checked = validateWebhookUrl(options.url, { allowPrivate: options.allowPrivate });
  if (!checked.ok) throw fail(`webhook URL ${checked.reason}`, { kind: 'refused' });
  const { url } = checked;
  const host = bareHostname(url);

  let addresses: LookupAddress[];
  const literal = isIP(host);
  if (literal) {
    addresses = [{ address: host, family: literal }];
  } else {
    const resolve: ResolveAll = options.lookup ?? dnsLookup;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(fail(`resolving ${host} timed out`, { kind: 'timeout' })), remaining());
    });
    try {
      addresses = await Promise.race([resolve(host, { all: true }), timedOut]);
    } catch (error) {
      if (error instanceof WebhookDeliveryError) throw error;
      // ENOTFOUND included: a receiver's DNS can be fixed, and the queue bounds the attempts.
      throw fail(`could not resolve ${host}: ${errorCode(error)}`, { kind: 'network', cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  if (addresses.length === 0) throw fail(`${host} resolved to no addresses`, { kind: 'network' });
  // Every answer is checked, not just the first: the connection may fall back to any of them.
  for (const { address } of addresses) {
    if (!isIP(address)) throw fail(`${host} resolved to "${address}", not an address`, { kind: 'refused' });
    if (!options.allowPrivate && !isPublicAddress(address)) {
      throw fail(`${host} resolved to ${address}, which is not a public address`, { kind: 'refused' });
    }
  }

  // The socket connects only to the addresses checked above; a second DNS answer is never asked for.
  const pinnedLookup: RequestOptions['lookup'] = (_hostname, lookupOptions, callback) => {
    const first = addresses[0]!;
    if (lookupOptions.all) callback(null, addresses);
    else callback(null, first.address, first.family);
  };

  const timestamp = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise<WebhookDeliveryResult>((resolve, reject) => {
    let status: number | undefined;
    let retryAfter: string | undefined;
    let settled = false;

    const finish = (error?: WebhookDeliveryError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (error) return reject(error);
      if (status === undefined) return reject(fail('no response', { kind: 'network' }));
      if (status >= 200 && status < 300) return resolve({ status, ms: elapsed() });
      const retryAfterMs = isRetryableStatus(status) ? parseRetryAfter(retryAfter) : undefined;
      const why =
        status === 410 ? ' (gone)' : status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
      reject(fail(`receiver answered ${status}${why}`, { kind: 'http', status, retryAfterMs }));
    };

    const req = send({
      method: 'POST',
      hostname: host,
      port: url.port ? Number(url.port) : undefined,
      path: `${url.pathname}${url.search}`,
      headers: {
        // Host and SNI name the receiver, though the socket goes to the pinned address.
        Host: url.host,
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(options.body),
        'User-Agent': webhookUserAgent,
        [webhookSignatureHeader]: signWebhook(options.secret, options.body, timestamp),
        [webhookEventIdHeader]: options.eventId,
      },
      lookup: pinnedLookup,
      ...(url.protocol === 'https:' && !literal ? { servername: host } : {}),
      // A fresh connection each time: no pooled socket from some other host's pinned address.
      agent: false,
    });

    const timer = setTimeout(() => {
      // Once a status has arrived it decides; a slow body does not turn a 200 into a failure.
      finish(
        status === undefined ? fail(`no response within ${timeoutMs} ms`, { kind: 'timeout' }) : undefined,
      );
    }, remaining());

    req.on('error', (error) => {
      finish(
        status === undefined
          ? fail(`request failed: ${errorCode(error)}`, { kind: 'network', cause: error })
          : undefined,
      );
    });
    req.on('response', (res) => {
      status = res.statusCode;
      const header = res.headers['retry-after'];
      retryAfter = Array.isArray(header) ? header[0] : header;
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= maxResponseBytes) finish();
      });
      res.on('end', () => finish());
      res.on('error', () => finish());
      res.on('close', () => finish());
    });
    req.end(options.body);
  });
};
