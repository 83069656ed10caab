/**
 * API Gateway HTTP API route matching, shared by the local gateway and the deployed fallback function.
 * Pure: no I/O, no node:http. Templates are compiled once into a segment trie.
 */
import type { FunctionName, RouteDef } from '#manifest';

export type RouteMatch =
  | { kind: 'route'; routeKey: string; function: FunctionName; pathParameters: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

export interface RouteTable {
  /** `path` is the raw request path (no query string), still percent-encoded. */
  match(method: string, path: string): RouteMatch;
}

export type RouteInput = Pick<RouteDef, 'method' | 'path' | 'function'>;

interface Endpoint {
  readonly routeKey: string;
  readonly function: FunctionName;
  /** Names of the template's `{param}` segments, in path order. */
  readonly paramNames: readonly string[];
}

interface TrieNode {
  literals: Map<string, TrieNode> | undefined;
  param: TrieNode | undefined;
  endpoints: Map<string, Endpoint> | undefined;
}

const PARAM_SEGMENT = /^\{([A-Za-z0-9_.-]+)\}$/;

const newNode = (): TrieNode => ({ literals: undefined, param: undefined, endpoints: undefined });

/** Percent-decodes a path parameter; malformed escapes are passed through as sent. */
const decodeSegment = (value: string): string => {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

const parseTemplate = (path: string): { segments: string[]; paramIndexes: Set<number>; names: string[] } => {
  if (!path.startsWith('/')) throw new Error(`Route path must start with '/': ${path}`);
  const segments = path.split('/');
  const paramIndexes = new Set<number>();
  const names: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const param = PARAM_SEGMENT.exec(segment);
    if (param) {
      const name = param[1]!;
      if (names.includes(name)) throw new Error(`Duplicate path parameter {${name}} in ${path}`);
      names.push(name);
      paramIndexes.add(i);
    } else if (segment.includes('{') || segment.includes('}')) {
      // API Gateway rejects partial-segment variables; greedy {proxy+} is not needed by this API.
      throw new Error(`Unsupported path template segment '${segment}' in ${path}`);
    }
  }
  return { segments, paramIndexes, names };
};

interface WalkState {
  readonly method: string;
  readonly segments: readonly string[];
  /** Raw values of the param segments on the current trie path. */
  readonly values: string[];
  found: Endpoint | undefined;
  /** Methods of every template that matches the path, for the Allow list. */
  allowed: Set<string> | undefined;
}

/**
 * Depth-first, literal child before param child, so the left-most literal segment decides precedence
 * (`/v1/agents/me` beats `/v1/agents/{id}`). Stops at the first template that has the method.
 */
const walk = (state: WalkState, node: TrieNode, index: number): boolean => {
  if (index === state.segments.length) {
    if (!node.endpoints) return false;
    const endpoint = node.endpoints.get(state.method);
    if (endpoint) {
      state.found = endpoint;
      return true;
    }
    state.allowed ??= new Set();
    for (const m of node.endpoints.keys()) state.allowed.add(m);
    return false;
  }
  const segment = state.segments[index]!;
  const literal = node.literals?.get(segment);
  if (literal && walk(state, literal, index + 1)) return true;
  // A param matches one non-empty segment, so `/v1/agents/` never matches `/v1/agents/{id}`.
  if (node.param && segment !== '') {
    state.values.push(segment);
    if (walk(state, node.param, index + 1)) return true;
    state.values.pop();
  }
  return false;
};

export const createRouteTable = (routes: readonly RouteInput[]): RouteTable => {
  const root = newNode();
  // Fully literal templates, keyed by path: the common case skips the trie walk entirely.
  const staticRoutes = new Map<string, Map<string, Endpoint>>();

  for (const route of routes) {
    const { segments, paramIndexes, names } = parseTemplate(route.path);
    let node = root;
    for (let i = 1; i < segments.length; i++) {
      if (paramIndexes.has(i)) {
        node.param ??= newNode();
        node = node.param;
      } else {
        node.literals ??= new Map();
        let next = node.literals.get(segments[i]!);
        if (!next) {
          next = newNode();
          node.literals.set(segments[i]!, next);
        }
        node = next;
      }
    }
    node.endpoints ??= new Map();
    if (node.endpoints.has(route.method)) {
      throw new Error(`Duplicate route ${route.method} ${route.path} (same shape as an existing route)`);
    }
    const endpoint: Endpoint = {
      routeKey: `${route.method} ${route.path}`,
      function: route.function,
      paramNames: names,
    };
    node.endpoints.set(route.method, endpoint);
    if (names.length === 0) {
      let byMethod = staticRoutes.get(route.path);
      if (!byMethod) {
        byMethod = new Map();
        staticRoutes.set(route.path, byMethod);
      }
      byMethod.set(route.method, endpoint);
    }
  }

  return {
    match(method, path) {
      // A fully literal template is the most specific match possible, so it wins outright.
      const exact = staticRoutes.get(path)?.get(method);
      if (exact)
        return { kind: 'route', routeKey: exact.routeKey, function: exact.function, pathParameters: {} };
      if (path.charCodeAt(0) !== 47 /* '/' */) return { kind: 'not-found' };

      const state: WalkState = {
        method,
        segments: path.split('/'),
        values: [],
        found: undefined,
        allowed: undefined,
      };
      const found = walk(state, root, 1) ? state.found : undefined;
      if (found) {
        const pathParameters: Record<string, string> = {};
        const names = found.paramNames;
        for (let i = 0; i < names.length; i++) pathParameters[names[i]!] = decodeSegment(state.values[i]!);
        return { kind: 'route', routeKey: found.routeKey, function: found.function, pathParameters };
      }
      if (state.allowed) return { kind: 'method-not-allowed', allow: [...state.allowed].sort() };
      return { kind: 'not-found' };
    },
  };
};
