// The ARM route family: classify the request (operation name), require a bearer token (any value; it
// may name the caller: `Bearer actor:alice`), count it, apply faults and the subscription rate limit,
// then dispatch. ARM paths this family does not know (e.g. Microsoft.EventGrid) pass to the next family.
import { randomUUID } from 'node:crypto';
import type { RouteHandler, SandboxContext } from '../contract.js';
import type { Faults } from '../faults.js';
import { sendArmError, sendJson } from '../server.js';
import type { Principal, SandboxState } from '../state.js';
import { classifyAuthorization, handleAuthorization } from './authorization.js';
import {
  actorFromAuthorization,
  ArmError,
  type Caller,
  decodeSegment,
  objectField,
  parseJsonBody,
  requireApiVersion,
  sendError,
} from './common.js';
import { classifyKeyVault, handleKeyVault } from './keyvault.js';
import { authorizeAction } from './rbac.js';
import { classifyPolicy, handlePolicy } from './policy.js';
import { classifySchedules, handleSchedules } from './schedules.js';
import { putResourceGroup, requireResourceGroup, requireSubscription, resourceGroupBody } from './resources.js';

const RG_RE = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/?$/i;

export function classifyArm(method: string, pathname: string): string | undefined {
  const rg = RG_RE.exec(pathname);
  if (rg)
    return ({ GET: 'resourceGroups.get', PUT: 'resourceGroups.createOrUpdate' } as Record<string, string>)[method];
  // The last provider namespace owns the request (`.../vaults/kv/providers/Microsoft.Authorization/...`).
  const ns = [...pathname.matchAll(/\/providers\/([^/]+)/gi)].pop()?.[1].toLowerCase();
  if (ns === 'microsoft.authorization')
    return (
      classifySchedules(method, pathname) ?? classifyPolicy(method, pathname) ?? classifyAuthorization(method, pathname)
    );
  if (ns === 'microsoft.keyvault') return classifyKeyVault(method, pathname);
  return undefined;
}

/** Resolves the caller, or answers 401 as ARM does. */
export function authenticate(state: SandboxState, header: string | undefined): Principal | ArmError {
  if (!header) {
    return new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
  }
  const actor = actorFromAuthorization(state, header);
  if (!actor) {
    return new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
  }
  return actor;
}

/** The provider families below a scope: PIM schedules, Azure Policy, Key Vault, the rest of Authorization. */
async function dispatchProvider(
  ctx: SandboxContext,
  state: SandboxState,
  req: Parameters<RouteHandler>[0],
  res: Parameters<RouteHandler>[1],
  caller: Caller,
  operation: string,
): Promise<void> {
  if (operation.startsWith('roleAssignmentScheduleInstances.')) return handleSchedules(ctx, state, req, res);
  if (/^policy(Assignments|SetDefinitions|Definitions)\./.test(operation)) {
    return handlePolicy(ctx, state, req, res, caller, operation);
  }
  if (/^(vaults|keys)\./.test(operation)) return handleKeyVault(ctx, state, req, res, caller, operation);
  return handleAuthorization(ctx, state, req, res, caller, operation);
}

export function armRoutes(ctx: SandboxContext, state: SandboxState, faults: Faults): RouteHandler {
  return async (req, res) => {
    const path = req.url.pathname;
    if (!/^\/(subscriptions|providers)\//i.test(path)) return false;
    const operation = classifyArm(req.method, path);
    if (!operation) return false;
    const correlationId =
      (typeof req.headers['x-ms-correlation-request-id'] === 'string' && req.headers['x-ms-correlation-request-id']) ||
      randomUUID();
    res.setHeader('x-ms-correlation-request-id', correlationId);
    res.setHeader('x-ms-request-id', randomUUID());
    const who = authenticate(state, req.headers.authorization);
    if (who instanceof ArmError) {
      ctx.count(operation, 'unauthenticated');
      sendArmError(res, who.status, who.code, who.message, {
        'www-authenticate':
          'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"',
      });
      return true;
    }
    ctx.count(operation, who.name);
    if (await faults.intercept(req, res, { operation, family: 'arm' })) return true;
    if (!faults.takeToken(state.subscriptionId, req.method, res)) return true;
    const caller: Caller = {
      actor: who,
      correlationId,
      httpMethod: req.method,
      requestUrl: new URL(req.url.pathname + req.url.search, ctx.baseUrl()).toString(),
    };
    try {
      requireApiVersion(req);
      if (operation.startsWith('resourceGroups.')) {
        const [, sub, name] = RG_RE.exec(path)!.map((s) => decodeSegment(s));
        requireSubscription(state, sub);
        if (operation === 'resourceGroups.get') {
          sendJson(res, 200, resourceGroupBody(requireResourceGroup(state, name)));
        } else {
          const body = parseJsonBody(req);
          authorizeAction(
            state,
            who,
            'Microsoft.Resources/subscriptions/resourceGroups/write',
            state.resourceGroupId(name),
          );
          const r = putResourceGroup(ctx, state, caller, name, {
            location: typeof body.location === 'string' ? body.location : undefined,
            tags: objectField(body, 'tags') as Record<string, string> | undefined,
          });
          sendJson(res, r.status, resourceGroupBody(r.rg));
        }
      } else {
        await dispatchProvider(ctx, state, req, res, caller, operation);
      }
    } catch (err) {
      if (err instanceof ArmError) sendError(res, err);
      else throw err;
    }
    return true;
  };
}
