'use strict';
// Throws where the addon was not built (no compiler at install time); mcp-gateway then relays.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const addon = require('./build/Release/fd_passing.node');
const guard = join(__dirname, 'build', 'Release', 'mcp-parent-guard');

module.exports = {
  sendFds: addon.sendFds,
  recvFds: addon.recvFds,
  peerCredentials: addon.peerCredentials,
  // Built on Linux only (prctl PR_SET_PDEATHSIG); undefined elsewhere.
  parentGuardPath: process.platform === 'linux' && existsSync(guard) ? guard : undefined,
};
