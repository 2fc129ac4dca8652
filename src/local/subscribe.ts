// Subscribes a webhook to a (sandbox or real) subscription's events through the Event Grid ARM route, as a real
// deployment does (infra/ does the same in Bicep): Resources events filtered to the operations the code handles,
// and the Key Vault events of each watched vault. Filters come from infra/event-routing.json.
import { EventGridManagementClient, type EventSubscription } from '@azure/arm-eventgrid';
import type { TokenCredential } from '@azure/core-auth';
import routing from '../../infra/event-routing.json' with { type: 'json' };

export interface SubscribeOptions {
  credential: TokenCredential;
  subscriptionId: string;
  clientOptions: { endpoint: string; tlsOptions?: { ca: string } };
  webhookUrl: string;
  /** Vault resource IDs whose Key Vault system-topic events to receive. */
  vaultIds: string[];
  name?: string;
}

export async function subscribeWebhook(o: SubscribeOptions): Promise<string[]> {
  const client = new EventGridManagementClient(o.credential, o.subscriptionId, o.clientOptions);
  const name = o.name ?? 'ear-guard-local';
  const created: string[] = [];
  const put = async (scope: string, body: EventSubscription) => {
    // The SDK puts `{scope}` after a `/`: pass it without its leading slash.
    const r = await client.eventSubscriptions.beginCreateOrUpdateAndWait(scope.replace(/^\//, ''), name, body);
    created.push(r.id ?? `${scope}/providers/Microsoft.EventGrid/eventSubscriptions/${name}`);
  };
  const destination = { endpointType: 'WebHook' as const, endpointUrl: o.webhookUrl };
  await put(`/subscriptions/${o.subscriptionId}`, {
    destination,
    eventDeliverySchema: 'EventGridSchema',
    filter: {
      includedEventTypes: routing.resourceEventTypes,
      advancedFilters: [
        { operatorType: 'StringIn', key: 'data.operationName', values: routing.operations.map((x) => x.name) },
      ],
    },
  });
  for (const vaultId of o.vaultIds) {
    await put(vaultId, {
      destination,
      eventDeliverySchema: 'EventGridSchema',
      filter: { includedEventTypes: routing.keyVaultEventTypes.map((x) => x.name) },
    });
  }
  return created;
}
