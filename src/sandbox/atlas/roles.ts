// Per-project roles for each Atlas credential (API key or service account), checked per operation the way the
// Atlas OpenAPI spec's `x-rolesRequirements` lists them (mongodb/atlas-sdk-go openapi/atlas-api-transformed.yaml).
// Kept apart from the product's own table (src/atlas/roles.ts) on purpose: the emulator is the second opinion.

export const PROJECT_OWNER = 'Project Owner';
export const PROJECT_READ_ONLY = 'Project Read Only';
export const PROJECT_ALERTS_MANAGER = 'Project Alerts Manager';
export const ORGANIZATION_OWNER = 'Organization Owner';

export const PROJECT_ROLES = [PROJECT_OWNER, PROJECT_READ_ONLY, PROJECT_ALERTS_MANAGER] as const;

/**
 * x-rolesRequirements per emulated operation (`undefined`: none listed; the answer is filtered instead).
 * listControlPlaneAddresses is absent: the spec gives it `security: []`, so it is served before authentication.
 */
export const REQUIRED_ROLE: Record<string, string | undefined> = {
  'atlas.groups.list': undefined, // listGroups: lists the projects the credential holds any role in
  'atlas.groups.get': PROJECT_READ_ONLY, // getGroup
  'atlas.groups.ipAddresses': PROJECT_READ_ONLY, // getGroupIpAddresses
  'atlas.encryptionAtRest.get': PROJECT_READ_ONLY, // getEncryptionAtRest
  'atlas.encryptionAtRest.update': PROJECT_OWNER, // updateEncryptionAtRest
  'atlas.cloudProviderAccess.list': PROJECT_READ_ONLY, // listCloudProviderAccess
  'atlas.cloudProviderAccess.create': PROJECT_OWNER, // createCloudProviderAccess
  'atlas.alertConfigs.list': PROJECT_READ_ONLY, // listAlertConfigs
  'atlas.alertConfigs.create': PROJECT_ALERTS_MANAGER, // createAlertConfig
};

/** Does holding `held` satisfy `required`? Owner covers every project role; any project role reads. */
export function satisfies(held: ReadonlySet<string>, required: string): boolean {
  if (held.has(ORGANIZATION_OWNER) || held.has(PROJECT_OWNER) || held.has(required)) return true;
  return required === PROJECT_READ_ONLY && held.size > 0;
}

export class RoleBook {
  /** credential -> project ID (or '*' for every project) -> roles. */
  private readonly grants = new Map<string, Map<string, Set<string>>>();

  grant(credential: string, projectId: string, role: string): void {
    const byProject = this.grants.get(credential) ?? new Map<string, Set<string>>();
    this.grants.set(credential, byProject);
    const roles = byProject.get(projectId) ?? new Set<string>();
    byProject.set(projectId, roles);
    roles.add(role);
  }

  revoke(credential: string, projectId: string, role?: string): void {
    const roles = this.grants.get(credential)?.get(projectId);
    if (!roles) return;
    if (role) roles.delete(role);
    else roles.clear();
  }

  /** The roles `credential` holds on `projectId` (organization-wide grants included). */
  roles(credential: string, projectId: string): Set<string> {
    const byProject = this.grants.get(credential);
    return new Set([...(byProject?.get('*') ?? []), ...(byProject?.get(projectId) ?? [])]);
  }

  list(credential: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [p, r] of this.grants.get(credential) ?? []) out[p] = [...r];
    return out;
  }
}
