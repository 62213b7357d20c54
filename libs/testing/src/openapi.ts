import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { REPO_ROOT } from './processes';

type Json = Record<string, unknown>;
const HTTP_METHODS = ['get', 'post', 'put', 'delete', 'patch', 'head', 'options', 'trace'];

const SPEC_PATH = join(REPO_ROOT, 'openapi/ctp-api.yaml');

function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === 'object') {
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = k === '$ref' && typeof v === 'string' ? v.replace('#/components/schemas/', 'ctp#/$defs/') : rewriteRefs(v);
    }
    return out;
  }
  return node;
}

/**
 * Validates real responses against openapi/ctp-api.yaml: the documented status must
 * exist for the operation, the content type must match, and the body must satisfy
 * the schema (JSON Schema 2020-12, as OpenAPI 3.1 defines it).
 */
export class OpenApiContract {
  readonly spec: Json;
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();
  readonly seen = new Set<string>();

  constructor(specPath = SPEC_PATH) {
    this.spec = parse(readFileSync(specPath, 'utf8')) as Json;
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    const schemas = ((this.spec.components as Json | undefined)?.schemas ?? {}) as Json;
    this.ajv.addSchema({ $id: 'ctp', $defs: rewriteRefs(schemas) as Json });
  }

  private response(path: string, method: string, status: number): Json {
    const operation = ((this.spec.paths as Json)[path] as Json | undefined)?.[method.toLowerCase()] as Json | undefined;
    if (!operation) throw new Error(`OpenAPI has no operation ${method} ${path}`);
    const responses = operation.responses as Json;
    let response = (responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default) as Json | undefined;
    if (!response) throw new Error(`OpenAPI documents no ${status} response for ${method} ${path}`);
    if (typeof response.$ref === 'string') {
      const name = response.$ref.replace('#/components/responses/', '');
      response = ((this.spec.components as Json).responses as Json)[name] as Json;
    }
    return response;
  }

