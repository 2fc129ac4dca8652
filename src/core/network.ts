// Does the vault's network configuration let Atlas in? Pure: judges the vault's `publicNetworkAccess`, `networkAcls`
// and private endpoint connections against the addresses Atlas publishes (Admin API: control-plane outbound
// addresses and the project's cluster outbound addresses). Never proposes a firewall change: it only reports.
// Rules and sources: README, "How a verdict is decided" (network).

/** The vault's network rules as ARM returns them (Vaults_Get `properties`). */
export interface VaultNetwork {
  /** `Enabled` (default) or `Disabled`. */
  publicNetworkAccess?: string;
  /** `networkAcls.defaultAction`: `Allow` (default) or `Deny`. */
  defaultAction?: string;
  /** `networkAcls.bypass`: `AzureServices` or `None`. */
  bypass?: string;
  /** `networkAcls.ipRules[].value`: IPv4 addresses or CIDR ranges. */
  ipRules: string[];
  /** `privateEndpointConnections[]`: the connection state each one is in (Approved, Pending, Rejected, Disconnected). */
  privateEndpoints: { id?: string; status?: string }[];
}

/** The addresses Atlas connects to the vault from. */
export interface AtlasAddresses {
  /** Control-plane outbound addresses (`GET /unauth/controlPlaneIPAddresses` `outbound.*.*`). */
  controlPlane: string[];
  /** The project's cluster outbound addresses (`GET /groups/{groupId}/ipAddresses` `services.clusters[].outbound`). */
  project: string[];
}

export type NetworkJudgement =
  { kind: 'open'; note: string } | { kind: 'allows-atlas'; note: string } | { kind: 'denies-atlas'; reason: string };

const lower = (s: string | undefined) => (s ?? '').trim().toLowerCase();

/** Reads the network part of a Vaults_Get response (ARM `properties`, or the flattened SDK object). */
export function vaultNetworkOf(raw: unknown): VaultNetwork {
  const o = (raw ?? {}) as Record<string, unknown>;
  const p = (typeof o.properties === 'object' && o.properties ? o.properties : o) as Record<string, unknown>;
  const acls = (p.networkAcls ?? {}) as { defaultAction?: string; bypass?: string; ipRules?: { value?: string }[] };
  const peCs = (p.privateEndpointConnections ?? []) as Record<string, unknown>[];
  return {
    publicNetworkAccess: typeof p.publicNetworkAccess === 'string' ? p.publicNetworkAccess : undefined,
    defaultAction: acls.defaultAction,
    bypass: acls.bypass,
    ipRules: (acls.ipRules ?? []).map((r) => r.value ?? '').filter(Boolean),
    privateEndpoints: peCs.map((c) => {
      const props = (c.properties ?? c) as { privateLinkServiceConnectionState?: { status?: string } };
      return {
        id: typeof c.id === 'string' ? c.id : undefined,
        status: props.privateLinkServiceConnectionState?.status,
      };
    }),
  };
}

/** True when only listed addresses (or nobody) may reach the vault over the public network. */
export function publicAccessRestricted(n: VaultNetwork): boolean {
  return lower(n.publicNetworkAccess) === 'disabled' || lower(n.defaultAction) === 'deny';
}

/** Whether judging needs Atlas's published addresses (a public vault with a firewall). */
export function needsAtlasAddresses(n: VaultNetwork, requirePrivateNetworking: boolean): boolean {
  return !requirePrivateNetworking && lower(n.publicNetworkAccess) !== 'disabled' && lower(n.defaultAction) === 'deny';
}

function ipv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((x) => x > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** An IPv4 address or CIDR as an inclusive [first, last] range; undefined for anything else (IPv6, junk). */
export function ipv4Range(s: string): [number, number] | undefined {
  const [addr, bits] = s.trim().split('/');
  const base = ipv4(addr ?? '');
  if (base === undefined) return undefined;
  const n = bits === undefined ? 32 : Number(bits);
  if (!Number.isInteger(n) || n < 0 || n > 32) return undefined;
  const size = 2 ** (32 - n);
  const first = Math.floor(base / size) * size;
  return [first, first + size - 1];
}

/** Is every address of `address` (an IP or a CIDR range) inside one of the rules? */
export function ruleCovers(rules: string[], address: string): boolean {
  const r = ipv4Range(address);
  if (!r) return false;
  return rules.some((rule) => {
    const x = ipv4Range(rule);
    return x !== undefined && x[0] <= r[0] && r[1] <= x[1];
  });
}

function judgePrivate(n: VaultNetwork): NetworkJudgement {
  const approved = n.privateEndpoints.filter((c) => lower(c.status) === 'approved');
  if (approved.length === 0) {
    const states = n.privateEndpoints.map((c) => c.status ?? 'unknown').join(', ');
    return {
      kind: 'denies-atlas',
      reason: `requirePrivateNetworking is on but the vault has no approved private endpoint connection${states ? ` (connections: ${states})` : ''}: Atlas cannot reach the vault`,
    };
  }
  return {
    kind: 'allows-atlas',
    note: `Atlas uses private networking; ${approved.length} approved private endpoint connection(s)`,
  };
}

/**
 * Judges whether Atlas can reach the vault. `addresses` is needed only when `needsAtlasAddresses` says so; without
 * it a firewalled vault is reported as keeping Atlas out, naming what could not be compared.
 */
export function judgeNetwork(
  n: VaultNetwork,
  requirePrivateNetworking: boolean,
  addresses?: AtlasAddresses,
): NetworkJudgement {
  if (requirePrivateNetworking) return judgePrivate(n);
  if (lower(n.publicNetworkAccess) === 'disabled') {
    return {
      kind: 'denies-atlas',
      reason:
        'publicNetworkAccess is Disabled and Atlas reaches the vault over the public network (requirePrivateNetworking is off); Atlas is not a trusted Microsoft service, so bypass does not let it in',
    };
  }
  if (lower(n.defaultAction) !== 'deny') return { kind: 'open', note: 'the vault firewall allows all networks' };
  if (!addresses) {
    return { kind: 'denies-atlas', reason: 'the vault firewall denies by default and Atlas addresses were not read' };
  }
  const wanted = [...addresses.controlPlane, ...addresses.project].filter((a) => ipv4Range(a) !== undefined);
  const outside = [...new Set(wanted.filter((a) => !ruleCovers(n.ipRules, a)))];
  if (outside.length > 0) {
    const shown = outside.slice(0, 5).join(', ') + (outside.length > 5 ? ` and ${outside.length - 5} more` : '');
    return {
      kind: 'denies-atlas',
      reason: `the vault firewall denies by default and its IP rules leave out Atlas address(es) ${shown}`,
    };
  }
  return { kind: 'allows-atlas', note: `the vault firewall lets in all ${wanted.length} Atlas IPv4 address(es)` };
}
