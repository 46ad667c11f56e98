// The dendrite-bench command tree (commander): main.ts parses the command line with it; tests walk
// it (every command's --help ends with examples that parse).
import fs from 'node:fs';
import path from 'node:path';

import { Command } from 'commander';

import { packageRoot } from '../data/paths';
import { describeDevices, devices } from '../devices';
import { registerDataCommands } from './data';
import { registerDoctorCommand } from './doctor';
import { registerRunCommands } from './run';
import { registerStudyCommands } from './study';
import { registerTrainCommand } from './train';

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export function createProgram(): Command {
  const program = new Command();
  program
    .name('dendrite-bench')
    .description('Train and benchmark biologically plausible learning rules on a native CPU/CUDA core.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .addHelpText('after', `
Without a command, dendrite-bench is dendrite-bench run (dendrite-bench run --help lists its options).

Examples:
  dendrite-bench --quick                           # the four learning rules for one epoch each, in seconds
  dendrite-bench presets                           # the published experiments by name
  dendrite-bench train --model segregated --epochs 1
  dendrite-bench doctor                            # what was built, and whether CUDA can be used`);

  program
    .command('devices')
    .description('show the CPU and CUDA devices dendrite-bench can use')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  dendrite-bench devices
  dendrite-bench devices --json`)
    .action((opts: { json?: boolean }) => {
      const info = devices();
      console.log(opts.json ? JSON.stringify(info) : describeDevices(info).join('\n'));
    });

  registerRunCommands(program);
  registerDoctorCommand(program);
  registerDataCommands(program);
  registerTrainCommand(program);
  registerStudyCommands(program);
  return program;
}
