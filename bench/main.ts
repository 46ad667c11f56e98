// Benchmark entry: `node dist/bench/main.js <suite> [options]` runs bench/<suite>.ts.
// Each suite module exports `run(args: string[]): Promise<void>` and a one-line `description`.
// `--cotenant` (any suite) runs it twice: quiet, then beside one busy process at nice 19.
import { startCotenant } from './cotenant';

interface Suite {
  description: string;
  run(args: string[]): Promise<void>;
}

const suites: Record<string, () => Promise<Suite>> = {
  gemm: () => import('./gemm'),
  data: () => import('./data'),
  baselines: () => import('./baselines'),
  segregated: () => import('./segregated'),
  'segregated-mnist': () => import('./segregated-mnist'),
  'segregated-batched': () => import('./segregated-batched'),
  bo: () => import('./bo'),
  study: () => import('./study'),
  service: () => import('./service'),
  'vs-original': () => import('./vs-original'),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name === undefined ? undefined : suites[name];
  if (!load) {
    const lines = await Promise.all(
      Object.entries(suites).map(async ([key, get]) => `  ${key.padEnd(12)} ${(await get()).description}`),
    );
    const stream = name === undefined || name === '--help' || name === '-h' ? process.stdout : process.stderr;
    if (name !== undefined && name !== '--help' && name !== '-h') stream.write(`unknown benchmark suite "${name}"\n`);
    stream.write(`usage: node dist/bench/main.js <suite> [options] [--cotenant]\nsuites:\n${lines.join('\n')}\n`);
    return name === undefined || name === '--help' || name === '-h' ? 0 : 2;
  }
  const suite = await load();
  if (!rest.includes('--cotenant')) {
    await suite.run(rest);
    return 0;
  }
  // --cotenant: the suite twice, quiet and beside one busy single-threaded process at nice 19.
  const args = rest.filter((a) => a !== '--cotenant');
  console.log('== quiet');
  await suite.run(args);
  console.log('\n== beside a cotenant (one busy single-threaded process at nice 19)');
  const cotenant = await startCotenant();
  try {
    await suite.run(args);
  } finally {
    await cotenant.stop();
  }
  return 0;
}

// A closed pipe (`... | head`) ends the run quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Bad options are RangeErrors: the message is enough.
    const usage = err instanceof RangeError;
    process.stderr.write(`${err instanceof Error ? (usage ? err.message : err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = usage ? 2 : 1;
  },
);
