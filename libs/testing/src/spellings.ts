import { request } from 'node:http';

/**
 * Other spellings of `path` that a lenient router (or a proxy in front of it) may take for the
 * same resource: a trailing slash, letter case, doubled or dot segments, percent-encoded letters
 * and `;` parameters or other suffixes. A service must answer each of them as an unknown path,
 * never reach the handler through it past its rate limit or auth. `template` marks parameter
 * segments (`/ledger/entries/{seq}`): those are left as they are, since changing them names
 * another resource rather than spelling this one differently.
 */
export function pathSpellings(path: string, template = path): string[] {
  const segments = path.split('/').slice(1);
  const literal = template.split('/').slice(1).map((s) => !s.startsWith('{'));
  const join = (parts: string[]) => `/${parts.join('/')}`;
  const mapLiteral = (f: (segment: string, i: number) => string) => join(segments.map((s, i) => (literal[i] ? f(s, i) : s)));
  const lastLiteral = literal.lastIndexOf(true);
  const hex = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  const spellings = [
    `${path}/`,
    `${path}//`,
    mapLiteral((s) => s.toUpperCase()),
    mapLiteral((s, i) => (i === lastLiteral ? s.charAt(0).toUpperCase() + s.slice(1) : s)),
    `/${path}`,
    join(segments.map((s, i) => (i === lastLiteral && i > 0 ? `/${s}` : s))),
    `/.${path}`,
    `/x/..${path}`,
    mapLiteral((s, i) => (i === lastLiteral ? s.replace(/[a-z]/, hex) : s)),
    mapLiteral((s) => s.replace(/./g, hex)),
    ...(literal[segments.length - 1] ? [`${path};x=1`, `${path}%2f`, `${path}%20`, `${path}.json`] : []),
  ];
  return [...new Set(spellings)].filter((s) => s !== path);
}

/** One HTTP request with the path sent exactly as given (fetch would normalise dot segments and more). */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The status of every other spelling of `path`; a strict service answers 404 to each. */
export async function spellingStatuses(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
  template = path,
): Promise<Record<string, number>> {
  const statuses: Record<string, number> = {};
  for (const spelling of pathSpellings(path, template)) statuses[spelling] = (await rawRequest(baseUrl, method, spelling, headers, body)).status;
  return statuses;
}

/** What `spellingStatuses` returns for a strict service: 404 for each spelling. */
export const allNotFound = (path: string, template = path): Record<string, number> => Object.fromEntries(pathSpellings(path, template).map((s) => [s, 404]));
