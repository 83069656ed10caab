import * as z from 'zod/mini';
import { dayParam, pageQuery } from '../query.ts';
import { defineRoutes } from '../route.ts';
import { json } from './responses.ts';

const dayMs = 86_400_000;
const isoDay = (date: Date) => date.toISOString().slice(0, 10);
/** The longest range `/v1/usage` answers, in days. */
export const maxUsageRangeDays = 366;

/** `from`/`to` of /v1/usage: defaults (the 30 days to today) and the range's bounds. */
/** `from`/`to` of /v1/usage, built with the routes. */
const usageRange = () =>
  z.pipe(
    z.object({
      to: dayParam('Last day (default: today, UTC)'),
      from: dayParam('First day (default: 29 days before to)'),
    }),
    z.transform(({ to: asked, from: askedFrom }, ctx) => {
      const to = asked ?? isoDay(new Date());
      const from = askedFrom ?? isoDay(new Date(Date.parse(to) - 29 * dayMs));
      const span = (Date.parse(to) - Date.parse(from)) / dayMs;
      const refuse = (message: string) =>
        ctx.issues.push({ code: 'custom', message, input: from, path: ['from'] });
      if (span < 0) refuse('must not be after to');
      if (span >= maxUsageRangeDays) refuse(`the range may span at most ${maxUsageRangeDays} days`);
      return { from, to };
    }),
  );

export const activityRoutes = /* @__PURE__ */ defineRoutes(
  'activity',
  ({ auditItemSchema, pageOf, usageSchema }) => [
    {
      method: 'GET',
      path: '/v1/usage',
      auth: 'tenant',
      summary: 'Usage and cost rollups',
      query: usageRange(),
      responses: { 200: json('Daily rollups per agent and model, with totals', usageSchema) },
    },
    {
      method: 'GET',
      path: '/v1/audit',
      auth: 'tenant',
      summary: "The tenant's audit trail",
      query: pageQuery({ min: 1, max: 100, fallback: 50 }),
      responses: { 200: json('A page of audit events, newest first', pageOf(auditItemSchema)) },
    },
  ],
);
