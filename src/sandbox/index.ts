// The sandbox: an Azure (ARM: Resources, Authorization, KeyVault, EventGrid) + Atlas Admin API emulator on
// one HTTPS server with a certificate made at start. The real SDK clients talk to it unchanged.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { TokenCredential } from '@azure/core-auth';
import { actorTokenCredential, type EndpointsFile } from '../endpoints.js';
import { armRoutes, classifyArm } from './arm/router.js';
import { controlPlaneAddressRoute } from './atlas/addresses.js';
import { createTenantControl, type TenantControl } from './tenantControl.js';
import { checkKeyAccess } from './arm/keyvault.js';
import type { ChangeNotice, KeyVaultNotice, RouteHandler, SandboxContext, SandboxRequest } from './contract.js';
import {
  Accounting,
  controlRoutes,
  createArmControl,
  type ArmControl,
  type ControlSurface,
  type ProjectTarget,
} from './control.js';
import { createAtlas, type AtlasControl, type AtlasOptions } from './atlas.js';
import { createEventGrid, type EventGridControl, type EventGridOptions } from './eventgrid.js';
import { atlasErrorBody, Faults, familyOf, type RateLimitConfig } from './faults.js';
import { makeCertificate, sendArmError, sendJson, startHttpsServer } from './server.js';
import { SandboxState } from './state.js';
import { Propagation, parseDuration } from './propagation.js';
import { seedDemo, type DemoSeed } from './seed.js';

export type { ArmControl, Counts, ProjectTarget, VaultRef, Acting } from './control.js';
export type { Fault, RouteMatcher, RateLimitConfig } from './faults.js';
export type { EventGridControl } from './eventgrid.js';
export type { AtlasControl } from './atlas.js';
export type { DemoSeed } from './seed.js';

export interface SandboxOptions {
  /** Default: random GUIDs. */
  tenantId?: string;
  subscriptionId?: string;
  /** Default location for resources the control API creates. */
  location?: string;
  /** Real seconds per sandbox second for delays (Retry-After, rate-limit refill, Event Grid retries). Default 1. */
  timeScale?: number;
  /** ARM rate limit; `false` turns it off. Default: ARM's published numbers. */
  rateLimit?: Partial<RateLimitConfig> | false;
  /** `demo`: one RBAC vault and one access-policy vault, each with an Atlas project whose EAR points at a key in it. */
  seed?: 'demo';
  /** Atlas programmatic API key pair the Atlas half accepts. Default: generated. */
  atlasPublicKey?: string;
  atlasPrivateKey?: string;
  eventGrid?: EventGridOptions;
  /** Token the `/_sandbox/control` HTTP API requires. Default: generated. */
  controlToken?: string;
  /**
   * How long a new grant takes to reach Key Vault's data plane and so Atlas's `valid` (sandbox ms, scaled by
   * timeScale); a removal is seen at once. Default 0. Applied after the seed (a seed is not a fresh grant).
   */
  propagationDelayMs?: number;
  /** Atlas's periodic KMS validation interval (sandbox ms, scaled by timeScale). Default 15 minutes; 0 = off. */
  atlasValidationIntervalMs?: number;
}

/**
 * A running sandbox. Everything a client needs to talk to it:
 *
 * ```ts
 * const sb = await startSandbox({ timeScale: 0.001 });
 * const auth = new AuthorizationManagementClient(sb.credential, sb.subscriptionId, sb.clientOptions());
 * const kv = new KeyVaultManagementClient(sb.credential, sb.subscriptionId, sb.clientOptions());
 * sb.control.createVault({ vault: 'kv-rbac', rbac: true });
 * sb.control.deleteAssignment({ as: 'alice', id });       // a change made by "alice": events carry her claims
 * sb.control.setFault('roleAssignments.create', { kind: 'error', status: 429, retryAfterSeconds: 1 }, { times: 1 });
 * sb.control.counts();                                     // requests per operation and per caller
 * await sb.close();
 * ```
 */
