import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateWebhookSecret,
  isPublicAddress,
  signWebhook,
  validateWebhookUrl,
  verifyWebhookSignature,
} from '#domain/webhooks.ts';

const secret = 'whsec_test_secret';
const body = '{"event":"execution.completed","id":"evt_1"}';
const t = 1_700_000_000;

/** The recipe a receiver implements: hex(HMAC_SHA256(secret, t + "." + raw body)). */
const expectedV1 = (key: string, timestamp: number, raw: string): string =>
  createHmac('sha256', key).update(`${timestamp}.${raw}`).digest('hex');

describe('generateWebhookSecret', () => {
  it('is whsec_ and 32 random bytes in base64url', () => {
    const generated = generateWebhookSecret();
    expect(generated).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(generated.slice('whsec_'.length), 'base64url')).toHaveLength(32);
  });

  it('never repeats', () => {
    const many = new Set(Array.from({ length: 200 }, generateWebhookSecret));
    expect(many.size).toBe(200);
  });
});

describe('signWebhook', () => {
  it('is t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    expect(signWebhook(secret, body, t)).toBe(`t=${t},v1=${expectedV1(secret, t, body)}`);
  });

  it('matches a fixed vector, checked with `openssl dgst -sha256 -hmac`: the wire format is pinned', () => {
    expect(signWebhook(secret, body, t)).toBe(
      't=1700000000,v1=a522e50118ac77be189248a928d5ce806d435331d5811a6cf0084efb9c493114',
    );
  });

  it('signs the UTF-8 bytes of the body', () => {
    const unicode = '{"text":"héllo ✓ 🚂"}';
    const header = signWebhook(secret, unicode, t);
    expect(header).toBe(`t=${t},v1=${expectedV1(secret, t, unicode)}`);
    expect(verifyWebhookSignature(secret, Buffer.from(unicode, 'utf8'), header, { nowSeconds: t })).toBe(
      true,
    );
  });

  it('gives one v1 entry per secret while a secret rotates', () => {
    const header = signWebhook(['whsec_old', 'whsec_new'], body, t);
    expect(header).toBe(
      `t=${t},v1=${expectedV1('whsec_old', t, body)},v1=${expectedV1('whsec_new', t, body)}`,
    );
  });

  it('refuses timestamps that would not round-trip, and no secret at all', () => {
    for (const bad of [1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expect(() => signWebhook(secret, body, bad)).toThrow(RangeError);
    }
    expect(() => signWebhook([], body, t)).toThrow(RangeError);
  });
});

