/**
 * The integration guide's /introspect curl example wraps its JSON in double quotes,
 * so the shell strips every inner quote and the server receives
 * `{ token: eyJ..., context_envelope: { ts:2025-11-09T20:17:00Z, features:[tone,sentiment], ... } }`.
 * Dev mode (`ctp up`) accepts exactly that shape so the guide runs verbatim: objects
 * with bare identifier keys, arrays, and bare scalars read as strings up to the next
 * `,` `}` `]` or line end. Production services never call this.
 */
export function parseShellMangledJson(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const expect = (ch: string) => {
    skipSpace();
    if (text[i] !== ch) fail(`expected "${ch}"`);
    i++;
  };
  const value = (depth: number): unknown => {
    if (depth > 8) fail('nesting too deep');
    skipSpace();
    if (text[i] === '{') return object(depth);
    if (text[i] === '[') return array(depth);
    const start = i;
    while (i < text.length && !',}]\n\r'.includes(text[i]!)) i++;
    const scalar = text.slice(start, i).trim();
    if (scalar === '') fail('expected a value');
    return scalar;
  };
  const object = (depth: number) => {
    const out: Record<string, unknown> = {};
    i++;
    skipSpace();
    if (text[i] === '}') return i++, out;
    for (;;) {
      skipSpace();
      const key = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, i + 64))?.[0];
      if (!key || key === '__proto__') fail('expected a bare key');
      i += key!.length;
      expect(':');
      Object.defineProperty(out, key!, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
      skipSpace();
      if (text[i] === ',') i++;
      else return expect('}'), out;
    }
  };
  const array = (depth: number) => {
    const out: unknown[] = [];
    i++;
    skipSpace();
    if (text[i] === ']') return i++, out;
    for (;;) {
      out.push(value(depth + 1));
      skipSpace();
      if (text[i] === ',') i++;
      else return expect(']'), out;
    }
  };
  skipSpace();
  if (text[i] !== '{') fail('expected "{"');
  const result = object(0);
  skipSpace();
  if (i !== text.length) fail('trailing characters');
  return result;
}