export interface Sandbox {
  /** `https://localhost:{port}`: ARM (management.azure.com) and every other route family. */
  armEndpoint: string;
  /** `https://localhost:{port}/api/atlas/v2` */
  atlasBaseUrl: string;
  /** The custom topic (alert sink) endpoint `{base}/api/events`, when the Event Grid half is present. */
  eventGridTopicEndpoint?: string;
  eventGridTopicKey?: string;
  /** The self-signed certificate (PEM) to trust. */
  ca: string;
  /** The same certificate written to a temp folder (removed by close()). */
  caCertPath: string;
  tempDir: string;
  tenantId: string;
  subscriptionId: string;
  atlasPublicKey: string;
  atlasPrivateKey: string;
  /** The demo service account: Project Read Only on every demo project (what `npm start` uses). */
  atlasClientId: string;
  atlasClientSecret: string;
  /** Object ID of the Atlas-managed service principal in the sandbox tenant. */
  atlasPrincipalId: string;
  /** A TokenCredential for SDK clients; acts as the `ear-guard` principal (token `actor:ear-guard`). */
  credential: TokenCredential;
  /** A TokenCredential acting as another sandbox principal (`alice`, `bob`, ...). */
  credentialFor(actor: string): TokenCredential;
  /** Options for @azure/arm-* clients: `{ endpoint, tlsOptions: { ca } }` plus any extra given. */
  clientOptions<T extends object>(extra?: T): { endpoint: string; tlsOptions: { ca: string } } & T;
  /** `https://localhost:{port}/_sandbox/control` and its token, for another process (`ear-guard sandbox act`). */
  controlUrl: string;
  controlToken: string;
  control: SandboxControl;
  /** What the demo seed created (present when started with `seed: 'demo'`). */
  demo?: DemoSeed;
  /** The JSON line `ear-guard sandbox --json` prints (and `--out` writes). */
  describe(): SandboxDescription;
  close(): Promise<void>;
}

/** The ARM control API plus the other halves' controls and the in-process notice log. */
export interface SandboxControl extends ArmControl {
  /** Groups, management groups, vault network rules, Atlas addresses (tenantControl.ts). */
  tenant: TenantControl;
  eventGrid?: EventGridControl;
  /** The Atlas half's control (projects, EAR, principals, digest nonces). */
  atlas: AtlasControl;
  /** The propagation delay (sandbox ms) for new grants to reach the data plane; a removal is seen at once. */
  setPropagationDelay(p: { ms?: number; duration?: string }): number;
  propagationDelay(): number;
  /** Every change notice handed to the Event Grid half, in order. */
  notices(): (ChangeNotice | KeyVaultNotice)[];
  clearNotices(): void;
}

/** The endpoints file the sandbox writes (the product reads it as cloud endpoints) plus its own fields. */
export interface SandboxDescription extends EndpointsFile {
  /** Service account with Project Read Only on every demo project. */
  atlasClientId: string;
  atlasClientSecret: string;
  atlasPrincipalId: string;
  controlUrl: string;
  controlToken: string;
  demo?: DemoSeed;
}

/** The sandbox authenticates a bearer token `actor:<name>` as that actor. */
export const tokenCredential = actorTokenCredential;

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const tenantId = opts.tenantId ?? randomUUID();
  const subscriptionId = opts.subscriptionId ?? randomUUID();
  const timeScale = opts.timeScale ?? 1;
  const state = new SandboxState(tenantId, subscriptionId, opts.location);
  const faults = faultsFor(opts, timeScale);
  const accounting = new Accounting();
  const notices: (ChangeNotice | KeyVaultNotice)[] = [];
  const tempDir = await mkdtemp(join(tmpdir(), 'ear-guard-sandbox-'));
  const tls = await makeCertificate();
  const caCertPath = join(tempDir, 'sandbox-ca.pem');
  await writeFile(caCertPath, tls.ca, { mode: 0o600 });
  const controlToken = opts.controlToken ?? randomBytes(24).toString('base64url');

  let baseUrl = '';
  const halves: Halves = {};
  const propagation = new Propagation(state, timeScale);
  const delays = delayControl(propagation);
  const ctx = sandboxContext(state, accounting, notices, halves, () => baseUrl, timeScale, propagation);

  const eventGrid = createEventGrid(ctx, opts.eventGrid ?? {});
  halves.eventGrid = eventGrid;
  const atlas = createAtlas(ctx, atlasOptions(opts));

  const armControl = createArmControl(ctx, state, faults, accounting, projectResolver(state, halves, atlas));
  const tenant = createTenantControl(ctx, state);
  const control: SandboxControl = Object.assign(armControl, {
    tenant,
    eventGrid: eventGrid.control,
    atlas: atlas.control,
    setPropagationDelay: delays.setDelay,
    propagationDelay: delays.delay,
    notices: () => notices.map((n) => structuredClone(n)),
    clearNotices: () => void notices.splice(0),
  });

  const halvesForRoutes = { arm: armControl, tenant, eventGrid, atlas, propagation: delays };
  const families = routeFamilies(ctx, state, faults, controlToken, halvesForRoutes);
  const server = await startHttpsServer(tls, () => families, onUnexpectedError);
  baseUrl = server.baseUrl;

  const atlasPublicKey = atlas.publicKey;
  const atlasPrivateKey = atlas.privateKey;
  const topic = eventGrid.control.topic();

  const sandbox: Sandbox = {
    armEndpoint: baseUrl,
    atlasBaseUrl: `${baseUrl}/api/atlas/v2`,
    eventGridTopicEndpoint: topic.endpoint,
    eventGridTopicKey: topic.key,
    ca: tls.ca,
    caCertPath,
    tempDir,
    tenantId,
    subscriptionId,
    atlasPublicKey,
    atlasPrivateKey,
    atlasClientId: atlas.clientId,
    atlasClientSecret: atlas.clientSecret,
    atlasPrincipalId: state.atlasPrincipal.objectId,
    credential: tokenCredential('ear-guard'),
    credentialFor: tokenCredential,
    clientOptions: clientOptionsFor(baseUrl, tls.ca),
    controlUrl: `${baseUrl}/_sandbox/control`,
    controlToken,
    control,
    describe: () => describeSandbox(sandbox),
    close: async () => {
      atlas.close();
      await server.close();
      await eventGrid?.close();
      await rm(tempDir, { recursive: true, force: true });
    },
  };
  halves.sandbox = sandbox;
  if (opts.seed === 'demo') sandbox.demo = await seedDemo(sandbox);
  if (opts.propagationDelayMs) propagation.setDelay(opts.propagationDelayMs);
  return sandbox;
}

