// `data show`: a PNG grid of sample images with their labels, one row per class, so a person can
// see at a glance that images, orientation, colours and labels are right.
import { ADVANCE, GLYPH_H, drawText } from './font';
import { encodePng } from './png';
import { STREAM, Xoshiro128ss, shuffleInPlace } from './rng';
import { type ImageSet, imageSize } from './types';

export interface GridOptions {
  /** Integer magnification of each image (default: the smallest making tiles >= 84 px wide). */
  scale?: number;
}

export interface Grid {
  width: number;
  height: number;
  channels: 1 | 3;
  /** Interleaved pixels, row-major. */
  pixels: Uint8Array;
  /** Where each tile's image starts: row r, column k -> top-left pixel (x, y). */
  origin(r: number, k: number): { x: number; y: number };
  scale: number;
}

const GAP = 2;
const CAPTION = GLYPH_H + 4;

/**
 * Indices to show: `perClass` images of each class, the first ones in file order, or a seeded
 * random choice when `seed` is given. Row c holds class c (shorter when the class has fewer).
 */
export function pickSamples(set: ImageSet, perClass: number, seed?: number): number[][] {
  const rows: number[][] = set.classNames.map(() => []);
  const all: number[][] = set.classNames.map(() => []);
  for (let i = 0; i < set.count; i++) all[set.labels[i]].push(i);
  all.forEach((idx, c) => {
    let pool = idx;
    if (seed !== undefined) pool = Array.from(shuffleInPlace(Uint32Array.from(idx), new Xoshiro128ss(seed, STREAM.show, c)));
    rows[c] = pool.slice(0, perClass);
  });
  return rows;
}

/** The caption under an image: the label, and the class name when it is not just the label. */
export function caption(set: ImageSet, i: number): string {
  const label = set.labels[i];
  const name = set.classNames[label] ?? '';
  return name === String(label) ? String(label) : `${label} ${name}`;
}

/** Renders rows of images (indices into `set`) with captions. */
export function renderGrid(set: ImageSet, rows: number[][], opts: GridOptions = {}): Grid {
  const { channels: C, height: H, width: W } = set;
  if (C !== 1 && C !== 3) throw new RangeError(`renderGrid: ${C} channels, expected 1 or 3`);
  const scale = opts.scale ?? Math.max(1, Math.ceil(84 / W));
  const tileW = W * scale;
  const tileH = H * scale + CAPTION;
  const cols = Math.max(1, ...rows.map((r) => r.length));
  const width = GAP + cols * (tileW + GAP);
  const height = GAP + rows.length * (tileH + GAP);
  const out = C as 1 | 3;
  const pixels = new Uint8Array(width * height * out).fill(48); // dark grey background
  const size = imageSize(set);
  const plane = H * W;
  const origin = (r: number, k: number): { x: number; y: number } => ({ x: GAP + k * (tileW + GAP), y: GAP + r * (tileH + GAP) });
  rows.forEach((row, r) => {
    row.forEach((i, k) => {
      const { x: ox, y: oy } = origin(r, k);
      const base = i * size;
      for (let y = 0; y < H * scale; y++) {
        const sy = Math.floor(y / scale);
        for (let x = 0; x < tileW; x++) {
          const sx = Math.floor(x / scale);
          const o = ((oy + y) * width + ox + x) * out;
          // Stored C x H x W (planes); the PNG wants the channels of one pixel together.
          for (let c = 0; c < C; c++) pixels[o + c] = set.images[base + c * plane + sy * W + sx];
        }
      }
      // Caption strip: black, with the label in white/yellow.
      for (let y = H * scale; y < tileH; y++) {
        pixels.fill(0, ((oy + y) * width + ox) * out, ((oy + y) * width + ox + tileW) * out);
      }
      const text = caption(set, i).slice(0, Math.floor((tileW - 2) / ADVANCE));
      drawText(pixels, width, height, out, ox + 2, oy + H * scale + 2, text, out === 3 ? [255, 220, 0] : [255]);
    });
  });
  return { width, height, channels: out, pixels, origin, scale };
}

/** A PNG of the grid. */
export function gridPng(grid: Grid): Buffer {
  return encodePng(grid.width, grid.height, grid.channels, grid.pixels);
}
