import { crc32, inflateSync } from 'node:zlib';
import { renderChart, type Rgb } from './png';

/** Decodes what renderChart writes (8-bit RGB, filter 0), checking every chunk's CRC on the way. */
function decode(png: Buffer): { width: number; height: number; pixel: (x: number, y: number) => Rgb } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks = new Map<string, Buffer[]>();
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    expect(png.readUInt32BE(at + 8 + length)).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    chunks.set(type, [...(chunks.get(type) ?? []), png.subarray(at + 8, at + 8 + length)]);
    at += 12 + length;
  }
  const header = chunks.get('IHDR')![0]!;
  const [width, height] = [header.readUInt32BE(0), header.readUInt32BE(4)];
  expect([...header.subarray(8)]).toEqual([8, 2, 0, 0, 0]);
  expect(chunks.has('IEND')).toBe(true);
  const raw = inflateSync(Buffer.concat(chunks.get('IDAT')!));
  expect(raw.length).toBe((width * 3 + 1) * height);
  return {
    width,
    height,
    pixel: (x, y) => {
      const i = y * (width * 3 + 1) + 1 + x * 3;
      return [raw[i]!, raw[i + 1]!, raw[i + 2]!];
    },
  };
}

describe('renderChart', () => {
  const red: Rgb = [200, 0, 0];
  const band: Rgb = [255, 220, 220];

  it('writes a valid PNG with the series, the band and the axes where the data says', () => {
    const img = decode(
      renderChart({
        width: 200,
        height: 100,
        series: [{ points: [[0, 0], [10, 10]], color: red }],
        bands: [{ from: 5, to: 10, color: band }],
      }),
    );
    expect([img.width, img.height]).toEqual([200, 100]);
    // The series runs from the plot's bottom-left (24, 76) to its top-right (176, 24).
    expect(img.pixel(100, 50)).toEqual(red);
    // The band covers the right half of the plot, above the line.
    expect(img.pixel(150, 30)).toEqual(band);
    // Outside the plot: white.
    expect(img.pixel(5, 5)).toEqual([255, 255, 255]);
    // The x axis.
    expect(img.pixel(60, 76)).toEqual([96, 96, 96]);
  });

  it('clamps values above yMax to the top of the plot and draws a single point', () => {
    const img = decode(renderChart({ width: 100, height: 100, yMax: 1, series: [{ points: [[0, 5]], color: red }] }));
    expect(img.pixel(24, 24)).toEqual(red);
  });

  it('refuses a chart too small to hold its plot', () => {
    expect(() => renderChart({ width: 20, height: 20, series: [] })).toThrow(RangeError);
  });
});
