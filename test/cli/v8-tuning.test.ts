import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { V8_TUNING_FLAGS, v8TuningFlags } from '../../src/cli/v8-tuning.js';

const run = promisify(execFile);
const TUNING_MODULE = new URL('../../src/cli/v8-tuning.js', import.meta.url).href;

/** Whether this node's V8 is the one the flags were measured on (so they apply by default). */
const MEASURED_HERE = process.versions.v8.startsWith('11.');

/** `%GetOptimizationStatus` bit for "has baseline (Sparkplug) code" (V8 11's numbering, kBaseline). */
const BASELINE_BIT = 1 << 15;

/**
 * Whether a function first called after `tuneV8ForRelaying()` in a fresh node process gets
 * baseline code at once, which only `--always-sparkplug` does.
 */
async function baselineOnFirstCall(nodeArgs: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<boolean> {
  const script = [
    `const { tuneV8ForRelaying } = await import(${JSON.stringify(TUNING_MODULE)});`,
    'tuneV8ForRelaying();',
    'const fresh = new Function("a", "return a + 1");',
    'fresh(1);',
    'process.stdout.write(String(%GetOptimizationStatus(fresh)));',
  ].join('\n');
  const { stdout } = await run(process.execPath, ['--allow-natives-syntax', ...nodeArgs, '--input-type=module', '-e', script], {
    env: { PATH: process.env['PATH'], ...env },
  });
  return (Number(stdout) & BASELINE_BIT) !== 0;
}

describe('V8 tuning of the relaying CLIs', () => {
  it('sets every flag by default on the V8 it was measured on (Node 20)', () => {
    assert.deepEqual(v8TuningFlags({}, [], '11.3.244.8-node.33'), [...V8_TUNING_FLAGS]);
  });

  it('sets none with MCP_GATEWAY_V8_TUNING=off', () => {
    assert.deepEqual(v8TuningFlags({ MCP_GATEWAY_V8_TUNING: 'off' }, []), []);
  });

  it('keeps the defaults of a V8 it was not measured on, unless MCP_GATEWAY_V8_TUNING=on', () => {
    assert.deepEqual(v8TuningFlags({}, [], '11.3.244.8-node.33'), [...V8_TUNING_FLAGS]);
    assert.deepEqual(v8TuningFlags({}, [], '12.4.254.21-node.33'), []);
    assert.deepEqual(v8TuningFlags({ MCP_GATEWAY_V8_TUNING: 'on' }, [], '12.4.254.21-node.33'), [...V8_TUNING_FLAGS]);
  });

  it('leaves a flag the user set on the command line or in NODE_OPTIONS, in any spelling', () => {
    const others = (name: string): string[] => V8_TUNING_FLAGS.filter((flag) => !flag.includes(name));
    assert.deepEqual(v8TuningFlags({}, ['--interrupt_budget=100000']), others('interrupt-budget'));
    assert.deepEqual(v8TuningFlags({}, ['--no-always-sparkplug']), others('always-sparkplug'));
    assert.deepEqual(v8TuningFlags({ NODE_OPTIONS: '--max-old-space-size=512  --lazy-feedback-allocation' }, []), others('lazy-feedback-allocation'));
  });

  it('takes effect in a real process, and not when turned off or overridden', async () => {
    assert.equal(await baselineOnFirstCall([]), MEASURED_HERE, MEASURED_HERE ? 'tuned: baseline code on the first call' : 'another V8: its defaults');
    assert.equal(await baselineOnFirstCall([], { MCP_GATEWAY_V8_TUNING: 'on' }), true, 'forced on');
    assert.equal(await baselineOnFirstCall([], { MCP_GATEWAY_V8_TUNING: 'off' }), false, 'turned off: interpreted');
    assert.equal(await baselineOnFirstCall(['--no-always-sparkplug']), false, "the user's own flag wins");
  });
});
