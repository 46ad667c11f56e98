// Benchmark entry: `node dist/bench/main.js <suite> [options]` runs bench/<suite>.ts.
// Each suite module exports `run(args: string[]): Promise<void>` and a one-line `description`.

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
    stream.write(`usage: node dist/bench/main.js <suite> [options]\nsuites:\n${lines.join('\n')}\n`);
    return name === undefined || name === '--help' || name === '-h' ? 0 : 2;
  }
  await (await load()).run(rest);
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
