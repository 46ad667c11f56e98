// `dendrite-bench data ...`: list, fetch, verify and show datasets.
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';

import { type DownloadProgress, fetchDataset } from '../data/fetch';
import { getSpec, loadDataset } from '../data/load';
import { resolveDataDir } from '../data/paths';
import { datasetNames } from '../data/registry';
import { gridPng, pickSamples, renderGrid } from '../data/show';
import { listDatasets, verifyDataset } from '../data/status';
import { writeFileAtomic } from '../train/safetensors';

interface CommonOpts {
  dataDir?: string;
}

function intArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A progress bar on `stream`: redrawn in place on a terminal, a line per quarter otherwise. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): (p: DownloadProgress) => void {
  let lastDraw = 0;
  let lastQuarter = -1;
  let started = 0;
  let startBytes = 0;
  let current = '';
  return (p) => {
    const now = Date.now();
    const key = `${p.url}|${p.resumedFrom}`;
    if (key !== current) {
      current = key;
      started = now;
      startBytes = p.received;
      lastQuarter = -1;
    }
    const frac = p.total ? p.received / p.total : undefined;
    const rate = now > started ? ((p.received - startBytes) / (now - started)) * 1000 : 0;
    const sizes = `${formatBytes(p.received)}${p.total ? ' / ' + formatBytes(p.total) : ''}`;
    if (stream.isTTY) {
      if (!p.done && now - lastDraw < 100) return;
      lastDraw = now;
      const width = 30;
      const filled = frac === undefined ? 0 : Math.round(frac * width);
      const bar = frac === undefined ? '?'.repeat(width) : '#'.repeat(filled) + '-'.repeat(width - filled);
      const pct = frac === undefined ? '  ?%' : `${Math.floor(frac * 100)}%`.padStart(4);
      stream.write(`\r${p.file} [${bar}] ${pct} ${sizes} ${formatBytes(rate)}/s\x1b[K${p.done ? '\n' : ''}`);
    } else {
      const q = frac === undefined ? 0 : Math.floor(frac * 4);
      if (p.done || q > lastQuarter) {
        lastQuarter = q;
        stream.write(`${p.file}: ${p.done ? 'done, ' : frac !== undefined ? `${q * 25}%, ` : ''}${sizes}\n`);
      }
    }
  };
}

function common(cmd: Command): CommonOpts {
  return cmd.optsWithGlobals() as CommonOpts;
}

function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'data directory (default: $DENDRITE_DATA_DIR, else the per-user cache folder)');
}

