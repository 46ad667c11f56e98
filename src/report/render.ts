// Vega-Lite spec -> SVG on the server, with no browser: vega-lite compiles the spec, a headless
// vega View renders it (renderer "none" and toSVG: no canvas, text widths estimated). vega and
// vega-lite are loaded on first use only, so training never loads them. PNGs need a raster
// renderer: vega's toCanvas wants the native "canvas" package, which the project does not add;
// headless Chromium renders them instead when it is installed (src/report/chromium.ts).
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { writeFileAtomicAsync } from '../train/safetensors';
import type { FigureSpec, VegaLiteSpec } from './figures';

interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}
interface VegaView {
  toSVG(): Promise<string>;
  finalize(): void;
}
interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, opts: { renderer: 'none' }) => VegaView;
}

let modules: Promise<{ vega: VegaModule; vegaLite: VegaLiteModule }> | undefined;

// Both packages are ES modules only. tsc (module commonjs) would turn import() into require(),
// which cannot load them before Node 20.19, so import() is kept out of tsc's sight and given the
// file that require.resolve finds (resolution stays relative to this package).
const importFile = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

function loadVega(): Promise<{ vega: VegaModule; vegaLite: VegaLiteModule }> {
  modules ??= (async () => {
    const [vega, vegaLite] = await Promise.all(['vega', 'vega-lite'].map((p) => importFile(pathToFileURL(require.resolve(p)).href)));
    return { vega: vega as VegaModule, vegaLite: vegaLite as VegaLiteModule };
  })();
  return modules;
}

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

/** Renders a Vega-Lite spec to an SVG document (a string). */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const { vega, vegaLite } = await loadVega();
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface RenderedFigure extends FigureSpec {
  svg: string;
  /** figures/<name>.svg, once written. */
  file?: string;
}

export async function renderFigures(figures: readonly FigureSpec[]): Promise<RenderedFigure[]> {
  const out: RenderedFigure[] = [];
  for (const f of figures) {
    try {
      out.push({ ...f, svg: await renderSvg(f.spec) });
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
