#!/usr/bin/env node
// The dendrite-bench command line.
import { Command } from 'commander';

import { describeDevices, devices } from '../devices';
import { registerDataCommands } from './data';
import { registerTrainCommand } from './train';

function main(argv: string[]): Promise<unknown> {
  const program = new Command();
  program
    .name('dendrite-bench')
    .description('Train and benchmark biologically plausible learning rules on a native CPU/CUDA core.');

  program
    .command('devices')
    .description('show the CPU and CUDA devices dendrite-bench can use')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const info = devices();
      console.log(opts.json ? JSON.stringify(info, null, 2) : describeDevices(info).join('\n'));
    });

  registerDataCommands(program);
  registerTrainCommand(program);

  return program.parseAsync(argv);
}

main(process.argv).catch((err: Error) => {
  console.error(`dendrite-bench: ${err.message}`);
  process.exitCode = 1;
});
