// Run by `npm run build` after tsc: stamps dist/src/build-info.json with the commit and the build
// date that `<binary> version` prints. Local only (git, package.json), never the network; what
// cannot be known is "unknown".
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Compiled to dist/scripts/: the package root is two levels up.
const root = realpathSync(fileURLToPath(new URL('../../', import.meta.url)));

function git(...args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function commit(): string {
  // Only this package's own checkout: installed inside another repository, git would name that one's.
  const top = git('rev-parse', '--show-toplevel');
  const head = top !== undefined && realpathSync(top) === root ? git('rev-parse', '--short=12', 'HEAD') : undefined;
  if (head !== undefined && head !== '') return head;
  // npm records the commit a package was published from as gitHead.
  const pkg = JSON.parse(readFileSync(new URL('package.json', `file://${root}/`), 'utf8')) as { gitHead?: unknown };
  return typeof pkg.gitHead === 'string' && pkg.gitHead !== '' ? pkg.gitHead.slice(0, 12) : 'unknown';
}

function buildDate(): string {
  // Reproducible builds pin the date (https://reproducible-builds.org/specs/source-date-epoch/).
  const epoch = Number(process.env['SOURCE_DATE_EPOCH']);
  const date = Number.isInteger(epoch) && epoch > 0 ? new Date(epoch * 1000) : new Date();
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

writeFileSync(new URL('../src/build-info.json', import.meta.url), `${JSON.stringify({ commit: commit(), date: buildDate() })}\n`);