describe('verifyWebhookSignature', () => {
  const header = signWebhook(secret, body, t);
  const at = { nowSeconds: t };

  it('accepts the signed body, as a string or as the raw bytes', () => {
    expect(verifyWebhookSignature(secret, body, header, at)).toBe(true);
    expect(verifyWebhookSignature(secret, Buffer.from(body), header, at)).toBe(true);
  });

  it('rejects a tampered body', () => {
    for (const tampered of [
      body.replace('evt_1', 'evt_2'),
      `${body} `,
      body.slice(0, -1),
      JSON.stringify(JSON.parse(body), null, 2),
      '',
    ]) {
      expect(verifyWebhookSignature(secret, tampered, header, at)).toBe(false);
    }
  });

  it('rejects the wrong secret', () => {
    expect(verifyWebhookSignature('whsec_other', body, header, at)).toBe(false);
    expect(verifyWebhookSignature(`${secret} `, body, header, at)).toBe(false);
  });

  it('rejects a timestamp changed after signing', () => {
    const moved = header.replace(`t=${t}`, `t=${t + 1}`);
    expect(verifyWebhookSignature(secret, body, moved, { nowSeconds: t + 1 })).toBe(false);
  });

  it('accepts up to the tolerance either way and rejects beyond it', () => {
    expect(verifyWebhookSignature(secret, body, header, { nowSeconds: t + 300 })).toBe(true);
    expect(verifyWebhookSignature(secret, body, header, { nowSeconds: t - 300 })).toBe(true);
    expect(verifyWebhookSignature(secret, body, header, { nowSeconds: t + 301 })).toBe(false);
    expect(verifyWebhookSignature(secret, body, header, { nowSeconds: t - 301 })).toBe(false);
    expect(verifyWebhookSignature(secret, body, header, { nowSeconds: t + 10, toleranceSeconds: 5 })).toBe(
      false,
    );
    expect(verifyWebhookSignature(secret, body, header, { nowSeconds: t + 5, toleranceSeconds: 5 })).toBe(
      true,
    );
  });

  it('uses the clock by default', () => {
    const now = Math.floor(Date.now() / 1000);
    expect(verifyWebhookSignature(secret, body, signWebhook(secret, body, now))).toBe(true);
    expect(verifyWebhookSignature(secret, body, header)).toBe(false);
  });

  it('rejects malformed headers without throwing', () => {
    const v1 = expectedV1(secret, t, body);
    for (const bad of [
      undefined,
      null,
      '',
      'garbage',
      `v1=${v1}`,
      `t=${t}`,
      `t=${t},`,
      `t=abc,v1=${v1}`,
      `t=-${t},v1=${v1}`,
      `t=${t}.0,v1=${v1}`,
      `t=${t},t=${t},v1=${v1}`,
      `t=${t},v1=${v1.slice(0, -2)}`,
      `t=${t},v1=${v1}00`,
      `t=${t},v1=${'z'.repeat(64)}`,
      `t=${t},v0=${v1}`,
      `t=${t};v1=${v1}`,
      `t=${t},v1=${v1},${'x'.repeat(5000)}`,
    ]) {
      expect(verifyWebhookSignature(secret, body, bad, at), String(bad)).toBe(false);
    }
  });

  it('tolerates spaces, upper-case hex and unknown schemes alongside v1', () => {
    const v1 = expectedV1(secret, t, body);
    expect(verifyWebhookSignature(secret, body, `t=${t}, v1=${v1}`, at)).toBe(true);
    expect(verifyWebhookSignature(secret, body, `t=${t},v1=${v1.toUpperCase()}`, at)).toBe(true);
    expect(verifyWebhookSignature(secret, body, `v2=abc,t=${t},v1=${v1}`, at)).toBe(true);
  });

  describe('rotation', () => {
    const rotating = signWebhook(['whsec_old', 'whsec_new'], body, t);

    it('accepts a header with two v1 entries under either secret', () => {
      expect(verifyWebhookSignature('whsec_old', body, rotating, at)).toBe(true);
      expect(verifyWebhookSignature('whsec_new', body, rotating, at)).toBe(true);
      expect(verifyWebhookSignature('whsec_other', body, rotating, at)).toBe(false);
    });

    it('lets a receiver mid-rotation hold several secrets', () => {
      const signedWithNew = signWebhook('whsec_new', body, t);
      expect(verifyWebhookSignature(['whsec_old', 'whsec_new'], body, signedWithNew, at)).toBe(true);
      expect(verifyWebhookSignature(['whsec_old', 'whsec_other'], body, signedWithNew, at)).toBe(false);
      expect(verifyWebhookSignature([], body, signedWithNew, at)).toBe(false);
    });

    it('still rejects a tampered body', () => {
      expect(verifyWebhookSignature('whsec_new', `${body}x`, rotating, at)).toBe(false);
    });
  });
});

