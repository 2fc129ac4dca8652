// The addresses the emulated Atlas publishes and connects from: `GET /unauth/controlPlaneIPAddresses` (no
// authentication; version 2023-11-15) and `GET /groups/{groupId}/ipAddresses` (Project Read Only), in the shapes of
// the Atlas OpenAPI spec (ControlPlaneIPAddresses, GroupIPAddresses). Documentation ranges (RFC 5737) only.
import { createHash } from 'node:crypto';
import type { RouteHandler } from '../contract.js';
import { atlasErrorBody } from '../faults.js';
import { sendJson } from '../server.js';

/** Control-plane addresses per direction, cloud and region. */
export const CONTROL_PLANE_IP_ADDRESSES = {
  inbound: { aws: { US_EAST_1: ['192.0.2.10'] }, azure: {}, gcp: {} },
  outbound: {
    aws: { US_EAST_1: ['203.0.113.10', '203.0.113.11'] },
    azure: { US_EAST_2: ['203.0.113.20'] },
    gcp: { CENTRAL_US: ['203.0.113.30'] },
  },
} as const;

/** A project's cluster outbound address, stable per project ID. */
export function projectOutboundAddress(projectId: string): string {
  const n = createHash('sha256').update(projectId).digest()[0] % 250;
  return `198.51.100.${n + 1}`;
}

export function groupIpAddresses(projectId: string): Record<string, unknown> {
  const out = projectOutboundAddress(projectId);
  return {
    groupId: projectId,
    services: {
      clusters: [
        { clusterName: 'Cluster0', inbound: ['192.0.2.100'], outbound: [out], futureInbound: [], futureOutbound: [] },
      ],
    },
  };
}

/** What Atlas connects to a vault from for this project. */
export function atlasAddressesFor(projectId: string | undefined): { controlPlane: string[]; project: string[] } {
  const controlPlane = Object.values(CONTROL_PLANE_IP_ADDRESSES.outbound).flatMap((r) =>
    Object.values(r as Record<string, readonly string[]>).flat(),
  );
  return { controlPlane, project: projectId ? [projectOutboundAddress(projectId)] : [] };
}

/** `GET /api/atlas/v2/unauth/controlPlaneIPAddresses`: unauthenticated (the spec's `security: []`), as in Atlas. */
export function controlPlaneAddressRoute(count: (op: string, who: string) => void): RouteHandler {
  return async (req, res) => {
    if (req.url.pathname.replace(/\/+$/, '') !== '/api/atlas/v2/unauth/controlPlaneIPAddresses') return false;
    count('atlas.controlPlaneIPAddresses.list', 'anonymous');
    const refusal = controlPlaneRefusal(req.method, String(req.headers.accept ?? ''));
    if (refusal) {
      sendJson(res, refusal.error as number, refusal);
      return true;
    }
    const text = JSON.stringify(CONTROL_PLANE_IP_ADDRESSES);
    res.writeHead(200, {
      'content-type': `application/vnd.atlas.${CONTROL_PLANE_VERSION}+json`,
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
    return true;
  };
}

/** The only version the spec lists for listControlPlaneAddresses. */
const CONTROL_PLANE_VERSION = '2023-11-15';

/** An ApiError for anything but a GET accepting the one version, else undefined. */
function controlPlaneRefusal(method: string, accept: string): Record<string, unknown> | undefined {
  if (method !== 'GET') return atlasErrorBody(405, 'METHOD_NOT_ALLOWED', `Method ${method} is not allowed.`);
  if (accept.includes(`application/vnd.atlas.${CONTROL_PLANE_VERSION}+json`)) return undefined;
  return atlasErrorBody(406, 'INVALID_VERSION_DATE', 'Invalid accept header or version date.');
}
