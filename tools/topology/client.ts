import * as http from 'node:http';
import * as https from 'node:https';

/**
 * HTTPS through the topology's Ingress (its self-signed CA), keep-alive, bounded; without `ca`,
 * plain HTTP (a replica's own port).
 */
export class IngressClient {
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;

  constructor(
    private readonly url: string,
    ca?: string,
  ) {
    this.agent = ca === undefined ? new http.Agent({ keepAlive: true, maxSockets: 16 }) : new https.Agent({ ca, keepAlive: true, maxSockets: 16, minVersion: 'TLSv1.3' });
    this.request = ca === undefined ? http.request : https.request;
  }

  /** POSTs JSON; resolves with the status and body, rejects on a transport error (reset, refused). */
  post(path: string, body: unknown, timeoutMs = 5_000, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = this.request(`${this.url}${path}`, { method: 'POST', agent: this.agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }, timeout: timeoutMs }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            parsed = { raw: text.slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** What a client may retry: the failover window's answers (502/503/504) and transport errors. */
export const retryable = (outcome: { status: number } | Error): boolean => (outcome instanceof Error ? true : [502, 503, 504].includes(outcome.status));
