/**
 * atlas-ear-guard library API.
 *
 * - `evaluate(requirement, documents)`: the pure access evaluator (does the Atlas principal hold
 *   get/encrypt/decrypt on the key right now, and through what).
 * - document parsers: turn ARM REST or Azure CLI JSON into the normalized documents it judges.
 */
export * from './core/types.js';
// Access evaluator, document parsers, scope helpers, fix commands, shipped built-in roles (issue 2).
export {
  evaluate,
  describePath,
  READER_ON_VAULT,
  EVERYONE,
  DEFAULT_REQUIRED,
  DEFAULT_RECOMMENDED,
} from './core/evaluate.js';
export {
  parseVault,
  parseRoleAssignments,
  parseRoleDefinitions,
  parseDenyAssignments,
  parseKeyIdentifier,
  parseKeyResourceId,
  roleDefinitionGuid,
  DocumentError,
} from './core/documents.js';
export type { KeyIdentifier, KeyResourceId } from './core/documents.js';
export {
  normalizeScope,
  scopeCovers,
  scopeEquals,
  parseVaultId,
  keyScope,
  isManagementGroupScope,
} from './core/scopes.js';
export type { VaultIdParts } from './core/scopes.js';
export { PERMISSION_DATA_ACTIONS, VAULT_READ_ACTION, actionMatches, dataActionFor } from './core/actions.js';
export { fixCommands } from './core/fix.js';
export { BUILTIN_ROLES, ROLE_IDS, builtinRoleDefinitions, findBuiltinRole } from './core/builtinRoles.js';
export type { RawBuiltinRole } from './core/builtinRoles.js';
// The reconcile loop, its engine and adapters (issue 4).
export {
  reconcileProject,
  planRestore,
  setIntent,
  DEFAULT_POLICY,
  RESTORABLE_ROLES,
  TargetCache,
} from './loop/index.js';
export type {
  Outcome,
  OutcomeKind,
  Trigger,
  TriggerActor,
  PlannedAction,
  ActionRecord,
  ReconcileDeps,
  ReconcilePolicy,
} from './loop/index.js';
export { createEngine, policyFromSettings, EngineConfigError } from './engine.js';
export type { Engine, EngineOptions, SandboxConnection } from './engine.js';
export { ClassifiedError, classifyError } from './azure/errors.js';
export { roleAssignmentName } from './azure/guid.js';
export { StateStore } from './state/store.js';
export type { ProjectRecord, ProjectStatus, HistoryRow } from './state/store.js';
export { ALERT_TYPES, alertText } from './alerts/index.js';
export type { Alert, AlertType } from './alerts/index.js';
export { mapTarget } from './atlas/target.js';
export type { AtlasTarget, TargetResult } from './atlas/target.js';
