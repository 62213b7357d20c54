import fc from 'fast-check';

/**
 * fast-check arbitraries generated from the JSON Schema 2020-12 subset that
 * openapi/ctp-api.yaml uses (type, const, enum, properties, required,
 * additionalProperties, items, minItems/maxItems, minLength/maxLength, pattern,
 * format date-time/uri/uuid, minimum/maximum, allOf, oneOf/anyOf, $ref), plus
 * hostile values and mutations meant to break those schemas. `valid()` yields
 * values the schema accepts (the unit test checks them with Ajv); `hostile()`
 * yields a mix of valid values and values a careless server might choke on.
 */

export type Json = Record<string, unknown>;
type Schema = Json | boolean;

/** A JSON fragment inserted verbatim by `toJsonText` (e.g. `1e309`, which JSON.stringify cannot write). */
export class RawJson {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Defines `key` as an own enumerable property even when it is `__proto__`. */
export function setOwn(target: Json, key: string, value: unknown): Json {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

/** JSON text of `value`, writing RawJson fragments verbatim and own `__proto__` keys as keys. */
export function toJsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : toJsonText(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const parts: string[] = [];
    for (const key of Object.keys(value)) {
      const v = (value as Json)[key];
      if (v !== undefined) parts.push(`${JSON.stringify(key)}:${toJsonText(v)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** Strings that have broken parsers, validators, loggers and databases before. */
export const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uD800',
  '\uDC00x',
  '\uDBFF\uDFFF',
  '\u202Eevil\u202C',
  '\u200B\u200D\uFEFF',
  'e\u0301\u0301\u0301',
  '\u{1F600}\u{1F4A9}',
  '١٢٣',
  '１２３',
  '"',
  '\\',
  '\\u0000',
  '","admin":true,"x":"',
  '"}]}',
  '{"$ne":null}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '1e309',
  '-1e309',
  '-0',
  'NaN',
  'Infinity',
  '0x10',
  '1e-400',
  '9007199254740993',
  '00000000000000000001',
  '-1',
  '0',
  'null',
  'true',
  'undefined',
  '[]',
  '{}',
  "' OR '1'='1' --",
  '; DROP TABLE ledger_entries; --',
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  '%s%n%x%d',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%00',
  '%2e%2e%2f',
  '%ZZ',
  '%',
  '%c0%ae',
  'a\r\nX-Injected: 1',
  '\t\n\r\u000b\u000c',
  'svc://',
  'svc://cx-ai/v1\u0000',
  'javascript:alert(1)',
  'http://169.254.169.254/latest/meta-data/',
  '2025-02-30T25:61:61Z',
  '2025-11-09T20:17:00+99:99',
  '9999-12-31T23:59:59.999999999Z',
  '0000-01-01T00:00:00Z',
  '2025-11-09t20:17:00z',
  'c0b3e1f8-4567-4890-abcd-1234567890aB',
  'C0B3E1F8-4567-4890-ABCD-1234567890AB',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'c0b3e1f8456748 90abcd1234567890ab',
  '\u0130\u0131\u017F\u212A',
];

/** Hostile strings, short random ones, random unicode (including lone surrogates) and huge ones. */
export function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...HOSTILE_STRINGS), fc.integer({ min: 100, max: 5000 })).map(([s, n]) => (s || 'A').repeat(n).slice(0, 20_000)) },
    { weight: 1, arbitrary: fc.integer({ min: 4090, max: 4100 }).map((n) => 'A'.repeat(n)) },
    { weight: 1, arbitrary: fc.integer({ min: 16_000, max: 17_000 }).map((n) => 'x'.repeat(n)) },
  );
}

/** Numbers JSON.stringify can write plus raw fragments it cannot (1e309, -0, huge exponents). */
export function hostileNumber(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom(0, -1, 1.5, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1e308, -1e308, 5e-324, 2 ** 64, 4294967296),
    fc.constantFrom('1e309', '-1e309', '-0', '1e-400', '123456789012345678901234567890', '0.0000000000000000000001', '1E+2', '-0.0').map((t) => new RawJson(t)),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
  );
}

/** Deeply nested arrays or objects (up to a few thousand levels, still under 16 KiB). */
export function deepNesting(): fc.Arbitrary<RawJson> {
  return fc.tuple(fc.boolean(), fc.integer({ min: 50, max: 5000 })).map(([arrays, depth]) => (arrays ? new RawJson('['.repeat(depth) + ']'.repeat(depth)) : new RawJson('{"a":'.repeat(depth) + '1' + '}'.repeat(depth))));
}

/** Any hostile JSON value: strings, numbers, wrong types, nesting, prototype-shaped objects. */
export function hostileValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 5, arbitrary: hostileString() },
    { weight: 2, arbitrary: hostileNumber() },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [null], [[]], { '': '' }) },
    { weight: 1, arbitrary: deepNesting() },
    { weight: 1, arbitrary: fc.constantFrom(...FORBIDDEN_KEYS).map((k) => setOwn({}, k, { polluted: true })) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.array(hostileString(), { maxLength: 40 }) },
  );
}

const KEYWORDS_MERGED = ['type', 'const', 'enum', 'pattern', 'format', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minimum', 'maximum', 'items', 'properties', 'required', 'additionalProperties'];
const KEYWORDS_IGNORED = new Set(['description', 'title', 'examples', 'example', '$defs', 'contentMediaType', 'deprecated', 'default']);

export interface SchemaArbitraryOptions {
  /** Per property name: extra values to mix in (e.g. real tokens for `token`). */
  hints?: Record<string, fc.Arbitrary<unknown>>;
}

/** Arbitraries for the schemas of one OpenAPI 3.1 document. */
export class SchemaArbitraries {
  constructor(
    readonly spec: Json,
    private readonly options: SchemaArbitraryOptions = {},
  ) {}

  /** The schema a local `$ref` (`#/components/...`) points at. */
  deref(ref: string): Schema {
    if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported: ${ref}`);
    let node: unknown = this.spec;
    for (const part of ref.slice(2).split('/')) node = (node as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (node === undefined) throw new Error(`unresolved $ref ${ref}`);
    return node as Schema;
  }

  /** The schema with `$ref` and `allOf` folded in (one level deep; properties stay lazy). */
  flatten(schema: Schema): Schema {
    if (typeof schema === 'boolean') return schema;
    let out: Json = {};
    const { $ref, allOf, ...rest } = schema;
    if (typeof $ref === 'string') out = merge(out, this.flatten(this.deref($ref)) as Json);
    if (Array.isArray(allOf)) {
      for (const part of allOf) {
        const flat = this.flatten(part as Schema);
        if (flat === false) return false;
        if (flat !== true) out = merge(out, flat);
      }
    }
    return merge(out, rest);
  }

  /** Values `schema` accepts. */
  valid(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
    const s = this.flatten(schema);
    if (s === true) return fc.jsonValue({ maxDepth: 2 });
    if (s === false) throw new Error('no value satisfies the schema `false`');
    for (const key of Object.keys(s)) {
      if (!KEYWORDS_MERGED.includes(key) && !KEYWORDS_IGNORED.has(key) && key !== 'oneOf' && key !== 'anyOf' && key !== 'patterns') {
        throw new Error(`unsupported JSON Schema keyword ${key}`);
      }
    }
    const branches = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
    if (branches) {
      const { oneOf: _o, anyOf: _a, ...base } = s;
      const satisfiable = branches.map((b) => merge(base, this.flatten(b) as Json)).filter((m) => !Array.isArray(m.type) || m.type.length > 0);
      return fc.oneof(...satisfiable.map((m) => this.valid(m, depth)));
    }
    if ('const' in s) return fc.constant(s.const);
    if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
    const types = typeOf(s);
    return fc.oneof(...types.map((t) => this.validOfType(s, t, depth)));
  }

  private validOfType(s: Json, type: string, depth: number): fc.Arbitrary<unknown> {
    switch (type) {
      case 'null':
        return fc.constant(null);
      case 'boolean':
        return fc.boolean();
      case 'integer':
        return fc.integer({ min: (s.minimum as number | undefined) ?? -1_000_000, max: (s.maximum as number | undefined) ?? 1_000_000 });
      case 'number':
        return fc.double({ min: (s.minimum as number | undefined) ?? -1e9, max: (s.maximum as number | undefined) ?? 1e9, noNaN: true });
      case 'string':
        return this.validString(s);
      case 'array': {
        const minLength = (s.minItems as number | undefined) ?? 0;
        const maxLength = Math.min((s.maxItems as number | undefined) ?? minLength + 4, minLength + 8);
        return fc.array(s.items === undefined ? fc.jsonValue({ maxDepth: 1 }) : this.valid(s.items as Schema, depth + 1), { minLength, maxLength });
      }
      case 'object':
        return this.validObject(s, depth);
      default:
        throw new Error(`unsupported type ${type}`);
    }
  }

  private validString(s: Json): fc.Arbitrary<string> {
    const minLength = (s.minLength as number | undefined) ?? 0;
    const patterns = [...((s.patterns as string[] | undefined) ?? []), ...(typeof s.pattern === 'string' ? [s.pattern] : [])].map((p) => new RegExp(p, 'u'));
    // Without maxLength a pattern sets the length (e.g. {86} for a signature): leave it room.
    const maxLength = (s.maxLength as number | undefined) ?? (patterns.length > 0 ? 256 : 64);
    let base: fc.Arbitrary<string>;
    if (s.format === 'date-time') {
      base = fc
        .tuple(fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }), fc.constantFrom('ms', 's', '+02:00', '-05:30'))
        .map(([d, style]) => {
          const iso = d.toISOString();
          if (style === 'ms') return iso;
          if (style === 's') return `${iso.slice(0, 19)}Z`;
          const offsetMinutes = (style.startsWith('-') ? -1 : 1) * (Number(style.slice(1, 3)) * 60 + Number(style.slice(4, 6)));
          return `${new Date(d.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 19)}${style}`;
        });
    } else if (s.format === 'uri') {
      base = fc.webUrl();
    } else if (s.format === 'uuid' && patterns.length === 0) {
      base = fc.uuid();
    } else if (patterns.length > 0) {
      base = fc.stringMatching(patterns[0]!, { maxLength });
    } else {
      base = fc.string({ minLength, maxLength });
    }
    return base.filter((v) => v.length >= minLength && v.length <= maxLength && patterns.every((p) => p.test(v)));
  }

  private validObject(s: Json, depth: number): fc.Arbitrary<Json> {
    const properties = (s.properties ?? {}) as Record<string, Schema>;
    const required = new Set((s.required as string[] | undefined) ?? []);
    const model: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [name, schema] of Object.entries(properties)) {
      if (schema === false) continue;
      const hint = this.options.hints?.[name];
      const own = this.valid(schema, depth + 1);
      model[name] = hint ? fc.oneof(own, hint) : own;
    }
    const record = fc.record(model, { requiredKeys: Object.keys(model).filter((k) => required.has(k)) }) as fc.Arbitrary<Json>;
    const extra = s.additionalProperties;
    if (extra === false || extra === undefined || depth > 3) return record;
    const extraValues = extra === true ? fc.jsonValue({ maxDepth: 1 }) : this.valid(extra as Schema, depth + 1);
    const extraKeys = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/).filter((k) => !(k in properties));
    return fc.tuple(record, fc.dictionary(extraKeys, extraValues, { maxKeys: 3 })).map(([r, more]) => ({ ...more, ...r }));
  }

  /**
   * Values meant to break `schema`, mixed with valid ones: hostile replacements of
   * the whole value or of one property, missing required properties, unknown and
   * prototype-shaped properties, wrong types, oversized arrays.
   */
  hostile(schema: Schema): fc.Arbitrary<unknown> {
    const s = this.flatten(schema);
    const valid = this.valid(schema);
    const options: fc.WeightedArbitrary<unknown>[] = [
      { weight: 3, arbitrary: valid },
      { weight: 2, arbitrary: hostileValue() },
    ];
    if (typeof s === 'object' && (s.properties !== undefined || typeOf(s).includes('object'))) {
      const properties = Object.keys((s.properties ?? {}) as Json);
      options.push({ weight: 4, arbitrary: this.objectMutation(valid, properties) });
      options.push({ weight: 1, arbitrary: fc.array(valid, { maxLength: 3 }) });
    }
    if (typeof s === 'object' && s.type === 'array' && s.items !== undefined) {
      options.push({ weight: 2, arbitrary: fc.array(this.hostile(s.items as Schema), { maxLength: 8 }) });
      options.push({ weight: 1, arbitrary: fc.integer({ min: 33, max: 3000 }).map((n) => Array.from({ length: n }, () => 'a')) });
    }
    return fc.oneof(...options);
  }

  private objectMutation(valid: fc.Arbitrary<unknown>, properties: string[]): fc.Arbitrary<unknown> {
    const property = properties.length > 0 ? fc.constantFrom(...properties) : fc.constant('x');
    return fc.oneof(
      // one property replaced by a hostile value
      fc.tuple(valid, property, hostileValue()).map(([v, k, h]) => (isObject(v) ? setOwn({ ...v }, k, h) : v)),
      // one property removed
      fc.tuple(valid, property).map(([v, k]) => {
        if (!isObject(v)) return v;
        const copy = { ...v };
        delete copy[k];
        return copy;
      }),
      // an unknown or prototype-shaped property added
      fc
        .tuple(valid, fc.oneof(fc.constantFrom<string>(...FORBIDDEN_KEYS, 'purpouse', 'admin', 'isAdmin', ''), hostileString().map((k) => k.slice(0, 64))), hostileValue())
        .map(([v, k, h]) => (isObject(v) ? setOwn({ ...v }, k, h) : v)),
      // a property's value swapped for another property's (right shape, wrong meaning)
      fc.tuple(valid, property, property).map(([v, a, b]) => (isObject(v) ? setOwn({ ...v }, a, v[b]) : v)),
      // every property a string, or every property null
      valid.map((v) => (isObject(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x) ?? ''])) : v)),
      valid.map((v) => (isObject(v) ? Object.fromEntries(Object.keys(v).map((k) => [k, null])) : v)),
    );
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RawJson);
}

function typeOf(s: Json): string[] {
  if (Array.isArray(s.type)) return s.type as string[];
  if (typeof s.type === 'string') return [s.type];
  if (s.properties !== undefined || s.additionalProperties !== undefined || s.required !== undefined) return ['object'];
  if (s.items !== undefined || s.minItems !== undefined) return ['array'];
  if (s.pattern !== undefined || s.patterns !== undefined || s.format !== undefined || s.minLength !== undefined || s.maxLength !== undefined) return ['string'];
  return ['null', 'boolean', 'integer', 'string'];
}

/** Conjunction of two flattened schemas for the keywords generation needs. */
function merge(a: Json, b: Json): Json {
  const out: Json = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const prior = out[key];
    if (prior === undefined) {
      if (key === 'pattern') out.patterns = [...((out.patterns as string[] | undefined) ?? []), value];
      else out[key] = value;
      continue;
    }
    switch (key) {
      case 'minLength':
      case 'minItems':
      case 'minimum':
        out[key] = Math.max(prior as number, value as number);
        break;
      case 'maxLength':
      case 'maxItems':
      case 'maximum':
        out[key] = Math.min(prior as number, value as number);
        break;
      case 'required':
        out[key] = [...new Set([...(prior as string[]), ...(value as string[])])];
        break;
      case 'pattern':
        out.patterns = [...((out.patterns as string[] | undefined) ?? []), value];
        break;
      case 'patterns':
        out.patterns = [...(prior as string[]), ...(value as string[])];
        break;
      case 'type': {
        const left = Array.isArray(prior) ? prior : [prior];
        const right = Array.isArray(value) ? value : [value];
        const both = left.filter((t) => right.includes(t) || (t === 'integer' && right.includes('number')));
        out[key] = both.length === 1 ? both[0] : both;
        break;
      }
      case 'enum':
        out[key] = (prior as unknown[]).filter((x) => (value as unknown[]).some((y) => JSON.stringify(x) === JSON.stringify(y)));
        break;
      case 'properties': {
        const props: Json = { ...(prior as Json) };
        for (const [name, schema] of Object.entries(value as Json)) {
          props[name] = props[name] === undefined ? schema : props[name] === false || schema === false ? false : { allOf: [props[name], schema] };
        }
        out[key] = props;
        break;
      }
      case 'items':
      case 'additionalProperties':
        out[key] = prior === false || value === false ? false : prior === true ? value : value === true ? prior : { allOf: [prior, value] };
        break;
      default:
        out[key] = value;
    }
  }
  if (out.pattern !== undefined && out.patterns === undefined) {
    out.patterns = [out.pattern];
  }
  delete out.pattern;
  return out;
}

/** One generated HTTP request against an operation of the document. */
export interface GeneratedRequest {
  /** The operation's templated path, e.g. `/ledger/entries/{seq}`. */
  template: string;
  method: string;
  /** Path and query as sent (already percent-encoded where meant to be). */
  target: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

export interface RequestArbitraryOptions {
  /** Authorization header values; `undefined` sends none. */
  authorization: fc.Arbitrary<string | undefined>;
  /** Extra request bodies per templated path (e.g. real tokens with their envelopes). */
  bodies?: Record<string, fc.Arbitrary<unknown>>;
}

/**
 * Other methods, all ones Node's HTTP parser knows: a method it does not know
 * (or a request head over its 16 KiB limit) is refused by the parser before any
 * application code runs, so it says nothing about the API.
 */
const OTHER_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'SEARCH', 'QUERY', 'M-SEARCH', 'REPORT'];

/** Longest generated path or query component, so a request head stays under Node's 16 KiB limit. */
const MAX_COMPONENT = 1200;

const CONTENT_TYPES = [
  'application/json; charset=latin1',
  'application/json;charset=UTF-16',
  'APPLICATION/JSON; Charset=UTF-8',
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/problem+json',
  'application/json, text/plain',
  'application/jsonx',
  'application/json; charset=utf-8; charset=latin1',
  ';',
  '',
];

/** Percent-encodes every byte outside `keep` (lone surrogates become U+FFFD, as TextEncoder does). */
export function percentEncode(value: string, keep = /[A-Za-z0-9\-._~]/): string {
  let out = '';
  for (const ch of value) {
    if (keep.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A header value Node will send: the UTF-8 bytes as latin1, control characters replaced. */
export function headerValue(value: string, maxLength = 1000): string {
  return Buffer.from(value, 'utf8')
    .toString('latin1')
    .replace(/[^\t\x20-\x7e\x80-\xff]/g, '?')
    .trim()
    .slice(0, maxLength);
}

/** Raw path or query pieces: valid encodings of hostile values, and invalid encodings. */
function rawComponent(value: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc
    .oneof(
    { weight: 6, arbitrary: value.map((v) => percentEncode(typeof v === 'string' ? v : toJsonText(v))) },
    { weight: 2, arbitrary: hostileString().map((s) => percentEncode(s.slice(0, 3000), /[\x21-\x7e]/).replace(/[#?]/g, (c) => percentEncode(c, /$^/))) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%ZZ', '%c0%ae', '%ff', '%00', '%2F', '..', '.', '%2e%2e', '%E2%80%AE', '%u0041', '+', '%20', '[]', '[a]=1') },
    )
    .map((c) => c.slice(0, MAX_COMPONENT));
}

/** Bodies that are not (valid) JSON: truncated, garbled, shell-mangled, non-UTF-8, oversized. */
function brokenBody(valid: fc.Arbitrary<unknown>): fc.Arbitrary<Buffer> {
  const text = valid.map(toJsonText);
  return fc.oneof(
    fc.tuple(text, fc.nat()).map(([t, n]) => Buffer.from(t.slice(0, n % Math.max(t.length, 1)))),
    fc.tuple(text, fc.nat(), fc.constantFrom('"', '}', ']', ',', ':', '\\', '\u0000', '{', 'x', ' ', '\n')).map(([t, n, c]) => {
      const i = n % (t.length + 1);
      return Buffer.from(t.slice(0, i) + c + t.slice(i));
    }),
    text.map((t) => Buffer.from(t.replace(/"/g, ''))),
    text.map((t) => Buffer.from(`\uFEFF${t}`)),
    text.map((t) => Buffer.from(`${t.slice(0, -1)},}`)),
    text.map((t) => Buffer.from(`/* c */${t}`)),
    text.map((t) => Buffer.from(t.replace(/^\{/, '{"a":1,"a":2,'))),
    fc.tuple(text, fc.nat(), fc.constantFrom([0xc3, 0x28], [0xed, 0xa0, 0x80], [0xff], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc0, 0xaf], [0xe2, 0x82])).map(([t, n, bytes]) => {
      const b = Buffer.from(t);
      const i = n % (b.length + 1);
      return Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i)]);
    }),
    fc.constantFrom('', ' ', 'null', 'true', '0', '"x"', '[]', 'NaN', 'undefined', '{', '}', '{{}}', '{ jti: x }', '{ token: a, context_envelope: { ts: 1 } }', '{"":', '\u0000').map((s) => Buffer.from(s)),
    fc.integer({ min: 16_385, max: 40_000 }).map((n) => Buffer.from(`{"a":"${'x'.repeat(n)}"}`)),
    hostileString().map((s) => Buffer.from(s)),
  );
}

/**
 * Requests to every operation of the document: its documented method mostly,
 * other (and unknown) methods sometimes; path, query and header parameters from
 * their schemas or hostile; bodies valid, hostile, broken or of the wrong media
 * type; duplicate, unknown and bracketed query parameters.
 */
export function requestArbitrary(arbitraries: SchemaArbitraries, options: RequestArbitraryOptions): fc.Arbitrary<GeneratedRequest> {
  const operations: fc.Arbitrary<GeneratedRequest>[] = [];
  for (const [template, item] of Object.entries(arbitraries.spec.paths as Json)) {
    for (const [method, op] of Object.entries(item as Json)) {
      if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
      operations.push(operationRequest(arbitraries, template, method.toUpperCase(), op as Json, options));
    }
  }
  return fc.oneof(...operations);
}

function operationRequest(arbitraries: SchemaArbitraries, template: string, method: string, operation: Json, options: RequestArbitraryOptions): fc.Arbitrary<GeneratedRequest> {
  const parameters = ((operation.parameters ?? []) as Json[]).map((p) => (typeof p.$ref === 'string' ? (arbitraries.deref(p.$ref) as Json) : p));
  const valueOf = (p: Json) => fc.oneof({ weight: 3, arbitrary: arbitraries.valid(p.schema as Json) }, { weight: 1, arbitrary: hostileValue() });

  const pathParams = parameters.filter((p) => p.in === 'path');
  // A path parameter stays inside its segment (a raw `/` or an empty one would address another path).
  const segment = (p: Json) => rawComponent(valueOf(p)).map((c) => c.replace(/\//g, '%2F') || '%00');
  const path = fc.tuple(...pathParams.map(segment)).map((values) => {
    let out = template;
    pathParams.forEach((p, i) => {
      out = out.replace(`{${String(p.name)}}`, values[i]!);
    });
    return out;
  });

  const queryParams = parameters.filter((p) => p.in === 'query');
  const onePair = (p: Json) =>
    fc.oneof(
      { weight: 6, arbitrary: rawComponent(valueOf(p)).map((v) => [`${String(p.name)}=${v}`]) },
      { weight: 1, arbitrary: fc.constant([String(p.name)]) },
      { weight: 1, arbitrary: fc.tuple(rawComponent(valueOf(p)), rawComponent(valueOf(p))).map(([a, b]) => [`${String(p.name)}=${a}`, `${String(p.name)}=${b}`]) },
      { weight: 1, arbitrary: rawComponent(valueOf(p)).map((v) => [`${String(p.name)}[]=${v}`, `${String(p.name)}[x]=${v}`]) },
    );
  const query = fc
    .tuple(
      fc.tuple(...queryParams.map((p) => fc.oneof({ weight: p.required ? 1 : 2, arbitrary: fc.constant<string[]>([]) }, { weight: 5, arbitrary: onePair(p) }))),
      fc.array(fc.tuple(rawComponent(hostileString()), rawComponent(hostileString())).map(([k, v]) => `${k.slice(0, 200) || 'x'}=${v}`), { maxLength: 2 }),
      fc.constantFrom('', '', '', '&', '&&', '#frag'),
    )
    .map(([pairs, extra, tail]) => {
      const all = [...pairs.flat(), ...extra];
      return all.length === 0 && tail === '' ? '' : `?${all.join('&')}${tail}`;
    });

  const headerParams = parameters.filter((p) => p.in === 'header');
  const paramHeaders = fc.tuple(...headerParams.map((p) => fc.option(valueOf(p), { nil: undefined, freq: 2 }))).map((values) => {
    const headers: Record<string, string> = {};
    headerParams.forEach((p, i) => {
      const v = values[i];
      if (v !== undefined) headers[String(p.name).toLowerCase()] = headerValue(typeof v === 'string' ? v : toJsonText(v));
    });
    return headers;
  });

  const bodySchema = (((operation.requestBody as Json | undefined)?.content as Json | undefined)?.['application/json'] as Json | undefined)?.schema as Json | undefined;
  const extraBodies = options.bodies?.[template];
  const jsonValue = bodySchema
    ? fc.oneof(
        { weight: 3, arbitrary: arbitraries.valid(bodySchema) },
        { weight: 5, arbitrary: arbitraries.hostile(bodySchema) },
        ...(extraBodies ? [{ weight: 6, arbitrary: extraBodies }] : []),
      )
    : hostileValue();
  const body: fc.Arbitrary<{ body: Buffer | undefined; contentType: string | undefined }> = fc.oneof(
    { weight: bodySchema ? 12 : 1, arbitrary: fc.tuple(jsonValue, fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8')).map(([v, ct]) => ({ body: Buffer.from(toJsonText(v)), contentType: ct })) },
    { weight: bodySchema ? 3 : 1, arbitrary: fc.tuple(brokenBody(jsonValue), fc.constantFrom('application/json', 'application/json; charset=utf-8')).map(([b, ct]) => ({ body: b, contentType: ct })) },
    {
      weight: bodySchema ? 2 : 1,
      arbitrary: fc.tuple(jsonValue, fc.oneof(fc.constantFrom(...CONTENT_TYPES), hostileString().map((s) => headerValue(s, 200))), fc.boolean()).map(([v, ct, send]) => ({ body: send ? Buffer.from(toJsonText(v)) : undefined, contentType: ct || undefined })),
    },
    { weight: bodySchema ? 1 : 12, arbitrary: fc.constant({ body: undefined, contentType: undefined }) },
  );

  const extraHeaders = fc.array(
    fc.oneof(
      fc.constantFrom<[string, string]>(['x-forwarded-for', '127.0.0.1, 10.0.0.1'], ['content-encoding', 'gzip'], ['accept', 'application/xml'], ['accept-charset', 'latin1'], ['x-http-method-override', 'DELETE'], ['origin', 'https://evil.example'], ['cookie', 'a=b'], ['range', 'bytes=0-1'], ['if-none-match', '*']),
      fc.tuple(fc.stringMatching(/^x-[a-z]{1,8}$/), hostileString()).map(([k, v]) => [k, headerValue(v)] as [string, string]),
    ),
    { maxLength: 2 },
  );

  return fc
    .record({
      method: fc.oneof({ weight: 8, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: fc.constantFrom(...OTHER_METHODS) }),
      path,
      query,
      authorization: options.authorization,
      paramHeaders,
      body,
      extraHeaders,
    })
    .map(({ method: m, path: p, query: q, authorization, paramHeaders: ph, body: b, extraHeaders: eh }) => {
      const headers: Record<string, string> = { ...Object.fromEntries(eh), ...ph };
      if (authorization !== undefined) headers.authorization = authorization;
      if (b.contentType !== undefined) headers['content-type'] = b.contentType;
      return { template, method: m, target: `${p}${q}`, headers, body: b.body };
    });
}
