import { describe, expect, it } from 'vitest';
import { poolTarget } from '#adapters/postgres/db.ts';

describe('poolTarget', () => {
  it('uses the URL as it is without a secret', () => {
    expect(poolTarget('postgres://u:p@127.0.0.1:5433/db', undefined)).toEqual({
      connectionString: 'postgres://u:p@127.0.0.1:5433/db',
    });
  });

  it('takes the URL apart with a secret, so the password comes from the secret and TLS stays on', () => {
    const target = poolTarget(
      'postgresql://switchyard@proxy.example.internal:5432/switch%20yard?sslmode=verify-full',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db',
    );
    expect(target).toMatchObject({
      host: 'proxy.example.internal',
      port: 5432,
      database: 'switch yard',
      user: 'switchyard',
      ssl: true,
    });
    expect(typeof target.password).toBe('function');
    expect(target).not.toHaveProperty('connectionString');
  });

  it('defaults the port and leaves TLS off when the URL says so', () => {
    const target = poolTarget('postgresql://app@db.internal/app?sslmode=disable', 'arn:secret');
    expect(target.port).toBe(5432);
    expect(target).not.toHaveProperty('ssl');
  });
});
