/**
 * Webhook signing and the SSRF rules for webhook URLs. No I/O: delivery (DNS, sockets) lives
 * in shared/adapters/webhooks.
 *
 * Signature header, as receivers verify it:
 *   Switchyard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 * The key is the whole secret string (`whsec_...`) as UTF-8. During a rotation the header
 * carries one `v1=` per secret, and a receiver holding either secret accepts it.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export const webhookSignatureHeader = 'Switchyard-Signature';
export const webhookEventIdHeader = 'Switchyard-Event-Id';
export const maxWebhookUrlLength = 2048;

/** A new per-agent signing secret; shown to the user once, when the URL is set. */
export const generateWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

const hmacHex = (secret: string, timestampSeconds: number, body: string | Uint8Array): string =>
  createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest('hex');

/** The full `Switchyard-Signature` value; several secrets give several `v1=` entries (rotation). */
export const signWebhook = (
  secret: string | readonly string[],
  body: string,
  timestampSeconds: number,
): string => {
  // The timestamp is signed as written; a fraction or exponent would not round-trip through the header.
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new RangeError(`timestampSeconds must be a non-negative integer, got ${timestampSeconds}`);
  }
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new RangeError('at least one secret is required');
  const signatures = secrets.map((s) => `v1=${hmacHex(s, timestampSeconds, body)}`);
  return [`t=${timestampSeconds}`, ...signatures].join(',');
};

export interface VerifyOptions {
  /** How far the signed timestamp may be from now, either way. */
  readonly toleranceSeconds?: number;
  readonly nowSeconds?: number;
}

/**
 * Whether `header` signs exactly `body` (the raw bytes received, before any JSON parsing) with
 * `secret` (or any of several, for a receiver mid-rotation) within the tolerance. Never throws.
 */
export const verifyWebhookSignature = (
  secret: string | readonly string[],
  body: string | Uint8Array,
  header: string | null | undefined,
  { toleranceSeconds = 300, nowSeconds = Math.floor(Date.now() / 1000) }: VerifyOptions = {},
): boolean => {
  if (typeof header !== 'string' || header.length > 4096) return false;
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return false;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,15}$/.test(value)) return false;
      timestamp = Number(value);
    } else if (key === 'v1' && /^[0-9a-fA-F]{64}$/.test(value)) {
      candidates.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (v0, v2, ...) are skipped, so a future scheme can be added alongside v1.
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (!(Math.abs(nowSeconds - timestamp) <= toleranceSeconds)) return false;
  const secrets = typeof secret === 'string' ? [secret] : secret;
  let matched = false;
  for (const s of secrets) {
    const expected = Buffer.from(hmacHex(s, timestamp, body), 'hex');
    // Every pair is compared, in constant time, so timing says nothing about which entry matched.
    for (const candidate of candidates) matched = timingSafeEqual(candidate, expected) || matched;
  }
  return matched;
};

// --- Addresses -------------------------------------------------------------------------------

const v4Bytes = (ip: string): Uint8Array => Uint8Array.from(ip.split('.'), Number);

/** 16 bytes of an address net.isIP has already accepted as IPv6 (no zone id). */
const v6Bytes = (ip: string): Uint8Array => {
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // A trailing dotted quad (::ffff:10.0.0.1) becomes the last two hex groups.
    const [a, b, c, d] = v4Bytes(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const word = Number.parseInt(group, 16);
    bytes[i * 2] = word >> 8;
    bytes[i * 2 + 1] = word & 0xff;
  });
  return bytes;
};

interface Prefix {
  readonly bytes: Uint8Array;
  readonly length: number;
}

const prefix = (cidr: string): Prefix => {
  const [address = '', length = ''] = cidr.split('/');
  return { bytes: isIP(address) === 4 ? v4Bytes(address) : v6Bytes(address), length: Number(length) };
};

const inPrefix = (bytes: Uint8Array, { bytes: network, length }: Prefix): boolean => {
  if (bytes.length !== network.length) return false;
  const whole = length >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== network[i]) return false;
  const rest = length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[whole]! ^ network[whole]!) & mask) === 0;
};

/** IANA special-purpose IPv4 blocks a webhook has no business reaching. */
const nonPublicV4Blocks = [
  '0.0.0.0/8', // "this network"; 0.0.0.0 reaches the local host on Linux
  '10.0.0.0/8', // private
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, incl. the cloud metadata service 169.254.169.254
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // TEST-NET-1
  '192.88.99.0/24', // deprecated 6to4 relay anycast
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // TEST-NET-2
  '203.0.113.0/24', // TEST-NET-3
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, incl. broadcast 255.255.255.255
];

/**
 * IPv6 is judged by allow-list: only global unicast (2000::/3) is public, less the special
 * blocks inside it. Loopback, unspecified, link-local, unique-local, site-local, multicast,
 * discard and the IPv4-compatible and translated forms all fall outside 2000::/3.
 */
