// Command-line flags shared by the benchmark's scripts.

/** The positive whole number after `flag` in `argv`, or `fallback` when the flag is absent. */
export function intFlag(argv: readonly string[], flag: string, fallback: number): number {
  const i = argv.indexOf(flag);
  const n = i === -1 ? fallback : Number(argv[i + 1]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer`);
  return n;
}

/** For a script without its own error handling: a bad flag is one line on stderr and exit code 2. */
export function orExit<T>(program: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    process.stderr.write(`${program}: ${(error as Error).message}\n`);
    process.exit(2);
  }
}
