// Figures to SVG on the server, with no browser: src/report/svg/ draws the charts of
// src/report/figures.ts. PNGs need a raster renderer: headless Chromium renders them when it is
// installed (src/report/chromium.ts).
import path from 'node:path';

import { writeFileAtomicAsync } from '../train/safetensors';
import type { FigureSpec } from './figures';
import { renderSvg } from './svg/render';

export { renderSvg };

/**
 * Prefixes every id of an SVG (and the url(#...) and href="#..." that refer to them), so that
 * several SVGs inlined in one page keep their own clip paths and gradients.
 */
export function namespaceIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}-${id})`)
    .replace(/\b((?:xlink:)?href)="#([^"]+)"/g, (_, attr: string, id: string) => `${attr}="#${prefix}-${id}"`);
}

export interface RenderedFigure extends FigureSpec {
  svg: string;
  /** figures/<name>.svg, once written. */
  file?: string;
}

export function renderFigures(figures: readonly FigureSpec[]): RenderedFigure[] {
  const out: RenderedFigure[] = [];
  for (const f of figures) {
    try {
      out.push({ ...f, svg: renderSvg(f.spec) });
    } catch (err) {
      throw new Error(`figure ${f.name}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

/** Writes each figure as <folder>/figures/<name>.svg (atomically); returns the figures with their files. */
export async function writeFigureFiles(folder: string, figures: readonly RenderedFigure[]): Promise<RenderedFigure[]> {
  const out: RenderedFigure[] = [];
  for (const f of figures) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(f.name)) throw new RangeError(`figure name ${JSON.stringify(f.name)}: lower-case letters, digits and dashes only (it names a file)`);
    const file = path.join(folder, 'figures', `${f.name}.svg`);
    await writeFileAtomicAsync(file, f.svg);
    out.push({ ...f, file });
  }
  return out;
}
