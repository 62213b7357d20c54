import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { REPO_ROOT } from './processes';

type Json = Record<string, unknown>;

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

  /** Every documented (method, path, status). */
  documented(): string[] {
    const out: string[] = [];
    for (const [path, item] of Object.entries(this.spec.paths as Json)) {
      for (const [method, op] of Object.entries(item as Json)) {
        if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
        for (const status of Object.keys((op as Json).responses as Json)) out.push(`${method.toUpperCase()} ${path} ${status}`);
      }
    }
    return out;
  }
}
