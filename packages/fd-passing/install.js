'use strict';
// Builds the addon with the node-gyp that npm ships. The package is optional: without a compiler
// the build fails quietly (its output is kept out of the install log) and mcp-gateway relays
// stdio instead of handing it over. MCP_GATEWAY_FD_PASSING_VERBOSE=1 shows the build's output.
const { spawnSync } = require('node:child_process');

const verbose = process.env.MCP_GATEWAY_FD_PASSING_VERBOSE === '1';
const gyp = process.env.npm_config_node_gyp;
const [command, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const result = spawnSync(command, [...args, '--loglevel=warn'], { cwd: __dirname, stdio: verbose ? 'inherit' : 'ignore' });
if (verbose && result.status !== 0) console.error('@mcp-gateway/fd-passing: not built; mcp-tools run will relay stdio');
