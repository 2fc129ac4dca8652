// The one ARM client factory: per subscription and cloud, one AuthorizationManagementClient, one
// KeyVaultManagementClient and one PolicyClient, sharing one credential and one retry policy. In Azure the credential is the
// managed identity; elsewhere DefaultAzureCredential; the sandbox injects its endpoint, CA and credential.
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { PolicyClient } from '@azure/arm-policy';
import type { TokenCredential } from '@azure/core-auth';
import { AzureAuthorityHosts, DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { armOperation } from '../observability/operations.js';
import { recordApiRequest } from '../observability/telemetry.js';

export type AzureCloud = 'AzureCloud' | 'AzureUSGovernment' | 'AzureChinaCloud';

export const ARM_ENDPOINTS: Record<AzureCloud, string> = {
  AzureCloud: 'https://management.azure.com',
  AzureUSGovernment: 'https://management.usgovcloudapi.net',
  AzureChinaCloud: 'https://management.chinacloudapi.cn',
};

const AUTHORITY_HOSTS: Record<AzureCloud, string> = {
  AzureCloud: AzureAuthorityHosts.AzurePublicCloud,
  AzureUSGovernment: AzureAuthorityHosts.AzureGovernment,
  AzureChinaCloud: AzureAuthorityHosts.AzureChina,
};

/** Atlas's `azureEnvironment` (AZURE, AZURE_CHINA, AZURE_GERMANY) -> our cloud name. */
export function cloudFromAtlas(env: string | undefined): AzureCloud | undefined {
  switch ((env ?? 'AZURE').toUpperCase()) {
    case 'AZURE':
      return 'AzureCloud';
    case 'AZURE_CHINA':
      return 'AzureChinaCloud';
    case 'AZURE_US_GOVERNMENT':
    case 'AZURE_GOVERNMENT':
      return 'AzureUSGovernment';
    default:
      return undefined;
  }
}

export interface RetryOptions {
  maxRetries?: number;
  retryDelayInMs?: number;
  maxRetryDelayInMs?: number;
}

export interface AzureClientOptions {
  cloud?: AzureCloud;
  /** Overrides the cloud's ARM endpoint (the sandbox's https://localhost:port). */
  endpoint?: string;
  /** Extra CA certificate to trust (PEM), for the sandbox. */
  ca?: string;
  credential?: TokenCredential;
  /** User-assigned managed identity client ID. */
  managedIdentityClientId?: string;
  retry?: RetryOptions;
}

/** Managed identity when running in Azure (Functions/App Service/Container Apps set IDENTITY_ENDPOINT), else the default chain. */
export function defaultCredential(
  cloud: AzureCloud = 'AzureCloud',
  clientId?: string,
  env: NodeJS.ProcessEnv = process.env,
): TokenCredential {
  if (env.IDENTITY_ENDPOINT || env.MSI_ENDPOINT) {
    return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential({
    authorityHost: AUTHORITY_HOSTS[cloud],
    ...(clientId ? { managedIdentityClientId: clientId } : {}),
  });
}

export interface SubscriptionClients {
  subscriptionId: string;
  authorization: AuthorizationManagementClient;
  keyVault: KeyVaultManagementClient;
  /** Policy assignments and set definitions (read only: the guard never writes a policy). */
  policy: PolicyClient;
}

type AdditionalPolicy = NonNullable<
  NonNullable<ConstructorParameters<typeof AuthorizationManagementClient>[2]>['additionalPolicies']
>[number];

/**
 * Records every ARM HTTP request (each retry too: a 429 storm shows as such) in the API request metric, by
 * operation (`roleAssignments.create`, from the method and the path) and status. Bodies and headers are not read.
 */
export const armRequestMetricPolicy: AdditionalPolicy = {
  position: 'perRetry',
  policy: {
    name: 'earGuardArmRequestMetric',
    async sendRequest(request, next) {
      const started = performance.now();
      const operation = armOperation(request.method, request.url);
      const done = (status?: number, errorType?: string) =>
        recordApiRequest({
          api: 'arm',
          operation,
          method: request.method,
          status,
          errorType,
          durationSeconds: (performance.now() - started) / 1000,
        });
      try {
        const response = await next(request);
        done(response.status);
        return response;
      } catch (err) {
        const e = err as { statusCode?: number; code?: string; name?: string };
        done(e.statusCode, e.code ?? e.name ?? 'Error');
        throw err;
      }
    },
  },
};

export class AzureClientFactory {
  readonly endpoint: string;
  readonly credential: TokenCredential;
  private readonly clients = new Map<string, SubscriptionClients>();

  constructor(private readonly opts: AzureClientOptions = {}) {
    const cloud = opts.cloud ?? 'AzureCloud';
    this.endpoint = (opts.endpoint ?? ARM_ENDPOINTS[cloud]).replace(/\/+$/, '');
    this.credential = opts.credential ?? defaultCredential(cloud, opts.managedIdentityClientId);
  }

  forSubscription(subscriptionId: string): SubscriptionClients {
    const key = subscriptionId.toLowerCase();
    let c = this.clients.get(key);
    if (!c) {
      const common = {
        endpoint: this.endpoint,
        ...(this.opts.ca ? { tlsOptions: { ca: this.opts.ca } } : {}),
        ...(this.opts.retry ? { retryOptions: this.opts.retry } : {}),
        userAgentOptions: { userAgentPrefix: 'atlas-ear-guard' },
        additionalPolicies: [armRequestMetricPolicy],
      };
      c = {
        subscriptionId,
        authorization: new AuthorizationManagementClient(this.credential, subscriptionId, {
          ...common,
          credentialScopes: [`${this.endpoint}/.default`],
        }),
        keyVault: new KeyVaultManagementClient(this.credential, subscriptionId, {
          ...common,
          credentials: { scopes: [`${this.endpoint}/.default`] },
        }),
        policy: new PolicyClient(this.credential, subscriptionId, {
          ...common,
          credentials: { scopes: [`${this.endpoint}/.default`] },
        }),
      };
      this.clients.set(key, c);
    }
    return c;
  }
}
