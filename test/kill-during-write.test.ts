// Every writer of a file the user keeps, SIGKILLed at random moments while it writes over and
// over in a child process (kill-during-write-child.ts): the target is always absent or whole (read
// back with the package's own loader, checksums included), and temporary files do not pile up:
// a killed write leaves at most one, which the next write removes. Downloads keep their .part on
// purpose (the next fetch resumes it), one per file at most.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

import test, { type ExecutionContext } from 'ava';

import { idxFileSpecs } from '../src/data/load';
import { crc32 } from '../src/data/png';
import { verifyFile } from '../src/data/verify';
import { runExperiment } from '../src/experiment/run';
import { SegregatedNetwork } from '../src/models/segregated';
import { makeResults, readResults, writeResults, RESULTS_CSV } from '../src/report/results';
import { parseStudyJson } from '../src/study/export';
import type { StudyConfig } from '../src/study/types';
import { loadCheckpoint } from '../src/train/checkpoint';
import { smallIdx, smallIdxSpec, startServer } from './data-fixtures';

const child = path.join(__dirname, 'kill-during-write-child.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dendrite-kill-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Kills per writer; each at a random moment of the child's write loop, after its first complete write. */
const KILLS = 5;

/** Starts the child, waits for "ready", lets it write for a random while, SIGKILLs it; resolves when it is gone. */
async function killDuringWrites(writer: string, target: string, args: Record<string, unknown>): Promise<void> {
  const p = spawn(process.execPath, [child, writer, target, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((resolve) => p.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    p.on('exit', (code) => reject(new Error(`${writer}: the child exited (${code}) before writing: ${stderr}`)));
  });
  await new Promise((r) => setTimeout(r, 5 + Math.random() * 300));
  p.kill('SIGKILL');
  await exited;
  if (p.exitCode !== null) throw new Error(`${writer}: the child ended by itself (${p.exitCode}): ${stderr}`);
}

/** One full write, not killed (asynchronously: the download's server runs in this process). */
async function writeOnce(writer: string, target: string, args: Record<string, unknown>): Promise<void> {
  const p = spawn(process.execPath, [child, writer, target, JSON.stringify(args), 'once'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | null>((resolve) => p.on('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`${writer}: ${stderr}`);
}

/** The temporary files of writeFileAtomic(Async) in a folder. */
function temps(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/.test(n)) : [];
}

interface Writer {
  name: string;
  /** The folder the writer writes into (its temporary files are looked for there). */
  dirs: string[];
  args?: Record<string, unknown>;
  target: string;
  /** Throws unless each file the writer keeps is absent or whole; returns how many were present. */
  check: (t: ExecutionContext) => Promise<number>;
  /** Downloads start afresh each time (their finished files are removed): they may be absent after a kill. */
  mayBeAbsent?: boolean;
}

async function exercise(t: ExecutionContext, w: Writer): Promise<void> {
  let seen = 0;
  for (let k = 0; k < KILLS; k++) {
    await killDuringWrites(w.name, w.target, w.args ?? {});
    const found = await w.check(t);
    // Written completely once before the kill: a killed overwrite must leave that file.
    if (!w.mayBeAbsent) t.true(found > 0, `${w.name}, kill ${k + 1}: the previous file is gone`);
    seen += found;
    for (const d of w.dirs) t.true(temps(d).length <= 1, `${w.name}, kill ${k + 1}: temporary files ${temps(d).join(', ')}`);
  }
  // A write after the kills completes and removes what the killed ones left.
  await writeOnce(w.name, w.target, w.args ?? {});
  t.true((await w.check(t)) > 0, `${w.name}: written after the kills`);
  for (const d of w.dirs) t.deepEqual(temps(d), [], `${w.name}: temporary files left after a complete write`);
  t.log(`${w.name}: ${seen} files found whole after ${KILLS} kills`);
}

const present = (f: string): boolean => fs.existsSync(f);

test('checkpoints (the training loop\'s saveCheckpoint)', async (t) => {
  const dir = path.join(tmp, 'ck');
  const file = path.join(dir, 'run.ckpt');
  await exercise(t, { name: 'checkpoint', dirs: [dir], target: file, check: async () => {
    if (!present(file)) return 0;
    const ck = await loadCheckpoint(file);  // the sha256 over the whole file is checked
    const w = ck.arrays.w as Float32Array;
    t.true(w.length === 1 << 20 && w.every((x) => x === ck.meta.version), 'one version throughout');
    return 1;
  } });
});

test('saved segregated networks (save())', async (t) => {
  const dir = path.join(tmp, 'seg');
  const file = path.join(dir, 'net.safetensors');
  await exercise(t, { name: 'segregated-save', dirs: [dir], target: file, check: async () => {
    if (!present(file)) return 0;
    (await SegregatedNetwork.load(file, { threads: 1 })).dispose();
    return 1;
  } });
});

test('results folder (results.json, results.csv) and report (report.html, figures/*.svg)', async (t) => {
  const source = path.join(tmp, 'source');
  const r = await runExperiment({ model: 'mlp', options: { layers: [16, 10] }, epochs: 1, test: false, threads: 1 });
  await writeResults(source, makeResults([r, { ...r, label: 'again' }]));
  const folder = path.join(tmp, 'results');
  const checkResults = async (): Promise<number> => {
    let n = 0;
    if (present(path.join(folder, 'results.json'))) {
      t.is(readResults(folder).runs.length, 2);  // parsed and validated
      n++;
    }
    const csv = path.join(folder, RESULTS_CSV);
    if (present(csv)) {
      const text = fs.readFileSync(csv, 'utf8');
      t.true(text.endsWith('\n') && text.trim().split('\n').length === 3, `results.csv: ${text.length} characters`);
      n++;
    }
    return n;
  };
  await exercise(t, { name: 'results', dirs: [folder], target: folder, args: { source }, check: checkResults });

  const report = path.join(folder, 'report.html');
  await exercise(t, { name: 'report', dirs: [folder, path.join(folder, 'figures')], target: folder, check: async () => {
    let n = await checkResults();
    if (present(report)) {
      t.regex(fs.readFileSync(report, 'utf8'), /^<!DOCTYPE html>[^]*<\/body><\/html>\n?$/);
      n++;
    }
    const figures = path.join(folder, 'figures');
    for (const f of present(figures) ? fs.readdirSync(figures).filter((x) => x.endsWith('.svg')) : []) {
      t.regex(fs.readFileSync(path.join(figures, f), 'utf8'), /^<svg[^]*<\/svg>\s*$/, f);
      n++;
    }
    return n;
  } });
});

test('study export (study export --out)', async (t) => {
  const dir = path.join(tmp, 'study');
  const file = path.join(dir, 'export.json');
  const config: StudyConfig = {
    objective: { model: 'mlp', fixed: { layers: [16, 10] }, dataset: 'mnist-10k', folds: 2, epochs: 1 },
    space: { lr: { type: 'float', low: 1e-4, high: 0.3, log: true }, batchSize: { type: 'int', low: 16, high: 256, log: true } },
    spaceName: 'test', direction: 'maximize', strategy: 'bayes', trials: 3000, seed: 5, prune: false,
  };
  await exercise(t, { name: 'study-export', dirs: [dir], target: file, args: { config }, check: async () => {
    if (!present(file)) return 0;
    t.is(parseStudyJson(fs.readFileSync(file, 'utf8'), file).trials.length, 3000);
    return 1;
  } });
});

/** Chunks with their CRCs, IEND last, the image data inflating. */
function checkPng(t: ExecutionContext, b: Buffer): void {
  t.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const idat: Buffer[] = [];
  let at = 8;
  let type = '';
  while (at < b.length) {
    const len = b.readUInt32BE(at);
    type = b.toString('latin1', at + 4, at + 8);
    const data = b.subarray(at + 8, at + 8 + len);
    t.is(b.readUInt32BE(at + 8 + len), crc32(b.subarray(at + 4, at + 8), data) >>> 0, `${type} CRC`);
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  t.is(type, 'IEND');
  t.is(at, b.length);
  t.true(zlib.inflateSync(Buffer.concat(idat)).length > 0);
}

test('sample grids (data show -o)', async (t) => {
  const dir = path.join(tmp, 'show');
  const file = path.join(dir, 'grid.png');
  fs.mkdirSync(dir, { recursive: true });
  await exercise(t, { name: 'sample-grid', dirs: [dir], target: file, check: async () => {
    if (!present(file)) return 0;
    checkPng(t, fs.readFileSync(file));
    return 1;
  } });
});

test('dataset downloads (data fetch): finished files verify, a .part per file at most', async (t) => {
  const small = smallIdx(3000, 1000, 5);
  const spec = smallIdxSpec(small);
  const bodies = [small.trainImages, small.trainLabels, small.testImages, small.testLabels];
  const server = await startServer(Object.fromEntries(idxFileSpecs(spec).map((f, i) => [`/mnist/${f.name}`, { body: bodies[i] }])));
  t.teardown(() => server.close());
  const root = path.join(tmp, 'data');
  const dir = path.join(root, 'mnist');
  await exercise(t, { name: 'download', dirs: [dir], target: root, args: { mirror: server.base }, mayBeAbsent: true, check: async () => {
    let n = 0;
    for (const f of idxFileSpecs(spec)) {
      const file = path.join(dir, f.name);
      if (!present(file)) continue;
      const v = await verifyFile(file, f);  // size and checksums
      t.true(v.ok, `${f.name}: ${v.ok ? '' : v.how}`);
      n++;
    }
    const names = present(dir) ? fs.readdirSync(dir) : [];
    t.true(names.every((x) => idxFileSpecs(spec).some((f) => x === f.name || x === `${f.name}.part`)), names.join(', '));
    return n;
  } });
});
