// Low-cardinality operation names for the `ear_guard.api.request.duration` metric, derived from an HTTP method
// and a URL path (never from IDs or names in it): `roleAssignments.create`, `vaults.get`,
// `accessPolicies.add`, `encryptionAtRest.get`. Pure; used by the ARM pipeline policy and the Atlas client.

const VERB: Record<string, string> = { PUT: 'create', PATCH: 'update', DELETE: 'delete', HEAD: 'exists' };

/**
 * ARM: the resource type after the last `/providers/{namespace}/` (nested types keep their last segment) and
 * the verb: GET on an item is `get`, on a collection `list`; PUT `create`, PATCH `update`, DELETE `delete`;
 * POST names its action (`.../listKeys` -> `vaults.listKeys`). Access policies name their kind
 * (`.../accessPolicies/add` -> `accessPolicies.add`).
 */
export function armOperation(method: string, url: string): string {
  const m = method.toUpperCase();
  let path: string;
  try {
    path = new URL(url, 'https://arm.invalid').pathname;
  } catch {
    return `unknown.${m.toLowerCase()}`;
  }
  const parts = path.split('/').filter(Boolean);
  const p = parts.map((s) => s.toLowerCase()).lastIndexOf('providers');
  // Above any provider: subscriptions, resourceGroups (e.g. GET /subscriptions/{id}/resourcegroups).
  const rest = p >= 0 ? parts.slice(p + 2) : parts;
  if (rest.length === 0) return `${p >= 0 ? 'providers' : 'unknown'}.${m === 'GET' ? 'get' : m.toLowerCase()}`;
  // rest = [type1, name1, type2, name2, ...]; odd length = a collection, even = an item (or a POST action).
  if (m === 'POST' && rest.length % 2 === 1 && rest.length >= 3) {
    return `${rest[rest.length - 3]}.${rest[rest.length - 1]}`;
  }
  if (rest.length % 2 === 0) {
    const type = rest[rest.length - 2]!;
    if (type.toLowerCase() === 'accesspolicies') return `accessPolicies.${rest[rest.length - 1]!.toLowerCase()}`;
    return `${type}.${m === 'GET' ? 'get' : (VERB[m] ?? m.toLowerCase())}`;
  }
  const type = rest[rest.length - 1]!;
  return `${type}.${m === 'GET' ? 'list' : (VERB[m] ?? m.toLowerCase())}`;
}

/**
 * Atlas Admin API v2: path templates of the calls the client makes (`/groups/{groupId}/encryptionAtRest`):
 * the last literal segment and the verb (GET on `/groups` is `groups.list`).
 */
export function atlasOperation(method: string, path: string): string {
  const m = method.toUpperCase();
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  // Literal segments sit at even positions (groups/{id}/encryptionAtRest/...); IDs at odd ones.
  const literal = parts.filter((_, i) => i % 2 === 0);
  const last = literal[literal.length - 1] ?? 'root';
  const collection = parts.length % 2 === 1;
  const verb =
    m === 'GET' ? (collection && last === 'groups' ? 'list' : 'get') : m === 'POST' ? 'create' : (VERB[m] ?? m);
  return `${last}.${verb.toLowerCase()}`;
}
