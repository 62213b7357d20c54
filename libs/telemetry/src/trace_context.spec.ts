import { traceparentFor } from './trace_context';

describe('traceparentFor', () => {
  it('keeps a valid caller traceparent and replaces anything else with a new one', () => {
    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(traceparentFor(valid)).toBe(valid);
    for (const bad of [undefined, '', 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', [valid]]) {
      expect(traceparentFor(bad)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(traceparentFor(bad)).not.toBe(valid);
    }
  });
});
