import { consumeSpan, messageHeaders, publishSpan, traceparentFor } from './trace_context';

describe('traceparentFor', () => {
  it('keeps a valid caller traceparent and replaces anything else with a new one', () => {
    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(traceparentFor(valid)).toBe(valid);
    for (const bad of [undefined, '', 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', [valid]]) {
      expect(traceparentFor(bad)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(traceparentFor(bad)).not.toBe(valid);
    }
  });

  it('draws new ids from a pooled CSPRNG buffer: valid and distinct across refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const tp = traceparentFor(undefined);
      expect(tp).toMatch(/^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-01$/);
      seen.add(tp.slice(3, 35));
      seen.add(tp.slice(36, 52));
    }
    expect(seen.size).toBe(2000);
  });
});

// No SDK is started in this file: the helpers must behave exactly as CTP did before tracing.
describe('bus trace headers without tracing', () => {
  const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('carries the caller traceparent (or a new one) and nothing else', async () => {
    expect(messageHeaders(valid)).toEqual({ traceparent: valid });
    expect(Object.keys(messageHeaders(undefined))).toEqual(['traceparent']);
    expect(await publishSpan('a.b', valid, async (headers) => headers)).toEqual({ traceparent: valid });
  });

  it('runs consumers and passes their result and errors through', async () => {
    expect(await consumeSpan('c', [{ headers: { traceparent: valid } }], async () => 7)).toBe(7);
    await expect(consumeSpan('c', [], async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(publishSpan('a.b', undefined, async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
  });
});
