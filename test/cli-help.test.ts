// Every command's --help ends with 2-4 examples; each example parses with the real command tree
// (an unknown flag or command fails), run examples also pass their settings check, and the cheap
// ones run for real.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';
import type { Command } from 'commander';

import { createProgram } from '../src/cli/program';
import { planFromFlags, type RunFlags } from '../src/cli/run';

const cli = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-help-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Examples that run in seconds with the embedded data; run from an empty folder, each must exit 0. */
const RUN_FOR_REAL = [
  'dendrite-bench --quick',
  'dendrite-bench presets',
  'dendrite-bench presets --json',
  'dendrite-bench doctor',
  'dendrite-bench devices --json',
  'dendrite-bench data list --no-verify --json',
  'dendrite-bench data verify mnist-10k',
  'dendrite-bench data show mnist-10k -o mnist-10k.png',
];

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The help text as --help prints it (with the text added after). */
function helpOf(cmd: Command): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
}

/** The command lines of the "Examples:" section, comments removed. */
function examplesOf(help: string): string[] {
  const lines = help.split('\n');
  const at = lines.indexOf('Examples:');
  if (at < 0) return [];
  const out: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (!line.startsWith('  ')) break;
    out.push(line.replace(/\s+#.*$/, '').trim());
  }
  return out;
}

/** Splits a command line into words (no quotes or shell syntax are used in the examples). */
function words(line: string): string[] {
  if (/["'`$|<>;&\\]/.test(line)) throw new Error(`example uses shell syntax: ${line}`);
  return line.split(/\s+/);
}

/** A fresh program whose actions only record what they were called with; nothing prints. */
function stubbedProgram(): { program: Command; calls: Array<{ command: string; opts: Record<string, unknown> }> } {
  const program = createProgram();
  const calls: Array<{ command: string; opts: Record<string, unknown> }> = [];
  for (const c of allCommands(program)) {
    c.exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    c.action(function (this: Command) {
      calls.push({ command: fullName(this), opts: this.opts() });
    });
  }
  return { program, calls };
}

const commands = allCommands(createProgram());
const examples = new Map<string, string[]>(commands.map((c) => [fullName(c), examplesOf(helpOf(c))]));

test('the tree has every command of the CLI', (t) => {
  t.deepEqual([...examples.keys()].sort(), [
    'dendrite-bench', 'dendrite-bench data', 'dendrite-bench data fetch', 'dendrite-bench data list', 'dendrite-bench data show',
    'dendrite-bench data verify', 'dendrite-bench devices', 'dendrite-bench doctor', 'dendrite-bench presets', 'dendrite-bench report',
    'dendrite-bench run', 'dendrite-bench study', 'dendrite-bench study best', 'dendrite-bench study copy', 'dendrite-bench study export',
    'dendrite-bench study import', 'dendrite-bench study run', 'dendrite-bench study status', 'dendrite-bench train',
  ]);
});

test('every command\'s help ends with 2 to 4 examples of dendrite-bench', (t) => {
  for (const [name, lines] of examples) {
    t.true(lines.length >= 2 && lines.length <= 4, `${name}: ${lines.length} examples`);
    for (const line of lines) t.true(line.startsWith('dendrite-bench'), `${name}: ${line}`);
    // A subcommand's examples use that subcommand (the bare command's and a group's show several).
    const own = name.split(' ').slice(1).join(' ');
    if (own !== '' && own !== 'data' && own !== 'study' && own !== 'run') {
      for (const line of lines) t.true(line.startsWith(`${name} `) || line === name, `${name}: ${line}`);
    }
  }
});

test('every example parses with the real command tree; run examples pass the settings check', async (t) => {
  const seen = new Set<string>();
  for (const [name, lines] of examples) {
    for (const line of lines) {
      if (seen.has(line)) continue;
      seen.add(line);
      const { program, calls } = stubbedProgram();
      try {
        await program.parseAsync(words(line).slice(1), { from: 'user' });
      } catch (err) {
        t.fail(`${name}: "${line}" does not parse: ${(err as Error).message}`);
        continue;
      }
      t.is(calls.length, 1, `${name}: "${line}" reaches one command`);
      if (calls[0]?.command === 'dendrite-bench run') t.notThrows(() => planFromFlags(calls[0].opts as RunFlags), line);
    }
  }
  // The stubs do catch a wrong flag.
  const { program } = stubbedProgram();
  await t.throwsAsync(program.parseAsync(['train', '--modle', 'mlp'], { from: 'user' }), { message: /unknown option '--modle'/ });
});

test('the cheap examples run and succeed', (t) => {
  const all = [...examples.values()].flat();
  for (const line of RUN_FOR_REAL) {
    t.true(all.includes(line), `"${line}" is still an example`);
    const cwd = fs.mkdtempSync(path.join(tmp, 'run-'));
    const r = spawnSync(process.execPath, [cli, ...words(line).slice(1)], { cwd, encoding: 'utf8', timeout: 300000 });
    t.is(r.status, 0, `${line}: ${r.stderr}`);
    t.true(r.stdout.length > 0, `${line} prints something`);
    // --json: nothing but NDJSON on stdout, one JSON value per line
    if (line.includes('--json')) {
      for (const l of r.stdout.trim().split('\n')) t.notThrows(() => JSON.parse(l), `${line}: a stdout line that is not JSON: ${l.slice(0, 80)}`);
    }
  }
});