/** The Atlas half's options from the sandbox's (key pair, validation interval). */
function atlasOptions(opts: SandboxOptions): AtlasOptions {
  return {
    ...(opts.atlasValidationIntervalMs !== undefined ? { validationIntervalMs: opts.atlasValidationIntervalMs } : {}),
    ...(opts.atlasPublicKey ? { publicKey: opts.atlasPublicKey } : {}),
    ...(opts.atlasPrivateKey ? { privateKey: opts.atlasPrivateKey } : {}),
  };
}

/** The propagation delay's control surface (`/_sandbox/control/propagation/{setDelay,delay}`). */
function delayControl(propagation: Propagation) {
  return {
    setDelay: (p: { ms?: number; duration?: string }) => propagation.setDelay(delayArg(p ?? {})),
    delay: () => propagation.delay(),
  };
}

/** `{ms}` or `{duration: '4s'}`: the delay in sandbox ms, or a clear error naming the field. */
function delayArg(p: { ms?: number; duration?: string }): number {
  if (typeof p.duration === 'string') {
    const ms = parseDuration(p.duration);
    if (ms === undefined)
      throw new Error(`duration: expected a duration such as 4s, 10m or 250ms, got '${p.duration}'`);
    return ms;
  }
  if (typeof p.ms !== 'number' || !Number.isFinite(p.ms) || p.ms < 0) {
    throw new Error('ms: expected a non-negative number of milliseconds (or duration: "4s")');
  }
  return p.ms;
}

type Halves = { eventGrid?: ReturnType<typeof createEventGrid>; sandbox?: Sandbox };

function faultsFor(opts: SandboxOptions, timeScale: number): Faults {
  const faults = new Faults(timeScale);
  if (opts.rateLimit === false) faults.setRateLimit({ enabled: false });
  else if (opts.rateLimit) faults.setRateLimit(opts.rateLimit);
  return faults;
}

/** What every half shares: ids, the base URL once listening, key checks, change notices and accounting. */
function sandboxContext(
  state: SandboxState,
  accounting: Accounting,
  notices: (ChangeNotice | KeyVaultNotice)[],
  halves: Halves,
  baseUrl: () => string,
  timeScale: number,
  propagation: Propagation,
): SandboxContext {
  return {
    tenantId: state.tenantId,
    subscriptionId: state.subscriptionId,
    baseUrl,
    // What Atlas sees: Key Vault's data plane, where a new grant arrives only after the propagation delay.
    checkKeyAccess: (q) => checkKeyAccess(state, q, propagation),
    notify: (n) => {
      propagation.observe();
      notices.push(n);
      if (notices.length > 10_000) notices.splice(0, notices.length - 10_000);
      halves.eventGrid?.notify(n);
    },
    count: (operation, caller) => accounting.count(operation, caller),
    timeScale,
  };
}

