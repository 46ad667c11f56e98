// Runs the data commands the way src/cli/main.ts does, for the CLI tests (spawned as a child).
import { Command } from 'commander';

import { registerDataCommands } from '../src/cli/data';

const program = new Command();
program.name('dendrite-bench');
registerDataCommands(program);
program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`dendrite-bench: ${err.message}`);
  process.exitCode = 1;
});
