// `npm run bench -- data`: time loading each available dataset from its files (gunzip, parse,
// checksum verification included; the in-memory cache off). Budget: full Fashion-MNIST from the
// gzipped files in under 2 s.
import { DatasetError, type Dataset, loadDataset, locateDataset } from '../src/data';
import { findSpec } from '../src/data/registry';

interface Args {
  repeat: number;
  datasets: string[];
  dataDir?: string;
  json: boolean;
  verify: boolean;
}

const BUDGET_MS: Record<string, number> = { 'fashion-mnist': 2000 };
export const description = 'time to load each available dataset from its files (budget: Fashion-MNIST < 2 s)';

function parseArgs(args: string[]): Args {
  const out: Args = { repeat: 5, datasets: ['fashion-mnist', 'mnist', 'mnist-10k', 'cifar10'], json: false, verify: true };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`bench data: ${a} needs a value`);
      return v;
    };
    if (a === '--repeat') out.repeat = Math.max(1, Number(next()) | 0);
    else if (a === '--dataset') out.datasets = next().split(',');
    else if (a === '--data-dir') out.dataDir = next();
    else if (a === '--json') out.json = true;
    else if (a === '--no-verify') out.verify = false;
    else if (a === '--help' || a === '-h') {
      console.log('usage: bench data [--dataset a,b] [--repeat N] [--data-dir DIR] [--no-verify] [--json]');
      return { ...out, repeat: 0 };
    } else throw new Error(`bench data: unknown argument ${a}`);
  }
  return out;
}

export interface DataBenchResult {
  dataset: string;
  dir: string;
  images: number;
  runsMs: number[];
  minMs: number;
  medianMs: number;
  budgetMs?: number;
  withinBudget?: boolean;
}

export async function run(args: string[]): Promise<void> {
  const a = parseArgs(args);
  if (a.repeat === 0) return;
  const results: DataBenchResult[] = [];
  for (const name of a.datasets) {
    const spec = findSpec(name);
    if (!spec) throw new Error(`bench data: unknown dataset ${name}`);
    let dir: string;
    try {
      dir = locateDataset(spec, { dataDir: a.dataDir }).dir;
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err;
      if (!a.json) console.log(`${name.padEnd(14)} skipped: ${err.message}`);
      continue;
    }
    const runs: number[] = [];
    let ds: Dataset | undefined;
    for (let r = 0; r < a.repeat; r++) {
      const t0 = process.hrtime.bigint();
      ds = await loadDataset(name, { dataDir: a.dataDir, cache: false, verify: a.verify });
      runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const sorted = [...runs].sort((x, y) => x - y);
    const res: DataBenchResult = {
      dataset: spec.name,
      dir,
      images: ds!.train.count + ds!.test.count,
      runsMs: runs.map((x) => Math.round(x * 10) / 10),
      minMs: Math.round(sorted[0] * 10) / 10,
      medianMs: Math.round(sorted[Math.floor(sorted.length / 2)] * 10) / 10,
    };
    const budget = BUDGET_MS[spec.name];
    if (budget !== undefined) {
      res.budgetMs = budget;
      res.withinBudget = res.medianMs < budget;
    }
    results.push(res);
    if (!a.json) {
      const b = budget !== undefined ? `  (budget ${budget} ms: ${res.withinBudget ? 'ok' : 'OVER'})` : '';
      console.log(`${spec.name.padEnd(14)} ${String(res.images).padStart(6)} images  median ${res.medianMs.toFixed(0).padStart(5)} ms  min ${res.minMs.toFixed(0).padStart(5)} ms  (${a.repeat} loads${a.verify ? ', checksums verified' : ''}) from ${dir}${b}`);
    }
  }
  if (a.json) console.log(JSON.stringify(results, null, 2));
  if (results.some((r) => r.withinBudget === false)) process.exitCode = 1;
}

if (require.main === module) {
  run(process.argv.slice(2)).catch((err: Error) => {
    console.error(err.message);
    process.exitCode = 1;
  });
}
