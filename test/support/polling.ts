import { expect } from 'vitest';

/** Reads until `done` holds, every 100 ms, for at most 30 s (then fails saying what it waited for and what it saw). */
export const until = async <T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
): Promise<T> => {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

/** A response's JSON body, once its status is the one expected (the body in the failure message). */
export const jsonOf = async <T>(response: Response, status: number): Promise<T> => {
  const body = await response.text();
  expect(response.status, body).toBe(status);
  return JSON.parse(body) as T;
};
