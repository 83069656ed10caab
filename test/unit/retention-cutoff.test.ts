import { UUID } from 'uuidv7';
import { describe, expect, it } from 'vitest';
import { firstUuidV7At, utcDay } from '#adapters/postgres/retention.ts';
import { newId } from '#domain/ids.ts';

/** Byte order, as PostgreSQL compares uuids: for canonical lower-case hex, string order. */
const sortsBelow = (a: string, b: string) => a < b;

describe('the retention cutoff of UUIDv7 keys', () => {
  const ms = Date.UTC(2025, 0, 31, 23, 59, 59, 999);

  it('is the smallest UUIDv7 of the instant: timestamp, version 7, variant 10, zeros', () => {
    expect(firstUuidV7At(new Date(ms))).toBe(UUID.fromFieldsV7(ms, 0, 0, 0).toString());
    expect(firstUuidV7At(new Date(ms))).toBe('0194bece-9fff-7000-8000-000000000000');
    expect(firstUuidV7At(new Date(0))).toBe('00000000-0000-7000-8000-000000000000');
  });

  it('puts every id of the millisecond before it below, and every id of the cutoff millisecond and later not below', () => {
    const cutoff = firstUuidV7At(new Date(ms));
    const max = [2 ** 12 - 1, 2 ** 30 - 1, 2 ** 32 - 1] as const;
    expect(sortsBelow(UUID.fromFieldsV7(ms - 1, ...max).toString(), cutoff)).toBe(true);
    expect(sortsBelow(UUID.fromFieldsV7(ms, 0, 0, 0).toString(), cutoff)).toBe(false);
    expect(sortsBelow(UUID.fromFieldsV7(ms, ...max).toString(), cutoff)).toBe(false);
    const now = Date.now();
    const id = newId();
    expect(sortsBelow(id, firstUuidV7At(new Date(now - 1)))).toBe(false);
    expect(sortsBelow(id, firstUuidV7At(new Date(Date.now() + 1)))).toBe(true);
  });

  it('refuses instants no UUIDv7 can carry', () => {
    expect(() => firstUuidV7At(new Date(-1))).toThrow(RangeError);
    expect(() => firstUuidV7At(new Date(Number.NaN))).toThrow(RangeError);
  });

  it('ages daily rollups by the UTC day of the cutoff', () => {
    expect(utcDay(new Date(ms))).toBe('2025-01-31');
    expect(utcDay(new Date(ms + 1))).toBe('2025-02-01');
  });
});
