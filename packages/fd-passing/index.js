'use strict';
// Throws where the addon was not built (no compiler at install time); mcp-gateway then relays.
const addon = require('./build/Release/fd_passing.node');

module.exports = {
  sendFds: addon.sendFds,
  recvFds: addon.recvFds,
  peerCredentials: addon.peerCredentials,
};
