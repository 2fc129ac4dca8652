// Deliberate revocation, set by a person (the HTTP API and the CLI): the loop never restores a project whose intent
// is revoked. Setting intent either way also drops any pending allow-listed claim: the person's word is the latest.
import type { ProjectRecord, StateStore } from '../state/store.js';

export async function setIntent(
  state: StateStore,
  projectId: string,
  intent: 'granted' | 'revoked',
  by: string,
  reason: string,
): Promise<ProjectRecord> {
  const at = new Date().toISOString();
  const row = await state.updateProject(projectId, (cur) => ({
    ...cur,
    intent,
    intentBy: by,
    intentReason: reason,
    intentAt: at,
    revocationClaim: undefined,
  }));
  await state.appendHistory({
    projectId,
    kind: 'intent',
    actor: by,
    summary: `intent set to ${intent}: ${reason}`,
    at,
  });
  return row;
}
