/**
 * atlas-ear-guard library API.
 *
 * - `evaluate(requirement, documents)`: the pure access evaluator (does the Atlas principal hold
 *   get/encrypt/decrypt on the key right now, and through what).
 * - document parsers: turn ARM REST or Azure CLI JSON into the normalized documents it judges.
 */
export * from './core/types.js';
