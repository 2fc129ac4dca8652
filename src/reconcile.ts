// Moved to src/loop/: kept as a re-export while branches that import it land.
export * from './loop/index.js';
