import fc from 'fast-check';
import { OpenApiContract } from './openapi';
import { HOSTILE_STRINGS, RawJson, SchemaArbitraries, setOwn, toJsonText, type Json } from './openapi_arbitraries';

const contract = new OpenApiContract();
const arbitraries = new SchemaArbitraries(contract.spec);
const schemas = (contract.spec.components as Json).schemas as Json;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const SEED = 20261123;

describe('SchemaArbitraries', () => {
  // NotReady uses `not`, which has no generator (the generator says so).
  const generated = Object.keys(schemas).filter((name) => name !== 'NotReady');

  it.each(generated)('every value generated for %s is valid against it (Ajv, JSON Schema 2020-12)', (name) => {
    const validate = contract.compile(ref(name));
    const samples = fc.sample(arbitraries.valid(ref(name)), { numRuns: 150, seed: SEED });
    for (const value of samples) {
      if (!validate(value)) throw new Error(`${name}: ${JSON.stringify(value)} is invalid: ${JSON.stringify(validate.errors)}`);
    }
  });

  it('generates every request body, parameter and header schema of every operation', () => {
    for (const { path, method, operation } of contract.operations()) {
      const body = ((operation.requestBody as Json | undefined)?.content as Json | undefined)?.['application/json'] as Json | undefined;
      const parameters = ((operation.parameters ?? []) as Json[]).map((p) => (typeof p.$ref === 'string' ? (arbitraries.deref(p.$ref) as Json) : p));
      for (const schema of [...(body ? [body.schema] : []), ...parameters.map((p) => p.schema)]) {
        const validate = contract.compile(schema);
        for (const value of fc.sample(arbitraries.valid(schema as Json), { numRuns: 50, seed: SEED })) {
          if (!validate(value)) throw new Error(`${method} ${path}: ${JSON.stringify(value)} is invalid`);
        }
      }
    }
  });

  it('reaches every branch of oneOf and every enum value', () => {
    const decisions = new Set(fc.sample(arbitraries.valid(ref('IntrospectResponse')), { numRuns: 200, seed: SEED }).map((r) => (r as Json).decision));
    expect([...decisions].sort()).toEqual(['allow', 'deny']);
    const reasons = new Set(fc.sample(arbitraries.valid(ref('DenyReason')), { numRuns: 500, seed: SEED }));
    expect(reasons.size).toBe((schemas.DenyReason as { enum: string[] }).enum.length);
  });

  it('folds allOf constraints together (Slug pattern and the maxLength beside it)', () => {
    expect(arbitraries.flatten(ref('Channel'))).toMatchObject({ type: 'string', minLength: 1, maxLength: 32, patterns: ['^[a-z][a-z0-9_-]*$'] });
    for (const v of fc.sample(arbitraries.valid(ref('Channel')), { numRuns: 300, seed: SEED })) expect(v).toMatch(/^[a-z][a-z0-9_-]{0,31}$/);
  });

  it('refuses keywords it cannot generate instead of generating wrong values', () => {
    expect(() => arbitraries.valid(ref('NotReady'))).toThrow(/unsupported JSON Schema keyword/);
    expect(() => arbitraries.valid({ $ref: '#/components/schemas/Nope' })).toThrow(/unresolved/);
  });

  it('hostile values of a request schema are mostly invalid, and include missing, unknown and prototype-shaped fields', () => {
    const validate = contract.compile(ref('IssueRequest'));
    const samples = fc.sample(arbitraries.hostile(ref('IssueRequest')), { numRuns: 1000, seed: SEED });
    const invalid = samples.filter((v) => !(v instanceof RawJson) && !validate(v));
    expect(invalid.length).toBeGreaterThan(400);
    expect(samples.length - invalid.length).toBeGreaterThan(100);
    const texts = samples.map(toJsonText);
    expect(texts.some((t) => t.includes('"__proto__":'))).toBe(true);
    expect(samples.some((v) => typeof v === 'object' && v !== null && !Array.isArray(v) && !('ts' in v) && 'channel' in v)).toBe(true);
    for (const t of texts) expect(() => JSON.parse(t)).not.toThrow();
  });

  it('is deterministic for a seed', () => {
    const a = fc.sample(arbitraries.hostile(ref('IntrospectRequest')), { numRuns: 50, seed: 7 }).map(toJsonText);
    const b = fc.sample(arbitraries.hostile(ref('IntrospectRequest')), { numRuns: 50, seed: 7 }).map(toJsonText);
    expect(a).toEqual(b);
  });

  it('mixes property hints (e.g. real tokens) into generated objects', () => {
    const hinted = new SchemaArbitraries(contract.spec, { hints: { token: fc.constant('the-real-token') } });
    const tokens = fc.sample(hinted.valid(ref('IntrospectRequest')), { numRuns: 100, seed: SEED }).map((r) => (r as Json).token);
    expect(tokens).toContain('the-real-token');
  });
});

describe('toJsonText', () => {
  it('writes raw fragments and own __proto__ keys that JSON.stringify cannot', () => {
    const value = setOwn({ a: new RawJson('1e309') }, '__proto__', { polluted: true });
    expect(toJsonText(value)).toBe('{"a":1e309,"__proto__":{"polluted":true}}');
    expect(({} as Json).polluted).toBeUndefined();
    expect(JSON.parse(toJsonText([new RawJson('-0'), undefined, 'x']))).toEqual([-0, null, 'x']);
  });

  it('keeps lone surrogates and NUL as JSON escapes', () => {
    expect(HOSTILE_STRINGS).toContain('\uD800');
    expect(toJsonText('\uD800\u0000')).toBe('"\\ud800\\u0000"');
  });
});
