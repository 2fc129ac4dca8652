// (5) Triage throughput: irrelevant events dropped per second on one core (parse + triage; no Azure call).
// A realistic mix of what a subscription-wide system topic sends: writes to VMs, storage, networking, tags, and
// role assignments outside any watched vault are *relevant* kinds, so they are not in this mix.
import { parseEvents, triageEvent } from '../src/core/triage.js';

const SUB = '/subscriptions/8f6b6c5e-0f9b-4c1a-9d58-4c0b0b7b1d11';
const OPS = [
  'Microsoft.Compute/virtualMachines/write',
  'Microsoft.Storage/storageAccounts/write',
  'Microsoft.Network/networkSecurityGroups/write',
  'Microsoft.Resources/tags/write',
  'Microsoft.Web/sites/restart/action',
  'Microsoft.Insights/diagnosticSettings/write',
];

function eventGridEvent(i: number) {
  const op = OPS[i % OPS.length]!;
  const id = `${SUB}/resourceGroups/rg-app${i % 50}/providers/${op.split('/').slice(0, 2).join('/')}/res${i}`;
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    topic: SUB,
    subject: id,
    eventType: 'Microsoft.Resources.ResourceWriteSuccess',
    eventTime: '2026-01-01T00:00:00Z',
    dataVersion: '2',
    metadataVersion: '1',
    data: {
      operationName: op,
      resourceUri: id,
      status: 'Succeeded',
      subscriptionId: SUB.split('/')[2],
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      correlationId: '8d8f5e8a-6f2b-4d1c-9a53-2f1d0b3e9c11',
      claims: {
        'http://schemas.microsoft.com/identity/claims/objectidentifier': 'a0b1c2d3-0000-0000-0000-000000000001',
      },
      authorization: { scope: id, action: op, evidence: { role: 'Contributor' } },
    },
  };
}
function cloudEvent(i: number) {
  const e = eventGridEvent(i);
  return {
    specversion: '1.0',
    id: e.id,
    source: e.topic,
    subject: e.subject,
    type: e.eventType,
    time: e.eventTime,
    data: e.data,
  };
}

export interface TriageResultBench {
  batchSize: number;
  eventGridPerSec: number;
  cloudEventsPerSec: number;
  nsPerEvent: number;
}

function measure(body: string, batch: number, seconds: number): number {
  let events = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  while (performance.now() < until) {
    for (const ev of parseEvents(body)) {
      if (triageEvent(ev).relevant) throw new Error('the irrelevant mix had a relevant event');
    }
    events += batch;
  }
  return events / ((performance.now() - t0) / 1000);
}

export function triageThroughput(batch = 100, seconds = 2): TriageResultBench {
  // The webhook receives the raw JSON body: parsing it is part of the cost.
  const eg = JSON.stringify(Array.from({ length: batch }, (_, i) => eventGridEvent(i)));
  const ce = JSON.stringify(Array.from({ length: batch }, (_, i) => cloudEvent(i)));
  measure(eg, batch, 0.3); // warm-up (JIT)
  const a = measure(eg, batch, seconds);
  const b = measure(ce, batch, seconds);
  return { batchSize: batch, eventGridPerSec: a, cloudEventsPerSec: b, nsPerEvent: 1e9 / a };
}