describe('isPublicAddress', () => {
  // [address, public?]: both sides of every boundary.
  const v4: readonly (readonly [string, boolean])[] = [
    ['0.0.0.0', false],
    ['0.255.255.255', false],
    ['1.0.0.0', true],
    ['1.1.1.1', true],
    ['8.8.8.8', true],
    ['9.255.255.255', true],
    ['10.0.0.0', false],
    ['10.255.255.255', false],
    ['11.0.0.0', true],
    ['100.63.255.255', true],
    ['100.64.0.0', false],
    ['100.127.255.255', false],
    ['100.128.0.0', true],
    ['126.255.255.255', true],
    ['127.0.0.0', false],
    ['127.0.0.1', false],
    ['127.255.255.255', false],
    ['128.0.0.0', true],
    ['169.253.255.255', true],
    ['169.254.0.0', false],
    ['169.254.169.254', false],
    ['169.254.255.255', false],
    ['169.255.0.0', true],
    ['172.15.255.255', true],
    ['172.16.0.0', false],
    ['172.31.255.255', false],
    ['172.32.0.0', true],
    ['191.255.255.255', true],
    ['192.0.0.0', false],
    ['192.0.0.255', false],
    ['192.0.1.0', true],
    ['192.0.1.255', true],
    ['192.0.2.0', false],
    ['192.0.2.255', false],
    ['192.0.3.0', true],
    ['192.88.98.255', true],
    ['192.88.99.0', false],
    ['192.88.99.255', false],
    ['192.88.100.0', true],
    ['192.167.255.255', true],
    ['192.168.0.0', false],
    ['192.168.1.1', false],
    ['192.168.255.255', false],
    ['192.169.0.0', true],
    ['198.17.255.255', true],
    ['198.18.0.0', false],
    ['198.19.255.255', false],
    ['198.20.0.0', true],
    ['198.51.99.255', true],
    ['198.51.100.0', false],
    ['198.51.100.255', false],
    ['198.51.101.0', true],
    ['203.0.112.255', true],
    ['203.0.113.0', false],
    ['203.0.113.255', false],
    ['203.0.114.0', true],
    ['223.255.255.255', true],
    ['224.0.0.0', false],
    ['239.255.255.255', false],
    ['240.0.0.0', false],
    ['255.255.255.254', false],
    ['255.255.255.255', false],
  ];

  const v6: readonly (readonly [string, boolean])[] = [
    ['::', false],
    ['::1', false],
    ['0:0:0:0:0:0:0:1', false],
    ['fe80::1', false],
    ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['fe80::1%eth0', false],
    ['fec0::1', false],
    ['fc00::', false],
    ['fd12:3456:789a::1', false],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['ff02::1', false],
    ['ff0e::101', false],
    ['100::1', false],
    // Global unicast is 2000::/3 and nothing else.
    ['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['2000::1', true],
    ['3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['4000::1', false],
    ['2606:4700:4700::1111', true],
    ['2001:4860:4860::8888', true],
    ['2a00:1450:4001:80b::200e', true],
    // 2001::/23 (Teredo, benchmarking, ORCHID) and the documentation blocks.
    ['2001::1', false],
    ['2001:2::1', false],
    ['2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['2001:200::1', true],
    ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2001:db8::', false],
    ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['2001:db9::', true],
    ['3ffe:ffff::1', true],
    ['3fff::1', false],
    ['3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['3fff:1000::', true],
    // IPv4-mapped: the embedded IPv4 address decides, written either way.
    ['::ffff:10.0.0.1', false],
    ['::ffff:a00:1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:169.254.169.254', false],
    ['0:0:0:0:0:ffff:c0a8:101', false],
    ['::ffff:8.8.8.8', true],
    ['::ffff:808:808', true],
    ['::ffff:100.63.255.255', true],
    ['::ffff:100.64.0.0', false],
    // NAT64 well-known prefix: likewise; its local-use sibling 64:ff9b:1::/48 is never public.
    ['64:ff9b::10.0.0.1', false],
    ['64:ff9b::a9fe:a9fe', false],
    ['64:ff9b::7f00:1', false],
    ['64:ff9b::8.8.8.8', true],
    ['64:ff9b::172.15.255.255', true],
    ['64:ff9b::172.16.0.0', false],
    ['64:ff9b:1::8.8.8.8', false],
    // 6to4 carries an IPv4 address in bits 16-47.
    ['2002:a00:1::1', false],
    ['2002:7f00:1::', false],
    ['2002:808:808::1', true],
    // IPv4-compatible (deprecated) and IPv4-translated forms are not global unicast.
    ['::10.0.0.1', false],
    ['::8.8.8.8', false],
    ['::ffff:0:8.8.8.8', false],
  ];

  it.each(v4)('IPv4 %s public: %s', (ip, expected) => {
    expect(isPublicAddress(ip)).toBe(expected);
  });

  it.each(v6)('IPv6 %s public: %s', (ip, expected) => {
    expect(isPublicAddress(ip)).toBe(expected);
  });

  it('is false for anything that is not an address literal', () => {
    for (const bad of [
      '',
      'localhost',
      'example.com',
      '1.2.3',
      '256.1.1.1',
      '010.8.8.8',
      '0x08.8.8.8',
      ' 8.8.8.8',
      '8.8.8.8 ',
      '[2606:4700:4700::1111]',
      '2606:4700:4700::1111::1',
      '8.8.8.8/32',
    ]) {
      expect(isPublicAddress(bad), bad).toBe(false);
    }
  });
});

describe('validateWebhookUrl', () => {
  const strict = { allowPrivate: false };
  const local = { allowPrivate: true };

  it('accepts public https URLs and returns the normalised URL', () => {
    for (const [raw, href] of [
      ['https://hooks.example.com/switchyard?agent=1', 'https://hooks.example.com/switchyard?agent=1'],
      ['https://Hooks.Example.COM:8443/in', 'https://hooks.example.com:8443/in'],
      ['https://hooks.example.com:443', 'https://hooks.example.com/'],
      ['https://bücher.example/hook', 'https://xn--bcher-kva.example/hook'],
      ['https://8.8.8.8/hook', 'https://8.8.8.8/hook'],
      ['https://[2606:4700:4700::1111]/hook', 'https://[2606:4700:4700::1111]/hook'],
      ['https://hooks.example.com./x', 'https://hooks.example.com./x'],
    ] as const) {
      const result = validateWebhookUrl(raw, strict);
      expect(result, raw).toEqual({ ok: true, url: new URL(href) });
      if (result.ok) expect(result.url.href).toBe(href);
    }
  });

  // [url, reason] with allowPrivate false.
  const refused: readonly (readonly [string, string])[] = [
    ['', 'must be an absolute URL'],
    ['not a url', 'must be an absolute URL'],
    ['/relative/path', 'must be an absolute URL'],
    ['https://', 'must be an absolute URL'],
    ['https://1.2.3.256/', 'must be an absolute URL'],
    ['http://hooks.example.com/', 'must use https'],
    ['ftp://hooks.example.com/', 'must use https'],
    ['javascript:alert(1)', 'must use https'],
    ['file:///etc/passwd', 'must use https'],
    ['wss://hooks.example.com/', 'must use https'],
    ['https://user:pass@hooks.example.com/', 'must not contain credentials'],
    ['https://user@hooks.example.com/', 'must not contain credentials'],
    ['https://:pass@hooks.example.com/', 'must not contain credentials'],
    ['https://127.0.0.1/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://10.1.2.3:8443/x', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://172.16.0.1/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://192.168.1.1/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://100.64.0.1/', 'must not point at a private, loopback, link-local or reserved address'],
    [
      'https://169.254.169.254/latest/meta-data/',
      'must not point at a private, loopback, link-local or reserved address',
    ],
    ['https://0/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://0x7f.1/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://2130706433/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://017700000001/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://[::1]/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://[::]/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://[::ffff:127.0.0.1]/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://[fd00:ec2::254]/', 'must not point at a private, loopback, link-local or reserved address'],
    ['https://[fe80::1]/', 'must not point at a private, loopback, link-local or reserved address'],
    [
      'https://[64:ff9b::a9fe:a9fe]/',
      'must not point at a private, loopback, link-local or reserved address',
    ],
    ['https://localhost/', 'must not point at an internal host name'],
    ['https://LOCALHOST./', 'must not point at an internal host name'],
    ['https://localhost:8443/hook', 'must not point at an internal host name'],
    ['https://api.localhost/', 'must not point at an internal host name'],
    ['https://printer.local/', 'must not point at an internal host name'],
    ['https://metadata.google.internal/computeMetadata/v1/', 'must not point at an internal host name'],
    ['https://ip-10-0-0-1.ec2.internal/', 'must not point at an internal host name'],
    ['https://router.home.arpa/', 'must not point at an internal host name'],
    ['https://db.localdomain/', 'must not point at an internal host name'],
    ['https://intranet/', 'must not point at an internal host name'],
    ['https://metadata/', 'must not point at an internal host name'],
  ];

  it.each(refused)('refuses %s: %s', (raw, reason) => {
    expect(validateWebhookUrl(raw, strict)).toEqual({ ok: false, reason });
  });

  it('caps the length at 2048 characters', () => {
    const base = 'https://hooks.example.com/';
    const exactly = base + 'a'.repeat(2048 - base.length);
    expect(validateWebhookUrl(exactly, strict).ok).toBe(true);
    expect(validateWebhookUrl(`${exactly}a`, strict)).toEqual({
      ok: false,
      reason: 'must be at most 2048 characters',
    });
  });

  it('in local mode, allows http and private, loopback and internal hosts', () => {
    for (const raw of [
      'http://127.0.0.1:8080/hook',
      'http://localhost:3000/',
      'https://[::1]/',
      'http://10.0.0.5/',
      'http://metadata.google.internal/',
      'http://receiver/',
      'https://hooks.example.com/',
    ]) {
      expect(validateWebhookUrl(raw, local).ok, raw).toBe(true);
    }
  });

  it('in local mode, still refuses other schemes and credentials', () => {
    expect(validateWebhookUrl('ftp://127.0.0.1/', local)).toEqual({
      ok: false,
      reason: 'must use http or https',
    });
    expect(validateWebhookUrl('http://u:p@127.0.0.1/', local)).toEqual({
      ok: false,
      reason: 'must not contain credentials',
    });
    expect(validateWebhookUrl('nope', local)).toEqual({ ok: false, reason: 'must be an absolute URL' });
  });
});
