#!/usr/bin/env node
// The dendrite-bench command line.
import fs from 'node:fs';
import path from 'node:path';

import { Command, CommanderError } from 'commander';

import { packageRoot } from '../data/paths';
import { describeDevices, devices } from '../devices';
import { isOptionError } from '../models/options';
import { registerDataCommands } from './data';
import { registerDoctorCommand } from './doctor';
import { registerRunCommands } from './run';
import { registerStudyCommands } from './study';
import { registerTrainCommand } from './train';

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

function main(argv: string[]): Promise<unknown> {
  const program = new Command();
  program
    .name('dendrite-bench')
    .description('Train and benchmark biologically plausible learning rules on a native CPU/CUDA core.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride();

  program
    .command('devices')
    .description('show the CPU and CUDA devices dendrite-bench can use')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const info = devices();
      console.log(opts.json ? JSON.stringify(info, null, 2) : describeDevices(info).join('\n'));
    });

  registerRunCommands(program);
  registerDoctorCommand(program);
  registerDataCommands(program);
  registerTrainCommand(program);
  registerStudyCommands(program);

  return program.parseAsync(argv);
}

// A closed pipe (`dendrite-bench train --help | head`) ends the output quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// Exit codes: 0 success, 1 failure, 2 usage error (a wrong command, option or value), 130 after Ctrl-C.
main(process.argv).catch((err: Error) => {
  if (err instanceof CommanderError) {
    // commander has printed its message (or the help, exit code 0) already.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    return;
  }
  console.error(err.message.startsWith('dendrite-bench') ? err.message : `dendrite-bench: ${err.message}`);
  process.exitCode = isOptionError(err) ? 2 : 1;
});
