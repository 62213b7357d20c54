// Types of loadgen.mjs for the TypeScript benches (tools/bench/ledger.ts).
export interface PacedResult {
  samples: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  achieved_rate: number;
  pacing_lag_p99_ms: number;
  bad_responses: number;
  errors: number;
}
export function paced(options: {
  host?: string;
  port: number;
  path: string | ((i: number) => string);
  rate: number;
  durationMs: number;
  warmupMs?: number;
  body?: (i: number) => string | Buffer;
  check?: (status: number, body: Buffer) => boolean;
  maxConnections?: number;
  /** PEM CA: connect with TLS 1.3 trusting it (through the topology's Ingress). */
  tls?: string;
}): Promise<PacedResult>;
export function quantile(sorted: ArrayLike<number>, q: number): number;
