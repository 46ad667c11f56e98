// Command lines the CLI prints for the user to run again (the resume hints of run and study run).

/** One word of a command line as a POSIX shell reads it: as it is when that is safe, else in single quotes. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_.,:/@%+=-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
