/**
 * How long a server asked us to wait, in ms from `now`: OpenAI's `retry-after-ms`, else the
 * standard `Retry-After` as seconds or as an HTTP date. Undefined when absent or unreadable.
 */
export const parseRetryAfter = (
  header: (name: string) => string | null | undefined,
  now: number = Date.now(),
): number | undefined => {
  const millis = header('retry-after-ms')?.trim();
  if (millis && /^\d+(\.\d+)?$/.test(millis)) return Math.ceil(Number(millis));
  const value = header('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
};
