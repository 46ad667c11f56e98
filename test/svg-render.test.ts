// The report's SVG renderer (src/report/svg/) on small charts whose drawing is known: scales and
// ticks, marks at their coordinates with their labels, legends, escaping, empty data.
import test from 'ava';

import { binning, boxStats } from '../src/report/svg/data';
import { formatNumber } from '../src/report/svg/format';
import { linearTicks, logTicks, niceLinear, quantDomain, quantScale, TABLEAU10 } from '../src/report/svg/scale';
import { renderSvg } from '../src/report/svg/render';
import type { Chart, FieldDef } from '../src/report/svg/spec';

/** The elements of an SVG string with their attributes, in document order. */
function elements(svg: string, tag: string): Array<Record<string, string>> {
  return [...svg.matchAll(new RegExp(`<${tag}((?:\\s+[\\w:-]+="[^"]*")*)\\s*/?>`, 'g'))]
    .map((m) => Object.fromEntries([...m[1].matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])));
}

/** Well-formed XML as far as nesting goes: every element closed, in order; no stray '<' or '&'. */
function assertWellFormed(t: { deepEqual(a: unknown, b: unknown, m?: string): void; true(v: boolean, m?: string): void }, svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([\w:-]+)[^>]*?(\/?)>/g)) {
    if (m[1]) t.deepEqual(stack.pop(), m[2], `</${m[2]}> closes the open element`);
    else if (!m[3]) stack.push(m[2]);
  }
  t.deepEqual(stack, [], 'every element closed');
  t.true(!/&(?!(amp|lt|gt|quot|#39);)/.test(svg), 'no bare &');
  t.true(!/<(?![\w/])/.test(svg), 'no bare <');
}

const clean = (svg: string) => !/NaN|undefined|Infinity/.test(svg);

test('number formats as d3-format writes them', (t) => {
  t.is(formatNumber(2400), '2400');
  t.is(formatNumber(0.532507181168123), '0.532507181168');
  t.is(formatNumber(1e-7), '1e-7');
  t.is(formatNumber(-2.5), '\u22122.5');
  t.is(formatNumber(0.0964, '.1%'), '9.6%');
  t.is(formatNumber(2.4, 'd'), '2');
  t.is(formatNumber(12000, ',.0f'), '12,000');
  t.is(formatNumber(-0.0001, '.2f'), '0.00', 'no minus sign on a value shown as zero');
  t.throws(() => formatNumber(1, '.2s'), { message: /number format "\.2s"/ });
});

test('linear scales: nice domains and round ticks without float noise', (t) => {
  t.deepEqual(niceLinear(0.13, 0.87), [0.1, 0.9]);
  t.deepEqual(niceLinear(2400, 7200), [2000, 7500]);
  t.deepEqual(linearTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.deepEqual(linearTicks(0.1, 0.3, 4), [0.1, 0.15, 0.2, 0.25, 0.3]);
  t.deepEqual(linearTicks(0.9, 3.1, 10, 1), [1, 2, 3], 'tickMinStep 1: integers only');
  t.deepEqual(quantDomain([3, 5], { kind: 'linear', zero: true, nice: true }), [0, 5]);
  t.deepEqual(quantDomain([], { kind: 'linear', zero: false, nice: true }), [0, 1]);
  const one = quantDomain([1], { kind: 'linear', zero: false, nice: true });
  t.true(one[0] < 1 && one[1] > 1, `room around a single value: ${one}`);
  const s = quantScale('linear', [0, 10], [100, 0]);
  t.is(s.map(2.5), 75);
  t.deepEqual(s.ticks(3).map((x) => x.label), ['0', '5', '10']);
  t.deepEqual(quantScale('linear', [0, 0.2], [0, 100]).ticks(5, '.1%').map((x) => x.label), ['0.0%', '5.0%', '10.0%', '15.0%', '20.0%']);
});

test('log scales: powers of ten, with 2 and 5 over short domains', (t) => {
  t.deepEqual(logTicks(1e-4, 1), [1e-4, 1e-3, 1e-2, 0.1, 1]);
  t.deepEqual(logTicks(1, 100), [1, 2, 5, 10, 20, 50, 100]);
  t.deepEqual(quantDomain([0.003, 0.2], { kind: 'log', zero: false, nice: true }), [0.001, 1]);
  const s = quantScale('log', [0.001, 1], [0, 300]);
  t.is(s.map(0.01), 100);
  t.deepEqual(s.ticks(5).map((x) => x.label), ['0.001', '0.01', '0.1', '1']);
});

test('bins and box statistics as Vega computes them', (t) => {
  t.deepEqual(binning(0.2, 0.9, 30), { start: 0.2, stop: 0.9, step: 0.05 });
  t.deepEqual(binning(3, 97, 10), { start: 0, stop: 100, step: 10 });
  const b = boxStats([1, 2, 3, 4, 5, 6, 7, 8, 100], 1.5);
  t.deepEqual([b.q1, b.median, b.q3, b.lo, b.hi, b.outliers], [3, 5, 7, 1, 8, [100]]);
});

const lineChart = (values: Chart['data']['values'], color: FieldDef = { field: 'model', type: 'nominal', title: 'model' }): Chart => ({
  data: { values },
  width: 100, height: 50,
  layer: [{
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', scale: { domain: [0, 10] } },
      y: { field: 'error', type: 'quantitative', title: 'error', axis: { format: '.1%' }, scale: { domain: [0, 1] } },
      color,
    },
  }],
});

test('a line with points: one point per row at its coordinates, one line per colour, labelled', (t) => {
  const values = [
    { model: 'mlp', epoch: 1, error: 0.5 }, { model: 'mlp', epoch: 2, error: 0.25 },
    { model: 'cnn', epoch: 1, error: 0.2 }, { model: 'cnn', epoch: 5, error: 0.1 }, { model: 'mlp', epoch: 5, error: 0.05 },
  ];
  const svg = renderSvg(lineChart(values));
  t.regex(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" [^>]*width="(\d+)" height="(\d+)" viewBox="0 0 \1 \2"/);
  assertWellFormed(t, svg);
  t.true(clean(svg));
  const points = elements(svg, 'circle').filter((c) => c['aria-roledescription'] === 'point');
  t.is(points.length, values.length);
  // points in data order; x over 100 px for 0..10, y over 50 px for 1..0
  t.deepEqual(points.map((p) => [Number(p.cx), Number(p.cy)]), values.map((v) => [v.epoch * 10, 50 - v.error * 50]));
  t.is(points[0]['aria-label'], 'epoch: 1; error: 50.0%; model: mlp');
  t.is(points[0].role, 'graphics-symbol');
  // colours by the sorted domain: cnn first
  t.is(points[2].fill, TABLEAU10[0]);
  t.is(points[0].fill, TABLEAU10[1]);
  const lines = elements(svg, 'path').filter((p) => p['aria-roledescription'] === 'line mark');
  t.deepEqual(lines.map((l) => [l['aria-label'], l.d]), [
    ['epoch: 1; error: 50.0%; model: mlp', 'M10,25L20,37.5L50,47.5'],
    ['epoch: 1; error: 20.0%; model: cnn', 'M10,40L50,45'],
  ]);
  t.regex(svg, /<g class="mark-line role-mark" role="graphics-object" aria-roledescription="line mark container">/);
  t.is(renderSvg(lineChart(values)), svg, 'deterministic');
});

test('the legend lists the colour domain, in the given order when there is one', (t) => {
  const values = [{ model: 'b', epoch: 1, error: 0.1 }, { model: 'a', epoch: 2, error: 0.2 }, { model: 'c', epoch: 3, error: 0.3 }];
  const legendTexts = (svg: string) => /<g class="role-legend"[^>]*>(.*?)<\/g>/.exec(svg)![1].match(/(?<=>)[^<]+(?=<\/text>)/g);
  t.deepEqual(legendTexts(renderSvg(lineChart(values))), ['model', 'a', 'b', 'c']);
  const svg = renderSvg(lineChart(values, { field: 'model', type: 'nominal', title: 'model', scale: { domain: ['c', 'b', 'a'] } }));
  t.deepEqual(legendTexts(svg), ['model', 'c', 'b', 'a']);
  t.deepEqual(elements(svg, 'circle').filter((c) => !c.role).map((c) => c.fill), TABLEAU10.slice(0, 3), 'legend symbols in domain colours');
});

test('text is escaped in marks, labels, titles and legends', (t) => {
  const evil = '<b>"R&D" & \'more\'</b>';
  const svg = renderSvg({
    data: { values: [{ x: 1, y: 2, text: evil, kind: evil }] },
    layer: [
      { mark: { type: 'point' }, encoding: { x: { field: 'x', type: 'quantitative', title: evil }, y: { field: 'y', type: 'quantitative' }, color: { field: 'kind', type: 'nominal' } } },
      { mark: { type: 'text' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'text' } } },
    ],
  });
  assertWellFormed(t, svg);
  t.false(svg.includes('<b>'));
  t.true(svg.includes('&lt;b&gt;&quot;R&amp;D&quot; &amp; &#39;more&#39;&lt;/b&gt;'));
});

test('no data: axes and legendless panels, no marks, nothing undefined', (t) => {
  for (const chart of [
    lineChart([]),
    { data: { values: [] }, facet: { field: 'panel' }, columns: 2, spec: (({ data: _d, ...rest }) => rest)(lineChart([])) } as Chart,
    { data: { values: [] }, vconcat: [
      { mark: { type: 'bar' }, encoding: { x: { field: 'v', type: 'quantitative', bin: { maxbins: 10 } }, y: { aggregate: 'count', type: 'quantitative' } } },
      { mark: { type: 'boxplot' }, encoding: { x: { field: 'v', type: 'quantitative' }, y: { field: 'm', type: 'nominal' } } },
    ] } as Chart,
    // rows whose positions cannot be drawn are left out, not drawn at NaN
    lineChart([{ model: 'a', epoch: null, error: 0.1 }, { model: 'a', epoch: 2, error: Number.NaN }, { model: 'a', epoch: '3', error: 0.1 }]),
  ]) {
    const svg = renderSvg(chart);
    assertWellFormed(t, svg);
    t.true(clean(svg), svg);
    t.false(svg.includes('role="graphics-symbol" aria-roledescription="point"'), 'no marks');
  }
  const svg = renderSvg(lineChart([]));
  t.regex(svg, /aria-roledescription="axis" aria-label="X-axis titled &#39;epoch&#39;/);
  t.regex(svg, />error<\/text>/);
});

test('facets: one panel per value in order of appearance, each with its header; independent y domains', (t) => {
  const values = [{ p: 'second', x: 1, y: 10 }, { p: 'first', x: 2, y: 1000 }];
  const svg = renderSvg({
    data: { values }, facet: { field: 'p' }, columns: 2, resolve: { scale: { y: 'independent' } },
    spec: { width: 100, height: 100, mark: { type: 'point' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } },
  });
  t.deepEqual([...svg.matchAll(/<g class="role-header">.*?>([^<]+)<\/text><\/g>/g)].map((m) => m[1]), ['second', 'first']);
  const axes = [...svg.matchAll(/aria-label="Y-axis titled &#39;y&#39; for a linear scale with values from ([^ ]+) to ([^"]+)"/g)].map((m) => m[2]);
  t.deepEqual(axes, ['10', '1,000']);
});
