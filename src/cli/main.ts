#!/usr/bin/env node
// The dendrite-bench command line.
import { CommanderError } from 'commander';

import { isOptionError } from '../models/options';
import { createProgram } from './program';

function main(argv: string[]): Promise<unknown> {
  return createProgram().parseAsync(argv);
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
