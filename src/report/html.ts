// report.html: one self-contained page built from a results folder: the results table (test
// accuracy mean ± sd over seeds, time, throughput, device), every figure the folder has data for
// as inline SVG with a caption saying what to read from it, a sample grid of each dataset (PNG
// data URI), and the configuration and environment tables. No scripts, no external resources:
// it opens offline. buildReport returns the page; writeReport also writes figures/<name>.svg.
import path from 'node:path';

import { loadDataset } from '../data/load';
import { gridPng, pickSamples, renderGrid } from '../data/show';
import type { ExperimentResult } from '../experiment/run';
import { writeFileAtomicAsync } from '../train/safetensors';
import { findChromium, svgsToPng } from './chromium';
import { reportFigures } from './figures';
import { namespaceIds, renderFigures, writeFigureFiles, type RenderedFigure } from './render';
import { groupRuns, readResults, type Results, type RunGroup } from './results';

export const REPORT_HTML = 'report.html';

export interface ReportOptions {
  /** A sample grid of each dataset (default true); a dataset that cannot be loaded here is noted instead. */
  samples?: boolean;
  /** Where datasets are looked for (default: each run's dataDir, then the usual places). */
  dataDir?: string;
  /** writeReport: also figures/<name>.png, rendered by headless Chromium when it is installed (else noted). */
  png?: boolean;
  /** Page title (default "dendrite-bench report"). */
  title?: string;
}

export interface Report {
  html: string;
  results: Results;
  figures: RenderedFigure[];
  /** What the report could not show, and why. */
  notes: string[];
  /** The sample grid of each dataset, as PNG. */
  samples: Array<{ name: string; png: Buffer }>;
}

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Mean and sample standard deviation (sd undefined for fewer than two values). */
export function meanSd(xs: readonly number[]): { mean: number; sd?: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, n };
  return { mean, sd: Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)), n };
}

const pct = (x: number, digits = 2): string => `${(100 * x).toFixed(digits)} %`;

function pctMeanSd(xs: readonly number[]): string {
  if (xs.length === 0) return '—';
  const { mean, sd } = meanSd(xs);
  return sd === undefined ? pct(mean) : `${pct(mean)} ± ${(100 * sd).toFixed(2)}`;
}

function round(x: number): string {
  if (!Number.isFinite(x)) return '—';
  return x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3);
}

const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** Links to the runs' weights files (relative: they open from the folder). */
function weightsLinks(g: RunGroup): string {
  return g.runs.filter((r) => r.weights).map((r) => `<a href="${esc(r.weights!.path)}" title="${esc(`sha256 ${r.weights!.sha256}, ${r.weights!.bytes} bytes`)}">`
    + `seed ${esc(r.spec.seed)}</a>`).join(', ') || '—';
}

