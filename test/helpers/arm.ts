// Reading the emulator's ARM documents in tests: a role assignment's properties (wire or flattened shape) and the
// GUID at the end of a role definition ID.
import { ROLE_IDS } from '../../src/core/builtinRoles.js';

export type Rec = Record<string, unknown>;

/** An ARM resource's `properties`, or the object itself when it is already flat. */
export const props = (a: Rec): Rec => ((a.properties as Rec | undefined) ?? a) as Rec;

/** The last segment of an ID (a role definition's GUID), lower case. */
export const guidOf = (id: unknown): string => String(id).split('/').pop()!.toLowerCase();

/** Anything that lists role assignments as the sandbox control does. */
interface AssignmentLister {
  roleAssignments(q: { scope: string; principalId: string }): Rec[];
}

/** The principal's Key Vault Crypto User assignment at the project's vault, or undefined when it is gone. */
export function cryptoUserOf(control: AssignmentLister, p: { vaultId: string; principalId: string }): Rec | undefined {
  return control
    .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
    .find((x) => guidOf(props(x).roleDefinitionId) === ROLE_IDS.keyVaultCryptoUser);
}