/** A project's key target: a demo vault's, else the Atlas half's (a project created through the Atlas API). */
function projectResolver(
  state: SandboxState,
  halves: Halves,
  atlas: ReturnType<typeof createAtlas>,
): (projectId: string) => ProjectTarget | undefined {
  return (projectId) => {
    const v = halves.sandbox?.demo?.vaults.find((x) => x.projectId === projectId);
    if (v) {
      return {
        projectId,
        resourceGroupName: v.resourceGroup,
        keyVaultName: v.vaultName,
        keyName: v.keyName,
        principalId: state.atlasPrincipal.objectId,
      };
    }
    // INTEGRATION POINT (Atlas half): a project created through the Atlas API, read from its EAR config.
    const fromAtlas = atlas?.control.projectTarget;
    return typeof fromAtlas === 'function'
      ? (fromAtlas.call(atlas!.control, projectId) as ProjectTarget | undefined)
      : undefined;
  };
}

/** The route families in the order they get a request: control, faults, ARM, Event Grid, Atlas. */
function routeFamilies(
  ctx: SandboxContext,
  state: SandboxState,
  faults: Faults,
  controlToken: string,
  halves: {
    arm: ArmControl;
    tenant: TenantControl;
    eventGrid: ReturnType<typeof createEventGrid>;
    atlas: ReturnType<typeof createAtlas>;
    propagation: Record<string, unknown>;
  },
): RouteHandler[] {
  const { eventGrid, atlas, tenant } = halves;
  const armControl = halves.arm;
  const surfaces = (): Record<string, ControlSurface> => ({
    arm: armControl as unknown as ControlSurface,
    tenant: tenant as unknown as ControlSurface,
    ...(eventGrid ? { eventGrid: eventGrid.control as unknown as ControlSurface } : {}),
    atlas: atlas.control as unknown as ControlSurface,
    propagation: halves.propagation as unknown as ControlSurface,
  });
  // Faults for everything the ARM router does not classify itself (Atlas, Event Grid, unknown ARM paths).
  const frontFaults: RouteHandler = async (req, res) => {
    const family = familyOf(req.url.pathname);
    if (family === 'control') return false;
    if (family === 'arm' && classifyArm(req.method, req.url.pathname)) return false;
    return faults.intercept(req, res, { family });
  };
  const families: RouteHandler[] = [
    controlRoutes(controlToken, surfaces),
    frontFaults,
    armRoutes(ctx, state, faults),
    eventGrid.routes,
    controlPlaneAddressRoute((op, who) => ctx.count(op, who)),
    atlas.routes,
  ];
  return families;
}

function clientOptionsFor(baseUrl: string, ca: string) {
  return <T extends object>(extra?: T) =>
    ({ endpoint: baseUrl, tlsOptions: { ca }, ...(extra ?? {}) }) as {
      endpoint: string;
      tlsOptions: { ca: string };
    } & T;
}

/** The JSON line `ear-guard sandbox --json` prints (and `--out` writes), in that key order. */
function describeSandbox(sb: Sandbox): SandboxDescription {
  return {
    armEndpoint: sb.armEndpoint,
    atlasBaseUrl: sb.atlasBaseUrl,
    caCertPath: sb.caCertPath,
    tenantId: sb.tenantId,
    subscriptionId: sb.subscriptionId,
    atlasPublicKey: sb.atlasPublicKey,
    atlasPrivateKey: sb.atlasPrivateKey,
    atlasClientId: sb.atlasClientId,
    atlasClientSecret: sb.atlasClientSecret,
    atlasPrincipalId: sb.atlasPrincipalId,
    eventGridTopicEndpoint: sb.eventGridTopicEndpoint,
    eventGridTopicKey: sb.eventGridTopicKey,
    controlUrl: sb.controlUrl,
    controlToken: sb.controlToken,
    ...(sb.demo ? { demo: sb.demo } : {}),
  };
}

function onUnexpectedError(req: SandboxRequest, res: ServerResponse, _err: unknown): void {
  if (familyOf(req.url.pathname) === 'atlas') {
    sendJson(res, 500, atlasErrorBody(500, 'UNEXPECTED_ERROR', 'Unexpected error.'));
    return;
  }
  sendArmError(res, 500, 'InternalServerError', 'The sandbox failed to process the request.');
}
