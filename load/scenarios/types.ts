/** What a scenario module provides to load/run.ts. */
import type { ThresholdOverrides } from '../report/thresholds.ts';

export interface CallOptions {
  readonly body?: unknown;
  /** The status (or statuses) that count as success; anything else (or a network error) is an error. */
  readonly expect: number | readonly number[];
  /** Read and parse the JSON body (only when the iteration needs something from it). */
  readonly json?: boolean;
  /**
   * A check of the parsed body (implies `json`) of a response whose status is expected: false
   * makes the sample an error too, as a failed k6 `check` counts in the k6 twins' `errors` rate.
   */
  readonly check?: (json: unknown, status: number) => boolean;
}

export interface CallResult {
  readonly ok: boolean;
  readonly status: number;
  readonly json: unknown;
}

export interface Http {
  /** Timed and recorded under `name`, which groups the summary rows and k6's `tags.name`. */
  call(
    name: string,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: CallOptions,
  ): Promise<CallResult>;
}

export type LoadShape =
  /** Target VUs at `elapsed` seconds of a run lasting `duration` with `vus` at most. */
  | { readonly kind: 'curve'; target(elapsed: number, duration: number, vus: number): number }
  /** VUs per step; load/run.ts stops at the first step that breaks the thresholds. */
  | { readonly kind: 'steps'; steps(vus: number): number[] };

export interface ScenarioRun {
  /** Untimed preparation (e.g. agents to read), through an Http that records nothing. */
  setup?(http: Http): Promise<void>;
  /** One virtual-user iteration. `vu` is 0-based; `iteration` counts that VU's iterations. */
  iteration(http: Http, vu: number, iteration: number): Promise<void>;
  /** Untimed clean-up, also after a failed run. */
  teardown?(http: Http): Promise<void>;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly defaults: { readonly duration: number; readonly vus: number };
  readonly shape: LoadShape;
  readonly overrides?: ThresholdOverrides;
  create(): ScenarioRun;
}

/** Returns the `id` of a JSON object body, or undefined. */
export const idOf = (json: unknown): string | undefined =>
  typeof json === 'object' && json !== null && typeof (json as { id?: unknown }).id === 'string'
    ? (json as { id: string }).id
    : undefined;