  /** Throws unless `body` (parsed JSON) is a documented response of the operation. */
  validate(method: string, path: string, status: number, contentType: string, body: unknown): void {
    const response = this.response(path, method, status);
    const media = contentType.split(';')[0]!.trim();
    const content = response.content as Json | undefined;
    const entry = content?.[media] as Json | undefined;
    if (!entry) throw new Error(`${method} ${path} ${status}: content type ${media} is not documented (${Object.keys(content ?? {}).join(', ')})`);
    const key = `${method} ${path} ${status} ${media}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(rewriteRefs(entry.schema) as Json);
      this.compiled.set(key, validate);
    }
    if (!validate(body)) {
      throw new Error(`${key} does not match the OpenAPI schema: ${this.ajv.errorsText(validate.errors)}\nbody: ${JSON.stringify(body).slice(0, 500)}`);
    }
    this.seen.add(`${method.toUpperCase()} ${path} ${status}`);
  }

  /** Compiles any schema of the document (its `#/components/schemas/` refs resolve). */
  compile(schema: unknown): ValidateFunction {
    return this.ajv.compile(rewriteRefs(schema) as Json);
  }

  /** Every documented operation. */
  operations(): { path: string; method: string; operation: Json }[] {
    const out: { path: string; method: string; operation: Json }[] = [];
    for (const [path, item] of Object.entries(this.spec.paths as Json)) {
      for (const [method, operation] of Object.entries(item as Json)) {
        if (HTTP_METHODS.includes(method)) out.push({ path, method: method.toUpperCase(), operation: operation as Json });
      }
    }
    return out;
  }

  /**
   * Throws unless a whole exchange is documented: like `validate`, and also
   * - a method the path has no operation for answers what the API description
   *   promises: `405` with an `Allow` header naming the documented methods on
   *   paths whose operations document `405`, `404 not_found` on the others;
   * - `HEAD` answers like `GET` without a body;
   * - response headers documented with a schema match it when present, and
   *   `Allow` (405) and `WWW-Authenticate` (401) are present.
   * `body` is the parsed JSON body, or the text for non-JSON media types.
   */
  validateExchange(exchange: { method: string; path: string; status: number; contentType: string; headers: Record<string, string | string[] | undefined>; body: unknown }): void {
    const { path, status, contentType, headers } = exchange;
    const method = exchange.method.toUpperCase();
    const item = (this.spec.paths as Json)[path] as Json | undefined;
    if (!item) throw new Error(`OpenAPI has no path ${path}`);
    const documented = Object.keys(item).filter((m) => HTTP_METHODS.includes(m));
    const asMethod = method === 'HEAD' && documented.includes('get') ? 'GET' : method;
    const label = `${method} ${path} ${status}`;
    let responseFor: string;
    if (documented.includes(asMethod.toLowerCase())) {
      responseFor = asMethod;
    } else {
      const with405 = documented.filter((m) => ((item[m] as Json).responses as Json)['405'] !== undefined);
      const expected = with405.length > 0 ? 405 : 404;
      // A path parameter the router cannot even decode (e.g. `%ZZ`) is a 400 whatever the method.
      const with400 = path.includes('{') ? documented.filter((m) => ((item[m] as Json).responses as Json)['400'] !== undefined) : [];
      if (status === 400 && with400.length > 0) {
        responseFor = with400[0]!.toUpperCase();
      } else if (status !== expected) {
        throw new Error(`${label}: a method without an operation must answer ${expected}`);
      } else if (expected === 405) {
        const allow = String(headers.allow ?? '');
        const allowed = documented.map((m) => m.toUpperCase());
        if (allow.split(',').map((m) => m.trim()).sort().join(',') !== allowed.sort().join(',')) throw new Error(`${label}: Allow is ${JSON.stringify(allow)}, expected ${allowed.join(', ')}`);
        responseFor = with405[0]!.toUpperCase();
      } else {
        responseFor = '';
      }
    }
    if (status === 401 && headers['www-authenticate'] === undefined) throw new Error(`${label}: 401 without WWW-Authenticate`);
    if (status === 405 && headers.allow === undefined) throw new Error(`${label}: 405 without Allow`);
    if (responseFor === '') {
      // 404 on a path whose other methods are not routed: the NotFound problem.
      const notFound = ((this.spec.components as Json).responses as Json).NotFound as Json;
      this.checkMedia(label, notFound, contentType, method === 'HEAD' ? undefined : exchange.body);
      return;
    }
    const response = this.response(path, responseFor, status);
    this.checkMedia(label, response, contentType, method === 'HEAD' ? undefined : exchange.body);
    for (const [name, header] of Object.entries((response.headers ?? {}) as Json)) {
      const value = headers[name.toLowerCase()];
      if (value === undefined) continue;
      let h = header as Json;
      if (typeof h.$ref === 'string') h = this.deref(h.$ref) as Json;
      if (h.schema && !this.compileCached(`header ${name} ${JSON.stringify(h.schema)}`, h.schema)(Array.isArray(value) ? value.join(', ') : value)) {
        throw new Error(`${label}: header ${name}: ${JSON.stringify(value)} does not match ${JSON.stringify(h.schema)}`);
      }
    }
    this.seen.add(`${method} ${path} ${status}`);
  }

  private deref(ref: string): unknown {
    let node: unknown = this.spec;
    for (const part of ref.replace(/^#\//, '').split('/')) node = (node as Json)[part];
    return node;
  }

  private compileCached(key: string, schema: unknown): ValidateFunction {
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.compile(schema);
      this.compiled.set(key, validate);
    }
    return validate;
  }

  private checkMedia(label: string, response: Json, contentType: string, body: unknown): void {
    let r = response;
    if (typeof r.$ref === 'string') r = this.deref(r.$ref) as Json;
    const content = r.content as Json | undefined;
    if (!content) {
      if (contentType) throw new Error(`${label}: documented without content, got ${contentType}`);
      return;
    }
    const media = contentType.split(';')[0]!.trim();
    const entry = content[media] as Json | undefined;
    if (!entry) throw new Error(`${label}: content type ${JSON.stringify(media)} is not documented (${Object.keys(content).join(', ')})`);
    if (body === undefined) return;
    const validate = this.compileCached(`${label} ${media} ${JSON.stringify(entry.schema)}`, entry.schema);
    if (!validate(body)) {
      throw new Error(`${label} ${media} does not match the OpenAPI schema: ${this.ajv.errorsText(validate.errors)}\nbody: ${JSON.stringify(body).slice(0, 500)}`);
    }
  }

  /** Every documented (method, path, status). */
  documented(): string[] {
    const out: string[] = [];
    for (const [path, item] of Object.entries(this.spec.paths as Json)) {
      for (const [method, op] of Object.entries(item as Json)) {
        if (!HTTP_METHODS.includes(method)) continue;
        for (const status of Object.keys((op as Json).responses as Json)) out.push(`${method.toUpperCase()} ${path} ${status}`);
      }
    }
    return out;
  }
}