function resultsTable(groups: readonly RunGroup[]): string {
  const withWeights = groups.some((g) => g.runs.some((r) => r.weights));
  const rows = groups.map((g) => {
    const test = g.runs.filter((r) => r.test).map((r) => r.test!.accuracy);
    const val = g.runs.map((r) => r.epochs[r.epochs.length - 1]?.validationAccuracy).filter((v): v is number => typeof v === 'number');
    const secs = meanSd(g.runs.map((r) => r.timing.trainSeconds)).mean;
    const rate = meanSd(g.runs.map((r) => r.timing.examplesPerSecond)).mean;
    const devices = distinct(g.runs.map((r) => r.environment.device.used)).join(', ');
    const epochs = distinct(g.runs.map((r) => r.epochs.length)).join(', ');
    return `<tr><td>${esc(g.label)}</td><td>${esc(g.dataset)}</td><td class="n">${g.runs.length}</td><td class="n">${esc(epochs)}</td>`
      + `<td class="n">${esc(pctMeanSd(test))}</td><td class="n">${esc(pctMeanSd(val))}</td>`
      + `<td class="n">${esc(round(secs))}</td><td class="n">${esc(round(rate))}</td><td>${esc(devices)}</td>`
      + `${withWeights ? `<td>${weightsLinks(g)}</td>` : ''}</tr>`;
  });
  return `<table class="results"><thead><tr><th>model</th><th>dataset</th><th>seeds</th><th>epochs</th>`
    + `<th>test accuracy<br><small>mean ± sd over seeds</small></th><th>last validation accuracy</th>`
    + `<th>training time per run (s)</th><th>examples/s</th><th>device</th>${withWeights ? '<th>final weights<br><small>safetensors</small></th>' : ''}`
    + `</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function configurationTable(groups: readonly RunGroup[]): string {
  const rows = groups.map((g) => {
    const r = g.runs[0];
    const s = r.spec;
    const split = 'folds' in r.dataset.split ? `fold ${r.dataset.split.fold + 1} of ${r.dataset.split.folds}` : `validation ${r.dataset.split.validation}`;
    const counts = `${r.dataset.train} train / ${r.dataset.validation} validation / ${r.dataset.test} test`;
    return `<tr><td>${esc(g.label)}</td><td>${esc(r.dataset.name)}<br><small>sha256 ${esc(r.dataset.sha256.slice(0, 16))}…<br>${esc(counts)}; ${esc(split)}</small></td>`
      + `<td class="n">${esc(s.epochs)}</td><td class="n">${esc(s.logEvery)}</td><td>${esc(g.runs.map((x) => x.spec.seed).join(', '))}</td>`
      + `<td><details><summary>${Object.keys(s.options).length} options</summary><pre>${esc(JSON.stringify(s.options, null, 1))}</pre></details></td></tr>`;
  });
  return `<table><thead><tr><th>model</th><th>dataset</th><th>epochs</th><th>curve point every</th><th>seeds</th><th>resolved options</th></tr></thead>`
    + `<tbody>${rows.join('')}</tbody></table>`;
}

function environmentTable(runs: readonly ExperimentResult[], labels: ReadonlyMap<ExperimentResult, string>): string {
  const byEnv = new Map<string, { env: ExperimentResult['environment']; labels: Set<string> }>();
  for (const r of runs) {
    const key = JSON.stringify(r.environment);
    const e = byEnv.get(key) ?? { env: r.environment, labels: new Set<string>() };
    e.labels.add(labels.get(r) ?? r.spec.model);
    byEnv.set(key, e);
  }
  const rows = [...byEnv.values()].map(({ env: e, labels: l }) => {
    const device = `${e.device.requested} → ${e.device.used}${e.device.reason ? ` (${e.device.reason})` : ''}`;
    return `<tr><td>${esc([...l].join(', '))}</td><td>${esc(`${e.package.name} ${e.package.version}`)}<br><small>${esc(e.commit ? e.commit.slice(0, 12) : 'no git commit')}</small></td>`
      + `<td>${esc(`Node ${e.node}, ${e.platform}-${e.arch}`)}</td><td>${esc(e.cpu)}</td><td>${esc(device)}</td>`
      + `<td class="n">${esc(e.threads)}</td><td>${esc(e.simd)}${e.openmp ? '' : ', single-threaded'}</td></tr>`;
  });
  return `<table><thead><tr><th>runs</th><th>package</th><th>runtime</th><th>CPU</th><th>device (asked → used)</th><th>threads</th><th>SIMD</th></tr></thead>`
    + `<tbody>${rows.join('')}</tbody></table>`;
}

/** A PNG sample grid of a dataset's training split (src/data/show.ts). */
export async function sampleGridPng(dataset: string, opts: { dataDir?: string; perClass?: number; seed?: number } = {}): Promise<Buffer> {
  const ds = await loadDataset(dataset, opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
  return gridPng(renderGrid(ds.train, pickSamples(ds.train, opts.perClass ?? 8, opts.seed ?? 0)));
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 1280px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta { color: #666; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f6f6f6; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0 2em; } figcaption { color: #444; max-width: 60em; margin-top: 0.4em; }
figure svg, figure img { max-width: 100%; height: auto; }
img.samples { width: 520px; }
pre { font-size: 11px; margin: 0; max-height: 24em; overflow: auto; }
.notes li { color: #7a4b00; }
`;

/** Builds report.html's text from a results folder (rendering every figure); nothing is written. */
export async function buildReport(folder: string, opts: ReportOptions = {}): Promise<Report> {
  const results = readResults(folder);
  const groups = groupRuns(results.runs);
  const labels = new Map<ExperimentResult, string>();
  for (const g of groups) for (const r of g.runs) labels.set(r, g.label);
  const notes: string[] = [];
  const figures = renderFigures(reportFigures(results));
  const x = results.extras ?? {};
  if (!results.runs.some((r) => r.curve.some((p) => p.weights?.length))) {
    notes.push('Weight dynamics: no run recorded them (the experiment setting recordWeights).');
  }
  if (!x.voltages?.length) notes.push('Voltage traces: no segregated-network voltage recording in this folder (extras.voltages).');
  if (!x.angles?.length && !results.runs.some((r) => r.epochs.some((e) => Array.isArray(e.metrics?.angle)))) {
    notes.push('Angle to backprop: no run recorded it (the experiment setting recordAngle) and the folder holds no angle recording (extras.angles).');
  }

  const samples: string[] = [];
  const samplePngs: Array<{ name: string; png: Buffer }> = [];
  if (opts.samples ?? true) {
    for (const name of distinct(results.runs.map((r) => r.dataset.name))) {
      const dataDir = opts.dataDir ?? results.runs.find((r) => r.dataset.name === name)?.spec.dataDir;
      try {
        const png = await sampleGridPng(name, dataDir !== undefined ? { dataDir } : {});
        samplePngs.push({ name, png });
        const uri = `data:image/png;base64,${png.toString('base64')}`;
        samples.push(`<figure id="samples-${esc(name)}"><img class="samples" alt="${esc(`sample images of ${name}, one row per class`)}" src="${uri}">`
          + `<figcaption>${esc(name)}: eight training images of each class (a seeded random choice), one row per class, `
          + 'labelled. Check that images, orientation and labels look right.</figcaption></figure>');
      } catch (err) {
        notes.push(`Samples of ${name}: the dataset cannot be loaded here (${(err as Error).message}).`);
      }
    }
  }

  const title = opts.title ?? 'dendrite-bench report';
  const envs = distinct(results.runs.map((r) => `${r.environment.package.name} ${r.environment.package.version}`));
  const figureHtml = figures.map((f) => `<figure id="fig-${esc(f.name)}"><h2>${esc(f.title)}</h2>`
    + `<div class="svg">${namespaceIds(f.svg, `fig-${f.name}`)}</div><figcaption>${esc(f.caption)}</figcaption></figure>`);
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head><body>
<h1>${esc(title)}</h1>
<p class="meta">${results.runs.length} runs, ${groups.length} configurations; results written ${esc(results.createdAt)}; ${esc(envs.join(', '))}.</p>
<h2>Results</h2>
${resultsTable(groups)}
<p class="meta">Test accuracy is scored once after the last epoch; the sd is over seeds (none with one seed). Training time and examples/s count training only, not scoring.${
  results.runs.some((r) => r.weights) ? ' Final weights: each run\'s trained state as a safetensors file in the folder\'s weights/ (results.json lists its sha256).' : ''}</p>
${figureHtml.join('\n')}
${samples.length ? `<h2>Dataset samples</h2>\n${samples.join('\n')}` : ''}
<h2>Configuration</h2>
${configurationTable(groups)}
<h2>Environment</h2>
${environmentTable(results.runs, labels)}
${notes.length ? `<h2>Not shown</h2><ul class="notes">${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
  return { html, results, figures, notes, samples: samplePngs };
}

/** Writes <folder>/report.html and <folder>/figures/<name>.svg (and .png with opts.png and Chromium). */
export async function writeReport(folder: string, opts: ReportOptions = {}): Promise<{ report: string; figures: string[]; pngs: string[]; notes: string[] }> {
  const r = await buildReport(folder, opts);
  const written = await writeFigureFiles(folder, r.figures);
  const pngs: string[] = [];
  if (opts.png) {
    const chromium = findChromium();
    if (!chromium) {
      r.notes.push('PNG figures: no Chromium found (set CHROMIUM or install chromium); the SVGs are written.');
    } else {
      const files = written.map((f) => ({ svg: f.file!, png: f.file!.replace(/\.svg$/, '.png') }));
      await svgsToPng(chromium, files);
      pngs.push(...files.map((f) => f.png));
    }
  }
  // The sample grids are images already: written as figures/samples-<dataset>.png beside the charts.
  for (const s of r.samples) {
    const file = path.join(folder, 'figures', `samples-${s.name.replace(/[^a-z0-9-]/gi, '-')}.png`);
    await writeFileAtomicAsync(file, s.png);
    pngs.push(file);
  }
  const report = path.join(folder, REPORT_HTML);
  await writeFileAtomicAsync(report, r.html);
  return { report, figures: written.map((f) => f.file!), pngs, notes: r.notes };
}