/** `data show`: a PNG grid of sample images of a split, one row per class, written atomically to `out`. */
export async function writeSampleGrid(name: string, out: string, opts: { split: 'train' | 'test'; perClass: number; seed?: number; scale?: number; dataDir?: string }):
  Promise<{ dataset: string; width: number; height: number; images: number }> {
  const ds = await loadDataset(name, opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
  const set = ds[opts.split];
  const rows = pickSamples(set, opts.perClass, opts.seed);
  const grid = renderGrid(set, rows, { scale: opts.scale });
  writeFileAtomic(out, gridPng(grid));
  return { dataset: ds.name, width: grid.width, height: grid.height, images: rows.reduce((a, r) => a + r.length, 0) };
}

export function registerDataCommands(program: Command): void {
  const names = datasetNames().join(', ');
  const data = program
    .command('data')
    .description(`list, download, verify and look at datasets (${names})`)
    .addOption(dataDirOption())
    .addHelpText('after', `
Examples:
  dendrite-bench data list
  dendrite-bench data fetch mnist
  dendrite-bench data show mnist-10k -o mnist-10k.png`);

  data
    .command('list')
    .description('what is available where, with sizes and whether it verifies')
    .addOption(dataDirOption())
    .option('--no-verify', 'skip the checksum checks (faster)')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  dendrite-bench data list
  dendrite-bench data list --no-verify --json
  dendrite-bench data list --data-dir /data/datasets`)
    .action(async (opts: { verify: boolean; json?: boolean }, cmd: Command) => {
      const o = common(cmd);
      const entries = await listDatasets({ dataDir: o.dataDir, verify: opts.verify });
      if (opts.json) {
        console.log(JSON.stringify(entries));
        return;
      }
      const dd = resolveDataDir({ dataDir: o.dataDir });
      console.log(`data directory: ${dd.dir} (${dd.source === 'option' ? '--data-dir' : dd.source === 'env' ? 'DENDRITE_DATA_DIR' : 'default cache folder'})`);
      for (const e of entries) {
        const state = !e.present ? 'absent' : e.verified === undefined ? 'present' : e.verified ? 'verified' : 'FAILS VERIFICATION';
        console.log(`${e.name.padEnd(14)} ${state.padEnd(18)} ${e.present ? formatBytes(e.bytes).padStart(10) : ''.padStart(10)}  ${e.dir}`);
        if (!e.present || e.verified === false) console.log(`${''.padEnd(14)} ${e.detail}`);
      }
    });

  data
    .command('fetch')
    .description('download the official files (HTTPS, resumable, checksum-verified) into the data directory')
    .argument('<name>', `dataset: ${names}`)
    .addOption(dataDirOption())
    .option('--mirror <urls>', 'base URL(s), comma-separated, tried instead of the official mirrors (also $DENDRITE_DATA_MIRROR); a URL gets /<name>/<file> appended, or put {name} and {file} in it')
    .option('--force', 'download even when a verified copy exists elsewhere (e.g. a system package)')
    .option('--retries <n>', 'retries per mirror (with growing pauses) after a dropped, stalled or wrong answer', intArg(0), 3)
    .option('--timeout <seconds>', 'a stall window: each must bring --min-rate bytes/s, and the first answer must come within it', intArg(1), 30)
    .option('--min-rate <bytes>', 'slowest transfer accepted, in bytes per second', intArg(1), 1024)
    .option('--deadline <minutes>', 'give up on a file after this long, all mirrors and retries together (default: 10 min plus its size at 16 KiB/s)', intArg(1))
    .option('-q, --quiet', 'no progress bar')
    .addHelpText('after', `
Examples:
  dendrite-bench data fetch mnist
  dendrite-bench data fetch cifar10 --data-dir /data/datasets
  dendrite-bench data fetch fashion-mnist --retries 5 --timeout 60 --quiet`)
    .action(async (name: string, opts: { mirror?: string; force?: boolean; retries: number; timeout: number; minRate: number;
      deadline?: number; quiet?: boolean }, cmd: Command) => {
      const o = common(cmd);
      getSpec(name);
      const log = opts.quiet ? undefined : (line: string): void => void process.stderr.write(line + '\n');
      const r = await fetchDataset(name, {
        dataDir: o.dataDir,
        mirror: opts.mirror,
        force: opts.force,
        retries: opts.retries,
        timeoutMs: opts.timeout * 1000,
        minBytesPerSecond: opts.minRate,
        ...(opts.deadline !== undefined ? { deadlineMs: opts.deadline * 60000 } : {}),
        onProgress: opts.quiet ? undefined : progressBar(),
        log,
      });
      if (r.alreadyAt) {
        console.log(`${r.name}: already available and verified in ${r.alreadyAt}`);
        return;
      }
      for (const f of r.files) console.log(`${f.status.padEnd(10)} ${f.file} (${f.how})`);
      console.log(`${r.name}: ready in ${r.dir}`);
    });

  data
    .command('verify')
    .description("check a dataset's files against the official sizes and checksums")
    .argument('<name>', `dataset: ${names}`)
    .addOption(dataDirOption())
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  dendrite-bench data verify mnist-10k
  dendrite-bench data verify mnist --json`)
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const o = common(cmd);
      const r = await verifyDataset(name, { dataDir: o.dataDir });
      if (opts.json) console.log(JSON.stringify(r));
      else {
        for (const f of r.files) console.log(`${f.ok ? 'ok  ' : 'BAD '} ${f.file}: ${f.how}`);
        console.log(`${r.name}: ${r.ok ? 'verified' : 'FAILED verification'} (${r.dir})`);
      }
      if (!r.ok) process.exitCode = 1;
    });

  data
    .command('show')
    .description('write a PNG grid of sample images with their labels (one row per class)')
    .argument('<name>', `dataset: ${names}`)
    .requiredOption('-o, --out <file>', 'PNG file to write')
    .addOption(dataDirOption())
    .addOption(new Option('--split <split>', 'which split').choices(['train', 'test']).default('train'))
    .option('--per-class <n>', 'images per class', intArg(1), 10)
    .option('--seed <n>', 'pick a seeded random sample instead of the first images', intArg(0))
    .option('--scale <n>', 'magnification', intArg(1))
    .addHelpText('after', `
Examples:
  dendrite-bench data show mnist-10k -o mnist-10k.png
  dendrite-bench data show fashion-mnist --split test --per-class 5 --seed 1 -o fashion.png`)
    .action(async (name: string, opts: { out: string; split: 'train' | 'test'; perClass: number; seed?: number; scale?: number }, cmd: Command) => {
      const o = common(cmd);
      const out = path.resolve(opts.out);
      const r = await writeSampleGrid(name, out, { ...opts, dataDir: o.dataDir });
      console.log(`${out}: ${r.width}x${r.height}, ${r.images} ${r.dataset} ${opts.split} images, one row per class`);
    });
}
