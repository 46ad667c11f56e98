#!/usr/bin/env node
// The dendrite-bench command line.
import { CommanderError } from 'commander';

import { isOptionError, nearestName, optionError } from '../models/options';
import { createProgram } from './program';

function main(argv: string[]): Promise<unknown> {
  const program = createProgram();
  // Without a command the program is `run`, which would take a mistyped command (`trian`) for an
  // argument and answer "too many arguments": name the commands instead.
  const first = argv[2];
  if (first !== undefined && !first.startsWith('-')) {
    const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    if (!names.includes(first) && first !== 'help') {
      const near = nearestName(first, names);
      return Promise.reject(optionError('dendrite-bench', '', `unknown command "${first}"${near ? ` (did you mean ${near}?)` : ''}; ` +
        `the commands: ${names.join(', ')} (dendrite-bench --help)`));
    }
  }
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
