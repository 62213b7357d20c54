// A small PNG line-chart renderer for the pilot's artefacts (latency and breaker state over time).
// No native canvas: pixels in a buffer, lines by Bresenham, PNG by node:zlib (deflate + crc32).
import { crc32, deflateSync } from 'node:zlib';

export type Rgb = readonly [number, number, number];

export interface Series {
  /** [x, y] in data units; x increasing. */
  points: readonly (readonly [number, number])[];
  color: Rgb;
}

/** A background band over an x range, e.g. the time the breaker was open. */
export interface Band {
  from: number;
  to: number;
  color: Rgb;
}

export interface ChartSpec {
  width: number;
  height: number;
  series: readonly Series[];
  bands?: readonly Band[];
  /** Horizontal reference lines in y units (e.g. a latency target). */
  guides?: readonly { y: number; color: Rgb }[];
  /** The y range; defaults to 0 .. the largest y (and guide). */
  yMax?: number;
}

const MARGIN = 24;
const WHITE: Rgb = [255, 255, 255];
const AXIS: Rgb = [96, 96, 96];
const GRID: Rgb = [226, 226, 226];

class Canvas {
  readonly pixels: Buffer;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = Buffer.alloc(width * height * 3, 255);
  }

  set(x: number, y: number, [r, g, b]: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (Math.round(y) * this.width + Math.round(x)) * 3;
    this.pixels[i] = r;
    this.pixels[i + 1] = g;
    this.pixels[i + 2] = b;
  }

  rect(x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
    for (let y = Math.max(0, Math.floor(y0)); y <= Math.min(this.height - 1, Math.ceil(y1)); y++)
      for (let x = Math.max(0, Math.floor(x0)); x <= Math.min(this.width - 1, Math.ceil(x1)); x++) this.set(x, y, color);
  }

  /** A line two pixels thick (Bresenham, doubled vertically). */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
    let [x, y] = [Math.round(x0), Math.round(y0)];
    const [xe, ye] = [Math.round(x1), Math.round(y1)];
    const dx = Math.abs(xe - x);
    const dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1;
    const sy = y < ye ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      this.set(x, y, color);
      this.set(x, y + 1, color);
      if (x === xe && y === ye) return;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y += sy;
      }
    }
  }

  png(): Buffer {
    const raw = Buffer.alloc((this.width * 3 + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      raw[y * (this.width * 3 + 1)] = 0; // filter: none
      this.pixels.copy(raw, y * (this.width * 3 + 1) + 1, y * this.width * 3, (y + 1) * this.width * 3);
    }
    const header = Buffer.alloc(13);
    header.writeUInt32BE(this.width, 0);
    header.writeUInt32BE(this.height, 4);
    header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter method variants, no interlace
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Renders the chart as a PNG: bands behind, a light grid at quarters, guides, then each series. */
export function renderChart(spec: ChartSpec): Buffer {
  if (!Number.isInteger(spec.width) || !Number.isInteger(spec.height) || spec.width < 2 * MARGIN + 10 || spec.height < 2 * MARGIN + 10)
    throw new RangeError('chart too small');
  const canvas = new Canvas(spec.width, spec.height);
  const xs = spec.series.flatMap((s) => s.points.map(([x]) => x)).concat((spec.bands ?? []).flatMap((b) => [b.from, b.to]));
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs) : 1;
  const yMax =
    spec.yMax ?? Math.max(1e-9, ...spec.series.flatMap((s) => s.points.map(([, y]) => y)), ...(spec.guides ?? []).map((g) => g.y));
  const plot = { left: MARGIN, top: MARGIN, right: spec.width - MARGIN, bottom: spec.height - MARGIN };
  const px = (x: number) => plot.left + ((x - xMin) / (xMax - xMin || 1)) * (plot.right - plot.left);
  const py = (y: number) => plot.bottom - (Math.min(Math.max(y, 0), yMax) / yMax) * (plot.bottom - plot.top);

  canvas.rect(0, 0, spec.width - 1, spec.height - 1, WHITE);
  for (const band of spec.bands ?? []) canvas.rect(px(band.from), plot.top, px(band.to), plot.bottom, band.color);
  for (let q = 1; q <= 4; q++) canvas.line(plot.left, py((yMax * q) / 4), plot.right, py((yMax * q) / 4), GRID);
  for (const guide of spec.guides ?? []) canvas.line(plot.left, py(guide.y), plot.right, py(guide.y), guide.color);
  canvas.line(plot.left, plot.bottom, plot.right, plot.bottom, AXIS);
  canvas.line(plot.left, plot.top, plot.left, plot.bottom, AXIS);
  for (const series of spec.series) {
    let previous: readonly [number, number] | undefined;
    for (const point of series.points) {
      if (previous) canvas.line(px(previous[0]), py(previous[1]), px(point[0]), py(point[1]), series.color);
      else canvas.rect(px(point[0]) - 1, py(point[1]) - 1, px(point[0]) + 1, py(point[1]) + 1, series.color);
      previous = point;
    }
  }
  return canvas.png();
}
