// Role definitions as the sandbox knows them: the built-ins (published JSON in core/builtinRoles.ts) and the
// custom roles in state. Its own module so authorization.ts (routes) and rbac.ts (evaluation) both read it
// without importing each other.
import { BUILTIN_ROLES } from '../../core/builtinRoles.js';
import { GUID_RE, type RoleDefinitionState, type SandboxState } from '../state.js';

export function builtinStates(): RoleDefinitionState[] {
  return BUILTIN_ROLES.map((r) => ({
    name: r.name,
    roleName: r.roleName,
    description: r.description,
    type: r.roleType,
    permissions: r.permissions.map((p) => ({ ...p })),
    assignableScopes: [...r.assignableScopes],
  }));
}

export function allRoleDefinitions(state: SandboxState): RoleDefinitionState[] {
  return [...builtinStates(), ...state.customRoles.values()];
}

export function findRoleDefinition(state: SandboxState, guid: string): RoleDefinitionState | undefined {
  const g = guid.toLowerCase();
  return state.customRoles.get(g) ?? builtinStates().find((r) => r.name.toLowerCase() === g);
}

/** The GUID in a role definition ID (`/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}`). */
export function roleGuidOf(roleDefinitionId: string): string | undefined {
  const m = /\/providers\/Microsoft\.Authorization\/roleDefinitions\/([^/]+)\/?$/i.exec(roleDefinitionId.trim());
  const g = m?.[1];
  return g && GUID_RE.test(g) ? g : undefined;
}