const globalUnicastV6Block = '2000::/3';
const nonPublicV6Blocks = [
  '2001::/23', // IETF protocol assignments: Teredo, benchmarking 2001:2::/48, ORCHID
  '2001:db8::/32', // documentation
  '3fff::/20', // documentation (RFC 9637)
];

/** Blocks that carry an IPv4 address, which decides: [prefix, offset of the IPv4 bytes]. */
const embeddingV6Blocks: readonly (readonly [string, number])[] = [
  ['::ffff:0:0/96', 12], // IPv4-mapped: a dual-stack socket connects to the IPv4 address
  ['64:ff9b::/96', 12], // NAT64 well-known prefix: the gateway connects to the IPv4 address
  ['2002::/16', 2], // 6to4
];

interface AddressBlocks {
  readonly nonPublicV4: readonly Prefix[];
  readonly globalUnicastV6: Prefix;
  readonly nonPublicV6: readonly Prefix[];
  readonly embeddingV6: readonly (readonly [Prefix, number])[];
}

/**
 * Parsed on first use, not at module init: the first net.isIP of an IPv6 address compiles
 * Node's IPv6 regular expression, ~5 ms that every function importing this module would pay
 * at cold start, most of them never checking an address.
 */
let parsedBlocks: AddressBlocks | undefined;
const addressBlocks = (): AddressBlocks => {
  parsedBlocks ??= {
    nonPublicV4: nonPublicV4Blocks.map(prefix),
    globalUnicastV6: prefix(globalUnicastV6Block),
    nonPublicV6: nonPublicV6Blocks.map(prefix),
    embeddingV6: embeddingV6Blocks.map(([cidr, offset]) => [prefix(cidr), offset] as const),
  };
  return parsedBlocks;
};

const isPublicV4 = (bytes: Uint8Array): boolean =>
  !addressBlocks().nonPublicV4.some((p) => inPrefix(bytes, p));

/**
 * Whether `ip` (an IPv4 or IPv6 literal, no brackets) is a public unicast address. Anything
 * else, including text that is not an address and scoped IPv6 (fe80::1%eth0), is not.
 */
export const isPublicAddress = (ip: string): boolean => {
  const family = isIP(ip);
  if (family === 4) return isPublicV4(v4Bytes(ip));
  if (family !== 6 || ip.includes('%')) return false;
  const bytes = v6Bytes(ip);
  const { embeddingV6, globalUnicastV6, nonPublicV6 } = addressBlocks();
  for (const [embedding, offset] of embeddingV6) {
    if (inPrefix(bytes, embedding)) return isPublicV4(bytes.subarray(offset, offset + 4));
  }
  return inPrefix(bytes, globalUnicastV6) && !nonPublicV6.some((p) => inPrefix(bytes, p));
};

// --- URLs ------------------------------------------------------------------------------------

/** The host of a parsed URL as a resolver or net.isIP wants it: no IPv6 brackets, no root dot. */
export const bareHostname = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');

const internalSuffixes = ['.localhost', '.local', '.internal', '.localdomain', '.home.arpa'];

/** Names that only ever resolve inside a network: localhost, mDNS, cloud-internal, single labels. */
const isInternalHostname = (host: string): boolean =>
  host === 'localhost' ||
  host === 'localdomain' ||
  // A single label resolves through the search domains, i.e. to something internal.
  !host.includes('.') ||
  internalSuffixes.some((suffix) => host.endsWith(suffix));

export type WebhookUrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/**
 * The check when a webhook URL is set (and again before each delivery). Reasons read after the
 * field name, as FieldError details do: `webhook_url must use https`. Store `url.href`, the
 * normalised form. Hostnames are not resolved here; delivery checks what they resolve to.
 */
export const validateWebhookUrl = (
  raw: string,
  { allowPrivate }: { allowPrivate: boolean },
): WebhookUrlCheck => {
  if (raw.length > maxWebhookUrlLength) {
    return { ok: false, reason: `must be at most ${maxWebhookUrlLength} characters` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'must be an absolute URL' };
  }
  const schemeOk = url.protocol === 'https:' || (allowPrivate && url.protocol === 'http:');
  if (!schemeOk) return { ok: false, reason: allowPrivate ? 'must use http or https' : 'must use https' };
  if (url.username || url.password) return { ok: false, reason: 'must not contain credentials' };
  const host = bareHostname(url);
  if (!host) return { ok: false, reason: 'must name a host' };
  if (allowPrivate) return { ok: true, url };
  // The URL parser has already turned 0x7f.1, 2130706433 and the like into dotted quads.
  if (isIP(host)) {
    return isPublicAddress(host)
      ? { ok: true, url }
      : { ok: false, reason: 'must not point at a private, loopback, link-local or reserved address' };
  }
  if (isInternalHostname(host)) return { ok: false, reason: 'must not point at an internal host name' };
  return { ok: true, url };
};
