// Vault network rules in the emulator: `publicNetworkAccess`, `networkAcls` and `privateEndpointConnections` live in
// the vault document's properties (set with a vault PATCH, which emits the vault write event, as in Azure). Atlas's
// KMS validation honours them: Atlas reaches the vault from the addresses it publishes (atlas/addresses.ts), or
// through an approved private endpoint when the project requires private networking.
import { judgeNetwork, vaultNetworkOf } from '../../core/network.js';
import { atlasAddressesFor } from '../atlas/addresses.js';
import type { VaultState } from '../state.js';

/** Why Atlas's traffic for `projectId` cannot reach the vault, or undefined when it can. */
export function atlasNetworkBlock(
  vault: VaultState,
  from: { projectId?: string; privateNetworking?: boolean },
): string | undefined {
  const j = judgeNetwork(
    vaultNetworkOf(vault.properties),
    from.privateNetworking === true,
    atlasAddressesFor(from.projectId),
  );
  return j.kind === 'denies-atlas' ? `network: ${j.reason}` : undefined;
}
