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

/**
 * ARM's read token bucket per subscription (the same for every caller of the subscription): 250 reads at once,
 * refilled 25 per second. Beyond it ARM answers 429 with a Retry-After of at least a second, so a sweep that runs
 * into it loses far more time than pacing its reads at the refill rate does.
 */
export const ARM_READ_BUCKET = { burst: 250, perSecond: 25 } as const;

/**
 * Paces ARM reads per subscription with a local model of ARM's bucket, kept honest by ARM's own count
 * (`x-ms-ratelimit-remaining-subscription-reads`, which other callers of the subscription spend too). A read
 * waits only when the model says the bucket is empty: an event's few reads never wait unless a sweep drained it.
 */
export class ArmReadPacer {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly bucket: { burst: number; perSecond: number } = ARM_READ_BUCKET,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes a token for one read on `subscription`; returns how long (ms) to wait before sending it. */
  reserve(subscription: string): number {
    const t = this.now();
    const b = this.buckets.get(subscription) ?? { tokens: this.bucket.burst, at: t };
    b.tokens = Math.min(this.bucket.burst, b.tokens + ((t - b.at) / 1000) * this.bucket.perSecond) - 1;
    b.at = t;
    this.buckets.set(subscription, b);
    return b.tokens >= 0 ? 0 : (-b.tokens / this.bucket.perSecond) * 1000;
  }

  /** ARM said how many reads are left: the model never counts more than that. */
  observe(subscription: string, remaining: number): void {
    const b = this.buckets.get(subscription);
    if (b && remaining < b.tokens) b.tokens = remaining;
  }
}

/** Each ARM read attempt (retries too) waits for its token from `pacer`; responses report ARM's remaining count. */
export function armReadPacingPolicy(pacer: ArmReadPacer): AdditionalPolicy {
  return {
    position: 'perRetry',
    policy: {
      name: 'earGuardArmReadPacing',
      async sendRequest(request, next) {
        const subscription = /\/subscriptions\/([^/?]+)/i.exec(request.url)?.[1]?.toLowerCase();
        if (!subscription || (request.method !== 'GET' && request.method !== 'HEAD')) return next(request);
        const wait = pacer.reserve(subscription);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const response = await next(request);
        const remaining = response.headers.get('x-ms-ratelimit-remaining-subscription-reads');
        if (remaining !== undefined && remaining !== '' && Number.isFinite(Number(remaining))) {
          pacer.observe(subscription, Number(remaining));
        }
        return response;
      },
    },
  };
}

export class AzureClientFactory {
  readonly endpoint: string;
  readonly credential: TokenCredential;
  private readonly clients = new Map<string, SubscriptionClients>();
  /** One pacer for every client this factory makes: ARM's bucket is per subscription, not per client. */
  private readonly pacing = armReadPacingPolicy(new ArmReadPacer());

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
        additionalPolicies: [this.pacing, armRequestMetricPolicy],
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
