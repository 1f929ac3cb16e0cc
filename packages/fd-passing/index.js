'use strict';
// Throws where the addon was not built (no compiler at install time); mcp-gateway then relays.
module.exports = require('./build/Release/fd_passing.node');
