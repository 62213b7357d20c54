import { parseShellMangledJson } from './shell_mangled_json';

describe('parseShellMangledJson', () => {
  it('reads bare keys and scalars as strings, keeping colons inside values', () => {
    expect(parseShellMangledJson('{ a: svc://x/v1, b: [p, q], c: {} , d: []}')).toEqual({ a: 'svc://x/v1', b: ['p', 'q'], c: {}, d: [] });
  });

  it.each(['', '[1]', '{a}', '{a:}', '{a:1', '{a:1} x', '{__proto__: x}', '{a:[1,}', `${'{a:'.repeat(20)}1${'}'.repeat(20)}`])(
    'rejects %j',
    (text) => {
      expect(() => parseShellMangledJson(text)).toThrow(SyntaxError);
    },
  );
});
