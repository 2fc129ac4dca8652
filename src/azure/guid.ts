// Deterministic role assignment names, as Bicep's guid(scope, principal, role) gives them: the same (scope, role,
// principal) always yields the same name, so a retried or concurrent restore PUTs the same resource instead of
// creating a second one (and ARM's 409 RoleAssignmentExists covers an assignment made under another name).
import { createHash } from 'node:crypto';

/** A fixed namespace for this product (a random v4 UUID chosen once). */
const NAMESPACE = '6f0d8e7c-3a57-4c7e-9d39-8b3f0a1e5c21';

/** RFC 4122 version-5 UUID of `name` in `namespace` (SHA-1). */
export function uuidV5(name: string, namespace = NAMESPACE): string {
  const ns = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The role assignment name for (scope, role GUID, principal): case-insensitive in all three, like ARM. */
export function roleAssignmentName(scope: string, roleDefinitionGuid: string, principalId: string): string {
  const s = '/' + scope.split('/').filter(Boolean).join('/');
  return uuidV5(`${s.toLowerCase()}|${roleDefinitionGuid.toLowerCase()}|${principalId.toLowerCase()}`);
}
