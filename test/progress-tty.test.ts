// Progress on a terminal, for real: the CLI run under a pseudo-terminal (util-linux `script`)
// draws live bars (cli-progress: hidden cursor, carriage-return redraws, the bar's text); the
// same commands with pipes print plain lines, and with --json nothing but NDJSON.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

const cli = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-tty-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

// util-linux script (Linux); BSD script (macOS) takes other flags.
const haveScript = process.platform === 'linux' && spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout?.includes('util-linux');
const ttyTest = haveScript ? test : test.skip;

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The CLI with stdout and stderr on a pseudo-terminal: what the terminal received. */
function onTerminal(args: string[]): { status: number | null; text: string } {
  const command = [process.execPath, cli, ...args].map(quote).join(' ');
  const r = spawnSync('script', ['-qfec', command, '/dev/null'], { encoding: 'utf8', timeout: 240000, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, text: r.stdout + r.stderr };
}

/** The CLI with pipes (not a terminal). */
function piped(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 240000, cwd: tmp });
}

const ESC = '\u001b';
const HIDE_CURSOR = `${ESC}[?25l`;
const BLOCKS = /[\u2588\u2591]{5,}/; // the shades_classic bar: full and light blocks

function noEscapes(t: { false: (v: boolean, m?: string) => void }, text: string, what: string): void {
  t.false(text.includes(ESC), `${what}: no terminal control sequences`);
}

ttyTest('train on a terminal: a live bar (epoch, examples, ex/s, accuracy, ETA) with the epoch lines above it', (t) => {
  // Chunks of 600 examples and a wide layer: epoch 1 lasts long enough for redraws of the bar (10 per
  // second). With 256 hidden units it took 0.06-0.1 s on this project's 2-core machine (over
  // 100,000 examples/s), too short for one: 2,048 take about 0.5 s.
  const r = onTerminal(['train', '--model', 'mlp', '--layers', '2048,10', '--epochs', '2', '--threads', '1', '--chunk-size', '600']);
  t.is(r.status, 0, r.text);
  t.true(r.text.includes(HIDE_CURSOR), 'cli-progress hides the cursor while it draws');
  t.regex(r.text, /\r|\u001b\[1G/, 'redraws return to the line start');
  t.regex(r.text, BLOCKS);
  t.regex(r.text, /mlp \|[\u2588\u2591]+\| epoch 2\/2 14400\/14400 ex {2}\d+ ex\/s {2}acc test [0-9.]+% {2}ETA \d+s/, 'the finished bar');
  t.regex(r.text, /mlp \|[\u2588\u2591]+\| epoch 1\/2 \d+\/14400 ex {2}\d+ ex\/s {2}acc [0-9.]+% {2}ETA \d+s/, 'a bar during epoch 1');
  t.regex(r.text, /epoch 1\/2 {2}train loss [0-9.]+ acc [0-9.]+%/, 'the epoch lines still print');
  t.regex(r.text, /trained 14400 examples in /);
});

test('train without a terminal: plain lines, no bar', (t) => {
  const r = piped(['train', '--model', 'mlp', '--layers', '32,10', '--epochs', '1', '--threads', '1']);
  t.is(r.status, 0, r.stderr);
  noEscapes(t, r.stdout + r.stderr, 'train');
  t.notRegex(r.stdout + r.stderr, BLOCKS);
  t.regex(r.stdout, /^epoch 1\/1 {2}train loss /m);
});

ttyTest('train --json on a terminal: nothing but NDJSON', (t) => {
  const r = onTerminal(['train', '--model', 'mlp', '--layers', '32,10', '--epochs', '1', '--threads', '1', '--json']);
  t.is(r.status, 0, r.text);
  noEscapes(t, r.text, 'train --json');
  const lines = r.text.split(/\r?\n/).filter((l) => l !== '');
  for (const l of lines) t.notThrows(() => JSON.parse(l), l.slice(0, 80));
  t.is((JSON.parse(lines.at(-1)!) as { type: string }).type, 'result');
});

const studyArgs = (name: string): string[] => ['study', 'run', '--model', 'mlp', '--trials', '2', '--folds', '2', '--epochs', '1', '--threads', '1',
  '--storage', path.join(tmp, `${name}.sqlite`), '--study', name];

ttyTest('study run on a terminal: a bar for the study and one per running trial, fed by the worker processes', (t) => {
  const r = onTerminal([...studyArgs('tty'), '--workers', '2']);
  t.is(r.status, 0, r.text);
  t.true(r.text.includes(HIDE_CURSOR));
  // The study's bar: trials done of the budget, the best so far, elapsed, ETA.
  t.regex(r.text, /study tty \|[\u2588\u2591]+\| 0\/2 trials {2}best - {2}elapsed \d+s {2}ETA -/);
  t.regex(r.text, /study tty \|[\u2588\u2591]+\| 2\/2 trials {2}best 0\.\d{4} \(trial \d\) {2}elapsed \d+s {2}ETA 0s/);
  // A bar per trial, from its worker process (IPC): fold, epoch, examples, speed, accuracy.
  for (const n of [0, 1]) t.regex(r.text, new RegExp(`trial ${n} \\|[\\u2588\\u2591]+\\| fold [12]/2 epoch 1/1 \\d+/\\d+ ex {2}\\d+ ex/s {2}acc [0-9.]+%`), `trial ${n}`);
  // The lines of a run without a terminal still print, above the bars.
  t.regex(r.text, /trial \d complete 0\.\d{4} \| best 0\.\d{4} \(trial \d\) \| 2\/2 \| elapsed \d+s \| ETA 0s/);
  t.regex(r.text, /done: 2\/2 trials, best 0\.\d{4}/);
});

test('study run without a terminal: one line per trial, no bars', (t) => {
  const r = piped(studyArgs('piped'));
  t.is(r.status, 0, r.stderr);
  noEscapes(t, r.stdout + r.stderr, 'study run');
  t.notRegex(r.stdout + r.stderr, /fold \d\/2/);
  t.is(r.stdout.split('\n').filter((l) => /^trial \d complete /.test(l)).length, 2, r.stdout);
});

ttyTest('study run --json on a terminal: nothing but NDJSON, without progress events', (t) => {
  const r = onTerminal([...studyArgs('json'), '--json']);
  t.is(r.status, 0, r.text);
  noEscapes(t, r.text, 'study run --json');
  const events = r.text.split(/\r?\n/).filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string });
  t.deepEqual(events.map((e) => e.type), ['study', 'trial', 'trial', 'final', 'done']);
});
