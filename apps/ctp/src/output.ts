/** How a command prints its result: human text, or one JSON object on stdout (`--json`). */
export interface Output {
  json: boolean;
}

/** The command ran and failed for a reason worth one line (exit 1). */
export class CliError extends Error {}

/** The command line itself is wrong (exit 2). */
export class UsageError extends Error {}

/** fetch that names the URL when the network fails (connection refused, DNS, timeout). */
export async function request(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(30_000), ...init });
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`, { cause: error });
  }
}
