import { StateStore } from '../src/state/store.js';
const marks: string[] = [];
const T = () => (globalThis as any).__t0 as number;
for (const m of ['getProject', 'writeProjectIfUnchanged', 'appendHistories', 'updateProject', 'projectsAffectedBy', 'projectsForAssignment'] as const) {
  const orig = (StateStore.prototype as any)[m];
  (StateStore.prototype as any)[m] = async function (...a: unknown[]) {
    const s = performance.now();
    try { return await orig.apply(this, a); } finally { if (T()) marks.push(`${m} ${(s - T()).toFixed(1)}..${(performance.now() - T()).toFixed(1)}`); }
  };
}
import { ArmAdapter } from '../src/azure/arm.js';
for (const m of ['getVault', 'listPrincipalAssignments', 'createRoleAssignment', 'listKeys', 'getKey']) {
  const orig = (ArmAdapter.prototype as any)[m];
  (ArmAdapter.prototype as any)[m] = function (...a: unknown[]) {
    const s = performance.now();
    return orig.apply(this, a).finally(() => { if (T()) marks.push(`arm.${m} ${(s - T()).toFixed(1)}..${(performance.now() - T()).toFixed(1)}`); });
  };
}
import * as H from '../src/events/handle.js';
(globalThis as any).__marks = marks;
const { eventToRestored } = await import('./latency.js');
const r = await eventToRestored(10, 50, 4);
console.log(JSON.stringify(r));
process.exit(0);
