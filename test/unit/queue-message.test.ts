// The fan-out's queue message: one vault's projects (`projectIds`), or one project from an older producer
// (`projectId`); anything else is rejected with the field named, never half-run.
import { describe, expect, it } from 'vitest';
import { BadQueueMessage, parseQueueMessage } from '../../src/functions/reconcileProjectQueue.js';

const a = '5f1e2d3c4b5a69788796a5b4';
const b = '6a1e2d3c4b5a69788796a5b5';

describe('parseQueueMessage', () => {
  it('reads one vault’s projects, as an object or as JSON text', () => {
    expect(parseQueueMessage({ projectIds: [a, b], sweepId: 's1' })).toEqual({ projectIds: [a, b], sweepId: 's1' });
    expect(parseQueueMessage(JSON.stringify({ projectIds: [a] }))).toEqual({ projectIds: [a], sweepId: undefined });
  });

  it('still reads a single-project message', () => {
    expect(parseQueueMessage({ projectId: a })).toEqual({ projectIds: [a], sweepId: undefined });
  });

  it.each([
    [{ projectIds: [] }, /message\.projectIds: expected 1 to 1000/],
    [{ projectIds: [a, 'nope'] }, /message\.projectIds\[1\]: expected an Atlas project ID/],
    [{ projectIds: a }, /message\.projectIds: expected/],
    [{ projectId: 'x' }, /message\.projectId: expected an Atlas project ID/],
    ['not json', /message: expected JSON/],
  ])('rejects %j naming the field', (m, why) => {
    expect(() => parseQueueMessage(m)).toThrow(BadQueueMessage);
    expect(() => parseQueueMessage(m)).toThrow(why);
  });
});
