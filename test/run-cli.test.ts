// `dendrite-bench` / `dendrite-bench run` and `presets` end to end in a child process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { pathToFileURL } from 'node:url';

import test, { type ExecutionContext } from 'ava';

import { isStudyPreset, listPresets, loadPreset, planRuns } from '../src/experiment/presets';
import { formatTable, planFromFlags, summarise } from '../src/cli/run';
import { ChromiumPage, findChromium } from '../src/report/chromium';

const cli = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-run-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300000 });
}

test('the bare command runs the quick comparison: a table of every model, a results folder, NDJSON with --json; its report in Chromium', async (t) => {
  const out = path.join(tmp, 'quick');
  const r = run('--quick', '--seeds', '0,1', '--out', out, '--json', '--threads', '2');
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const summary = lines[lines.length - 1] as { type: string; rows: Array<{ label: string; seeds: number; testAccuracy: { mean: number; sd: number } }> };
  t.is(summary.type, 'summary');
  t.deepEqual(summary.rows.map((row) => row.label), ['segregated', 'mlp', 'cnn', 'fa']);
  for (const row of summary.rows) {
    t.is(row.seeds, 2);
    t.true(row.testAccuracy.mean > 0.7 && row.testAccuracy.mean <= 1, `${row.label}: ${row.testAccuracy.mean}`);
    t.true(row.testAccuracy.sd > 0, `${row.label}: two seeds differ`);
  }
  t.true(lines.some((l) => l.type === 'device' && l.label === 'segregated'));
  const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { format: string; runs: Array<{ label: string; spec: { seed: number } }> };
  t.is(results.format, 'dendrite-bench/results@1');
  t.true(fs.existsSync(path.join(out, 'results.csv')));
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  for (const figure of ['learning-curves', 'weight-dynamics', 'voltages']) {
    t.true(fs.existsSync(path.join(out, 'figures', `${figure}.svg`)), figure);
  }
  t.is(fs.readFileSync(path.join(out, 'figures', 'samples-mnist-10k.png')).subarray(1, 4).toString(), 'PNG', 'the sample grid as a file too');
  t.regex(html, /<svg/);
  t.notRegex(html, /(src|href)="https?:/, 'self-contained');
  t.deepEqual(results.runs.map((x) => `${x.label}/${x.spec.seed}`), ['segregated/0', 'segregated/1', 'mlp/0', 'mlp/1', 'cnn/0', 'cnn/1', 'fa/0', 'fa/1']);
  await checkReportInBrowser(t, path.join(out, 'report.html'));
});

test('text output ends with the comparison table; --version; presets lists every shipped preset', (t) => {
  const r = run('run', '--quick', '--epochs', '1', '--out', path.join(tmp, 'text'), '--quiet', '--no-report');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^model\s+dataset\s+seeds\s+test accuracy\s+train time\s+examples\/s\s+device$/m);
  t.regex(r.stdout, /^segregated\s+mnist-10k\s+1\s+[0-9.]+ ± 0\.00 %\s+[0-9.]+ s\s+[0-9]+\s+cpu$/m);
  t.is(r.stderr, '', '--quiet prints no progress');
  t.false(fs.existsSync(path.join(tmp, 'text', 'report.html')), '--no-report');
  const rebuilt = run('report', path.join(tmp, 'text'), '--no-png');
  t.is(rebuilt.status, 0, rebuilt.stderr);
  t.true(fs.existsSync(path.join(tmp, 'text', 'report.html')), 'dendrite-bench report rebuilds it from results.json');
  t.is(run('report', path.join(tmp, 'nothing-here')).status, 1);
  const v = run('--version');
  t.is(v.status, 0);
  t.is(v.stdout.trim(), (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version);
  const p = run('presets');
  t.is(p.status, 0, p.stderr);
  for (const name of ['default', 'quick', 'guerguiev2017-fig6b', 'lange2019-learning']) t.regex(p.stdout, new RegExp(`^${name}$`, 'm'));
});

test('usage errors exit 2; a missing dataset exits 1 before any training and says how to get it', (t) => {
  for (const [args, message] of [
    [['--preset', 'nope'], /no preset "nope" \(the presets: /],
    [['--quick', '--preset', 'default'], /--quick and --preset exclude each other/],
    [['--seeds', '1,x'], /--seeds must be an integer/],
    [['--quick', '--dataset', 'imagenet'], /dataset must be one of/],
    [['extra'], /too many arguments|unknown command/],
    [['trian'], /unknown command "trian" \(did you mean train\?\); the commands: .*train/],
  ] as const) {
    const r = run(...args, '--out', path.join(tmp, 'bad'));
    t.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
  }
  const r = run('--quick', '--dataset', 'cifar10', '--data-dir', path.join(tmp, 'empty'), '--out', path.join(tmp, 'c'));
  t.is(r.status, 1, r.stderr);
  t.regex(r.stderr, /cifar10/);
  t.regex(r.stderr, /dendrite-bench data fetch cifar10/);
  t.false(fs.existsSync(path.join(tmp, 'c', 'results.json')));
});

// The quick run's report in headless Chromium (when there is one): every figure drew marks that
// carry data, the page logged no error and asked for nothing but itself; the screenshot is kept
// in test-artifacts/ (CI keeps it with its workspace).
async function checkReportInBrowser(t: ExecutionContext, report: string): Promise<void> {
  const chromium = findChromium();
  if (!chromium) {
    t.log('no Chromium found: the report was not opened in a browser (install chromium or set CHROMIUM)');
    return;
  }
  const page = await ChromiumPage.launch(chromium, { width: 1280, height: 900 });
  try {
    const url = pathToFileURL(report).href;
    await page.goto(url);
    const figures = await page.evaluate<Array<{ id: string; marks: string[]; text: string }>>(`
      [...document.querySelectorAll('figure[id^="fig-"]')].map((f) => ({ id: f.id, text: f.textContent,
        marks: [...f.querySelectorAll('g[class*="role-mark"] [role="graphics-symbol"]')].map((m) => m.getAttribute('aria-label') ?? '') }))`);
    t.deepEqual(figures.map((f) => f.id), ['fig-learning-curves', 'fig-test-error', 'fig-weight-dynamics', 'fig-voltages']);
    for (const f of figures) t.true(f.marks.filter((l) => /\d/.test(l)).length >= 4, `${f.id}: marks carrying numbers (${f.marks.length} marks)`);
    // Every model of the quick run has its panel of learning curves.
    for (const model of ['segregated', 'mlp', 'cnn', 'fa']) t.true(figures[0].text.includes(`mnist-10k · ${model}`), `learning curves: ${model}`);
    t.deepEqual(page.log.exceptions, []);
    t.deepEqual(page.log.console.filter((c) => c.level === 'error' || c.level === 'warning'), []);
    t.deepEqual(page.log.requests.filter((u) => u !== url && !u.startsWith('data:')), [], 'no request but the page and its data URIs');
    const shot = await page.screenshot({ width: 1280, height: 2400 });
    t.is(shot.subarray(1, 4).toString(), 'PNG');
    const artifacts = path.join(__dirname, '..', '..', 'test-artifacts');
    fs.mkdirSync(artifacts, { recursive: true });
    fs.writeFileSync(path.join(artifacts, 'report-quick.png'), shot);
    t.log(`screenshot: ${path.join(artifacts, 'report-quick.png')} (${shot.length} bytes)`);
  } finally {
    await page.close();
  }
}

test('every shipped preset resolves; plans run each experiment once per seed with overrides on top', (t) => {
  const presets = listPresets();
  t.true(presets.length >= 4);
  const fig6b = loadPreset('guerguiev2017-fig6b');
  if (isStudyPreset(fig6b)) return t.fail('guerguiev2017-fig6b is a preset of experiments');
  const runs = planRuns(fig6b, { device: 'cpu' }, [1, 2]);
  t.deepEqual(runs.map((r) => `${r.label}/${r.seed}`), ['784-10/1', '784-10/2', '784-500-10/1', '784-500-10/2', '784-500-100-10/1', '784-500-100-10/2']);
  t.like(runs[0].spec, { model: 'segregated', dataset: 'mnist', epochs: 60, testEachEpoch: true, device: 'cpu', seed: 1, options: { layers: [10] } });
  t.regex(formatTable(summarise([], [])), /^model/);
  // --only picks experiments by label; an unknown label lists the preset's.
  const only = planFromFlags({ preset: 'guerguiev2017-fig6b', only: '784-500-10,784-10' });
  t.deepEqual(only.kind === 'experiments' ? only.runs.map((r) => r.label) : [], ['784-10', '784-500-10']);
  t.throws(() => planFromFlags({ preset: 'guerguiev2017-fig6b', only: '784-500' }), { message: /"784-500" is not an experiment of guerguiev2017-fig6b \(its experiments: 784-10, 784-500-10, 784-500-100-10\)/ });
});

test('without the addon: --help, presets, data list and doctor work; doctor says why; compute names the fix', (t) => {
  const env = { ...process.env, DENDRITE_ADDON: path.join(tmp, 'no-such-addon.node') };
  const go = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 60000 });
  for (const args of [['--help'], ['train', '--help'], ['presets'], ['data', 'list']]) {
    const r = go(...args);
    t.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    t.notRegex(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
  const d = go('doctor', '--json');
  t.is(d.status, 1);
  const report = JSON.parse(d.stdout) as { addon: { loaded: boolean; error: string }; advice: string[] };
  t.false(report.addon.loaded);
  t.regex(report.addon.error, /no-such-addon\.node/);
  t.true(report.advice.some((a) => /npm rebuild dendrite-bench/.test(a)));
  const r = go('--quick', '--out', path.join(tmp, 'noaddon'));
  t.is(r.status, 1);
  t.regex(r.stderr, /^dendrite-bench: the native addon could not be loaded\. Rebuild it with "npm rebuild dendrite-bench"/m);
  t.notRegex(r.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('doctor with the addon: what was built and found, and advice that matches the machine', (t) => {
  const r = run('doctor', '--json');
  t.is(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { addon: { loaded: boolean }; devices: { cpu: { simd: string }; cuda: { available: boolean; reason?: string } }; advice: string[] };
  t.true(report.addon.loaded);
  t.truthy(report.devices.cpu.simd);
  if (!report.devices.cuda.available) t.true(report.advice.length > 0, 'says what to do about CUDA');
  const text = run('doctor');
  t.regex(text.stdout, /^cpu: \d+ logical cores/m);
  t.regex(text.stdout, /^cuda: /m);
});
