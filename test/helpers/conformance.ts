// Runs the @modelcontextprotocol/conformance CLI against an MCP endpoint and turns its per-scenario
// checks.json files into a pass/fail list, so any test can assert conformance of any URL.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A scenario that did not pass cleanly, with the messages of its offending checks. */
export interface ConformanceIssue {
  scenario: string;
  detail: string;
}

/** Outcome of one conformance run. */
export interface ConformanceOutcome {
  /** Scenarios without FAILURE checks, in run order (they may still have warnings). */
  passed: string[];
  /** Scenarios with at least one FAILURE check, or that crashed. */
  failed: ConformanceIssue[];
  /** Scenarios with WARNING checks; the CLI does not count these as failures. */
  warnings: ConformanceIssue[];
  /** Wall-clock duration of the CLI run. */
  durationMs: number;
}

/** Options for {@link runConformance}. */
export interface ConformanceOptions {
  /** Run only this scenario instead of a suite. */
  scenario?: string;
  /** Suite to run; defaults to "all" because "active" skips the pending SSE polling and JSON Schema scenarios. */
  suite?: 'all' | 'active' | 'pending';
  /** Kill the CLI after this long (default 5 minutes). */
  timeoutMs?: number;
}

interface Check {
  name: string;
  description: string;
  status: string;
  errorMessage?: string;
}

/** Result directories are named `server-<scenario>-<ISO timestamp with ":" and "." as "-">`. */
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

/** Summary lines of a suite run: `✓ name: 3 passed, 0 failed`. */
const SUMMARY_LINE = /^[✓✗] (\S+): \d+ passed, (\d+) failed/gmu;

/** Absolute path of the conformance CLI entry point, resolved like Node resolves the package. */
export function conformanceCliPath(): string {
  // The compiled helper may live outside the project (e.g. a scratch outDir), so fall back to cwd.
  const bases = [import.meta.url, pathToFileURL(join(process.cwd(), 'package.json')).href];
  for (const base of bases) {
    try {
      const manifest = createRequire(base).resolve('@modelcontextprotocol/conformance/package.json');
      return join(dirname(manifest), 'dist', 'index.js');
    } catch {
      // Try the next base.
    }
  }
  throw new Error('Cannot resolve @modelcontextprotocol/conformance; is it installed?');
}

function describeChecks(checks: Check[]): string {
  return checks.map((check) => `${check.name}: ${check.errorMessage ?? check.description}`).join('; ');
}

async function readResults(outDir: string): Promise<Map<string, Check[]>> {
  const results = new Map<string, Check[]>();
  for (const entry of await readdir(outDir)) {
    const scenario = RESULT_DIR.exec(entry)?.[1];
    if (scenario === undefined) continue;
    const checks = JSON.parse(await readFile(join(outDir, entry, 'checks.json'), 'utf8')) as Check[];
    results.set(scenario, checks);
  }
  return results;
}

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [conformanceCliPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`conformance CLI timed out after ${timeoutMs} ms\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs the conformance server scenarios against `url` and reports which passed and which failed,
 * with the failing checks' messages as detail.
 */
export async function runConformance(url: string, options: ConformanceOptions = {}): Promise<ConformanceOutcome> {
  const outDir = await mkdtemp(join(tmpdir(), 'mcp-conformance-'));
  const started = Date.now();
  try {
    const selection = options.scenario !== undefined ? ['--scenario', options.scenario] : ['--suite', options.suite ?? 'all'];
    const { code, stdout, stderr } = await runCli(
      ['server', '--url', url, '--output-dir', outDir, ...selection],
      options.timeoutMs ?? 300_000,
    );
    const durationMs = Date.now() - started;
    const results = await readResults(outDir);

    // Scenarios that threw are in the summary but wrote no checks.json.
    const order = [...stdout.matchAll(SUMMARY_LINE)].map((match) => match[1] ?? '');
    for (const scenario of results.keys()) if (!order.includes(scenario)) order.push(scenario);

    const outcome: ConformanceOutcome = { passed: [], failed: [], warnings: [], durationMs };
    for (const scenario of order) {
      const checks = results.get(scenario);
      if (checks === undefined) {
        const crash = stderr.split('\n').find((line) => line.includes(`Failed to run scenario ${scenario}`));
        outcome.failed.push({ scenario, detail: crash ?? 'scenario crashed without writing checks.json' });
        continue;
      }
      const failures = checks.filter((check) => check.status === 'FAILURE');
      const warnings = checks.filter((check) => check.status === 'WARNING');
      if (failures.length > 0) outcome.failed.push({ scenario, detail: describeChecks(failures) });
      else outcome.passed.push(scenario);
      if (warnings.length > 0) outcome.warnings.push({ scenario, detail: describeChecks(warnings) });
    }

    if (order.length === 0) {
      throw new Error(`conformance CLI produced no results (exit ${code})\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`);
    }
    // The CLI exits 1 exactly when a check failed; anything else means we misread its output.
    if ((code === 0) !== (outcome.failed.length === 0)) {
      outcome.failed.push({ scenario: '(cli)', detail: `exit code ${code} disagrees with parsed results\n${stderr.slice(-2000)}` });
    }
    return outcome;
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}
