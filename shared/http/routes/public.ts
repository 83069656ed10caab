import { defineRoutes } from '../route.ts';
import { json } from './responses.ts';

export const healthRoutes = /* @__PURE__ */ defineRoutes('health', ({ healthSchema }) => [
  {
    method: 'GET',
    path: '/health',
    auth: 'none',
    summary: 'Liveness and dependency status',
    responses: {
      200: json('Up: every dependency answers (ok), or all but an optional one (degraded)', healthSchema),
      503: json('Down: the database does not answer', healthSchema),
    },
  },
]);

export const openApiRoutes = /* @__PURE__ */ defineRoutes('openapi', ({ openApiDocumentSchema }) => [
  {
    method: 'GET',
    path: '/openapi.json',
    auth: 'none',
    summary: 'OpenAPI 3.1 document',
    responses: { 200: json('This document', openApiDocumentSchema) },
  },
]);
