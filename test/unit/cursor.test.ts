import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '#domain/cursor.ts';

const id = '0190a5f4-7b2c-7d3e-8f40-123456789abc';

/** A cursor with any JSON payload, as a client could forge one. */
const forge = (payload: unknown): string =>
  Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');

describe('encodeCursor / decodeCursor', () => {
  it('round-trips the timestamp to the millisecond and the id', () => {
    const createdAt = new Date('2024-05-06T07:08:09.123Z');
    const decoded = decodeCursor(encodeCursor({ createdAt, id }));
    expect(decoded).toBeDefined();
    expect(decoded!.createdAt.getTime()).toBe(createdAt.getTime());
    expect(decoded!.createdAt.getUTCMilliseconds()).toBe(123);
    expect(decoded!.id).toBe(id);
  });

  it('round-trips the epoch and a far-future timestamp', () => {
    for (const createdAt of [new Date(0), new Date('9999-12-31T23:59:59.999Z')]) {
      expect(decodeCursor(encodeCursor({ createdAt, id }))).toEqual({ createdAt, id });
    }
  });

  it('produces an opaque base64url token, not readable JSON', () => {
    const cursor = encodeCursor({ createdAt: new Date('2024-01-01T00:00:00.000Z'), id });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain(id);
    expect(cursor.length).toBeLessThanOrEqual(200);
  });

  it('rejects garbage', () => {
    for (const cursor of ['', 'abc', 'not-a-cursor', 'AAAA', '____', forge('x').slice(0, -2)]) {
      expect(decodeCursor(cursor)).toBeUndefined();
    }
  });

  it('rejects payloads of the wrong shape', () => {
    const at = '2024-01-01T00:00:00.000Z';
    const shapes: unknown[] = [
      {},
      { createdAt: at, id },
      [],
      [at],
      [at, id, 'extra'],
      [id, at],
      [1704067200000, id],
      [at, 42],
      [at, null],
      [null, id],
      'a string',
      42,
      null,
    ];
    for (const shape of shapes) {
      expect(decodeCursor(forge(shape)), JSON.stringify(shape)).toBeUndefined();
    }
  });

  it('rejects ids that are not uuids', () => {
    const at = '2024-01-01T00:00:00.000Z';
    for (const bad of ['', 'agt_123', '0190a5f4-7b2c-7d3e-8f40-123456789ab', `${id}x`, "' OR 1=1 --"]) {
      expect(decodeCursor(forge([at, bad])), bad).toBeUndefined();
    }
  });

  it('rejects timestamps that are not dates', () => {
    for (const at of [
      '',
      'yesterday',
      'not-a-date',
      '2024-13-01T00:00:00.000Z',
      '2024-01-01T25:00:00.000Z',
    ]) {
      expect(decodeCursor(forge([at, id])), at).toBeUndefined();
    }
  });

  it('rejects impossible calendar dates and timestamps encodeCursor never produces', () => {
    // Date() rolls 30 February over to 1 March and reads "1" as 2001: not cursors this API issued.
    for (const at of ['2024-02-30T00:00:00.000Z', '1', '2024', 'Tue, 01 Jan 2024 00:00:00 GMT']) {
      expect(decodeCursor(forge([at, id])), at).toBeUndefined();
    }
  });

  it('rejects over-long input without decoding it', () => {
    const valid = encodeCursor({ createdAt: new Date('2024-01-01T00:00:00.000Z'), id });
    expect(decodeCursor(valid + 'A'.repeat(201 - valid.length))).toBeUndefined();
    expect(decodeCursor('A'.repeat(10_000))).toBeUndefined();
    // A well-formed payload padded with JSON whitespace to > 200 characters is still refused.
    const padded = Buffer.from(`["2024-01-01T00:00:00.000Z",${' '.repeat(150)}"${id}"]`).toString(
      'base64url',
    );
    expect(padded.length).toBeGreaterThan(200);
    expect(decodeCursor(padded)).toBeUndefined();
  });

  it('rejects characters outside the base64url alphabet', () => {
    const valid = encodeCursor({ createdAt: new Date('2024-01-01T00:00:00.000Z'), id });
    expect(decodeCursor(valid)).toBeDefined();
    for (const bad of [
      `${valid}=`,
      `${valid}==`,
      `+${valid}`,
      `/${valid}`,
      ` ${valid}`,
      `${valid}\n`,
      `${valid}.`,
    ]) {
      expect(decodeCursor(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});
