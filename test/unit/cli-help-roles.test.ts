// Each command's --help names the least Atlas role its calls need, as the spec's x-rolesRequirements gives it
// (src/atlas/roles.ts holds that table): read-only commands must not ask operators for Project Owner.
import { describe, expect, it } from 'vitest';
import { ATLAS_OPERATION_ROLES } from '../../src/atlas/roles.js';
import { CHECK_HELP } from '../../src/commands/check.js';
import { MIGRATE_HELP } from '../../src/commands/migrate.js';
import { PREFLIGHT_HELP } from '../../src/commands/preflight.js';
import { SWEEP_HELP } from '../../src/commands/sweep.js';

const roleOf = (operationId: string) => ATLAS_OPERATION_ROLES.find((o) => o.operationId === operationId)!.role;
/** The most a set of operations needs, by Atlas's project role order. */
const ORDER = ['Project Read Only', 'Project Owner'];
const leastFor = (ops: string[]) => ORDER[Math.max(...ops.map((o) => ORDER.indexOf(roleOf(o))))]!;

describe('command help names the spec role of the calls it makes', () => {
  const reads = ['getEncryptionAtRest', 'listCloudProviderAccess'];
  it.each([
    ['check', CHECK_HELP, reads],
    ['preflight', PREFLIGHT_HELP, reads],
    ['sweep', SWEEP_HELP, reads],
    ['migrate', MIGRATE_HELP, ['getEncryptionAtRest', 'createCloudProviderAccess', 'updateEncryptionAtRest']],
  ])('%s', (_name, help, ops) => {
    const role = leastFor(ops);
    const line = help.split('\n').find((l) => l.startsWith('Atlas role:'));
    expect(line, 'an "Atlas role:" line').toBeDefined();
    expect(line).toContain(role);
    for (const other of ORDER.filter((r) => r !== role)) expect(line).not.toContain(other);
  });
});
