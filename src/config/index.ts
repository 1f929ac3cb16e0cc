// The configuration loader's public surface; callers import from here, not from the parts.
export { loadConfig, parseConfig, ConfigError, CONFIG_DEFAULTS, type LoadedConfig } from './load.js';
export { parseDuration, formatDuration } from './duration.js';
export { expandString, formatPath, type PathSegment } from './expand.js';
export { BACKEND_ID_PATTERN, MAX_TIMER_MS } from './schema.js';
export type * from './types.js';
