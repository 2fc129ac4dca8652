// `ear-guard demo` (npm run demo): a scripted scenario on a fresh sandbox, with the whole product running as
// `npm start` runs it. Each change is made by a sandbox actor through ARM (so Event Grid tells the app, as in
// Azure) or on the data plane (no event: the sweep finds it). Prints a timeline with the measured time from
// each change to its restore and the final project table; exits 0 only if every drift was restored, the
// deliberate revocation was not, and Atlas reports every other project valid.
import { parseArgs } from 'node:util';
import { ROLE_IDS } from '../core/builtinRoles.js';
import { startLocalStack, sweepNow, type LocalStack } from '../local/stack.js';
import { seedVaultProject, type DemoVault } from '../sandbox/seed.js';
import { subscribeWebhook } from '../local/subscribe.js';
import type { Sandbox } from '../sandbox/index.js';
import { parseDuration } from '../sandbox/propagation.js';

export const DEMO_HELP = `Usage: ear-guard demo [--json] [--propagation-delay <duration>] [--validation-interval <duration>]

Runs a scripted drift scenario against a fresh built-in sandbox and prints a timeline:
  1. alice deletes the Atlas principal's role assignment              -> restored
  2. bob switches an access-policy vault to Azure RBAC                  -> restored with RBAC grants
  3. an access policy loses decrypt                                      -> restored (add, never replace)
  4. mallory downgrades Crypto User to Crypto Service Encryption User    -> Crypto User restored
  5. secops (allow-listed) revokes on purpose                            -> not restored, intent revoked
  6. the key is disabled on the data plane (no event)                    -> sweep alerts; nothing to restore
Each restore prints two times from the change: grants restored (ARM), and Atlas confirmed (Atlas's own
azureKeyVault.valid, after the propagation delay), then how many of Atlas's periodic validations failed.

  --propagation-delay <d>    how long a new grant takes to reach Key Vault's data plane (default 3s)
  --validation-interval <d>  Atlas's periodic KMS validation in the sandbox (default 15m, as Atlas)
Exit status 0 when every expectation holds, 1 otherwise.
`;

interface Step {
  name: string;
  project: string;
  actor: string;
  expect: 'restored' | 'not-restored' | 'alert-only';
  ms?: number;
  /** From the change to Atlas reporting the key valid again (history `atlas-confirmed`). */
  atlasMs?: number;
  /** Atlas's periodic validations of this project that failed during the step. */
  failedValidations?: number;
  ok: boolean;
  detail: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (await cond()) return performance.now() - t0;
    await sleep(5);
  }
  return undefined;
}

type DemoIo = { stdout: (s: string) => void; stderr: (s: string) => void };

/** What the command line asks for: help, a usage error (exit 2), or a run. */
type DemoRequest =
  | { kind: 'help' }
  | { kind: 'usage'; message: string }
  | { kind: 'run'; json: boolean; propagationDelayMs: number; validationIntervalMs: number };

function durationOption(name: string, text: string | undefined, dflt: number): number {
  if (text === undefined) return dflt;
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`--${name}: expected a duration such as 4s, 10m or 250ms, got '${text}'`);
  return ms;
}

function parseDemoArgs(argv: string[]): DemoRequest {
  try {
    const a = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean' },
        'propagation-delay': { type: 'string' },
        'validation-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (a.values.help) return { kind: 'help' };
    return {
      kind: 'run',
      json: !!a.values.json,
      propagationDelayMs: durationOption('propagation-delay', a.values['propagation-delay'], 3_000),
      validationIntervalMs: durationOption('validation-interval', a.values['validation-interval'], 15 * 60_000),
    };
  } catch (e) {
    return { kind: 'usage', message: (e as Error).message };
  }
}

export async function runDemo(
  argv: string[],
  io: DemoIo = {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
  },
): Promise<number> {
  const request = parseDemoArgs(argv);
  if (request.kind === 'help') {
    io.stdout(DEMO_HELP);
    return 0;
  }
  if (request.kind === 'usage') {
    io.stderr(`ear-guard demo: ${request.message}\n`);
    return 2;
  }
  const json = request.json;
  const say = (s: string) => {
    if (!json) io.stdout(s + '\n');
  };
  let stack: LocalStack | undefined;
  try {
    stack = await startLocalStack({
      env: {},
      forceSandbox: true,
      port: 0,
      sweepSchedule: '0 0 0 1 1 *',
      overrides: { EAR_GUARD_MODE: 'remediate', EAR_GUARD_ALLOWED_REVOKERS: 'secops@contoso.example' },
      engine: { policy: { targetCacheMs: 0 } },
      sandboxOptions: {
        propagationDelayMs: request.propagationDelayMs,
        atlasValidationIntervalMs: request.validationIntervalMs,
      },
    });
    const world = { ...(await seedDemo(stack, say)), propagationDelayMs: request.propagationDelayMs };
    await runRestoreSteps(world);
    const rev = await deliberateRevocationStep(world);
    await keyDisabledStep(world);
    const result = await demoResult(world, rev);
    const validations = validationSummary(world, request);
    if (json) {
      io.stdout(JSON.stringify({ ok: result.ok, steps: world.steps, projects: result.table, validations }) + '\n');
    } else printReport(say, world.steps, result, validations);
    await stack.close();
    return result.ok ? 0 : 1;
  } catch (err) {
    await stack?.close();
    io.stderr(`ear-guard demo: ${(err as Error).message}\n`);
    return 4;
  }
}

/** The running scenario: the stack, its sandbox, every watched vault, and the steps recorded so far. */
interface DemoWorld {
  stack: LocalStack;
  c: Sandbox['control'];
  vaults: DemoVault[];
  /** The Atlas principal's object ID. */
  atlas: string;
  say: (s: string) => void;
  steps: Step[];
  /** The sandbox's propagation delay (ms): how long Atlas's confirmation may lag the restore. */
  propagationDelayMs?: number;
}

/** Adds the demo actors and four more watched vaults beside the demo seed's two, then runs a first sweep. */
async function seedDemo(stack: LocalStack, say: (s: string) => void): Promise<DemoWorld> {
  const sb: Sandbox = stack.sandbox!;
  const c = sb.control;
  c.addPrincipal({ name: 'secops', upn: 'secops@contoso.example' });
  // Four more watched vaults beside the demo seed's two, so each scenario has its own project.
  const extra: DemoVault[] = [
    seedVaultProject(sb, { vaultName: 'kv-ear-policy2', model: 'accessPolicy', projectName: 'ear-demo-policy2' }),
    seedVaultProject(sb, { vaultName: 'kv-ear-rbac2', model: 'rbac', projectName: 'ear-demo-rbac2' }),
    seedVaultProject(sb, { vaultName: 'kv-ear-revoke', model: 'rbac', projectName: 'ear-demo-revoke' }),
    seedVaultProject(sb, { vaultName: 'kv-ear-keyoff', model: 'rbac', projectName: 'ear-demo-keyoff' }),
  ];
  await subscribeWebhook({
    credential: sb.credential,
    subscriptionId: sb.subscriptionId,
    clientOptions: sb.clientOptions(),
    webhookUrl: stack.local.webhookUrl,
    vaultIds: extra.map((v) => v.vaultId),
  });
  const vaults = [...stack.vaults, ...extra];
  const first = await sweepNow(stack);
  say(
    `atlas-ear-guard demo: ${vaults.length} Atlas projects on ${vaults.length} vaults; first sweep ${JSON.stringify(first.summary.byOutcome)}`,
  );
  say(`local host ${stack.local.host.url}   sandbox ARM ${sb.armEndpoint}\n`);
  return { stack, c, vaults, atlas: sb.atlasPrincipalId, say, steps: [] };
}

function byName(w: DemoWorld, name: string): DemoVault {
  return w.vaults.find((v) => v.vaultName === name)!;
}

/** Whether Atlas could use the vault's key now (the sandbox's access check). */
function valid(w: DemoWorld, v: DemoVault): boolean {
  return w.c.checkAccess({ vault: v.vaultName, key: v.keyName }).valid;
}

/** The Atlas principal's Key Vault Crypto User assignments on the vault. */
function cryptoUser(w: DemoWorld, v: DemoVault) {
  return w.c
    .roleAssignments({ scope: v.vaultId, principalId: w.atlas })
    .filter((x) =>
      String((x.properties as { roleDefinitionId: string }).roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser),
    );
}

function record(w: DemoWorld, step: Step): void {
  w.steps.push(step);
  w.say(`    ${step.detail}`);
}

function failedValidations(w: DemoWorld, v: DemoVault): number {
  return w.c.atlas.validations({ groupId: v.projectId!, failedOnly: true }).length;
}

/** Whether the loop recorded Atlas's confirmation (history `atlas-confirmed`) since `since`. */
async function confirmedSince(w: DemoWorld, v: DemoVault, since: string): Promise<boolean> {
  const h = await w.stack.local.app.engine.deps.state.listHistory(v.projectId!, { limit: 30 });
  return h.some((e) => e.kind === 'atlas-confirmed' && e.at >= since);
}

function restoreDetail(ms: number | undefined, atlasMs: number | undefined, failed: number): string {
  if (ms === undefined) return 'NOT restored within 20 s';
  const atlas = atlasMs === undefined ? 'Atlas did NOT confirm' : `Atlas confirmed after ${atlasMs.toFixed(0)} ms`;
  return `grants restored in ${ms.toFixed(0)} ms; ${atlas}; ${failed} failed Atlas validation(s)`;
}

/**
 * One drift the app must undo: make the change, then time until the key is usable again (ARM, stage one) and
 * until the loop records Atlas's confirmation (stage two).
 */
async function restoreStep(w: DemoWorld, name: string, v: DemoVault, actor: string, change: () => void) {
  w.say(`- ${name}`);
  const since = new Date().toISOString();
  const failedBefore = failedValidations(w, v);
  const t0 = performance.now();
  change();
  const ms = await until(() => valid(w, v), 20_000);
  const confirmed = await until(() => confirmedSince(w, v, since), 20_000 + 2 * (w.propagationDelayMs ?? 0));
  const atlasMs = confirmed === undefined ? undefined : performance.now() - t0;
  await w.c.eventGrid?.waitForIdle();
  const failed = failedValidations(w, v) - failedBefore;
  record(w, {
    name,
    project: v.projectId!,
    actor,
    expect: 'restored',
    ms,
    atlasMs,
    failedValidations: failed,
    ok: ms !== undefined && atlasMs !== undefined,
    detail: restoreDetail(ms, atlasMs, failed),
  });
}

/** Steps 1-4: drifts made through ARM, each restored by the app. */
async function runRestoreSteps(w: DemoWorld): Promise<void> {
  const { c, atlas } = w;
  const rbac = byName(w, 'kv-ear-rbac');
  await restoreStep(w, "alice deletes the Atlas principal's Key Vault Crypto User assignment", rbac, 'alice', () => {
    for (const a of cryptoUser(w, rbac)) c.deleteAssignment({ as: 'alice', id: String(a.id) });
  });

  const flip = byName(w, 'kv-ear-policy');
  await restoreStep(w, 'bob switches an access-policy vault to Azure RBAC', flip, 'bob', () => {
    c.setPermissionModel({ as: 'bob', vault: flip.vaultName, model: 'rbac' });
  });

  const pol = byName(w, 'kv-ear-policy2');
  await restoreStep(w, "an access policy loses decrypt (alice edits the Atlas principal's entry)", pol, 'alice', () => {
    c.setAccessPolicy({ as: 'alice', vault: pol.vaultName, objectId: atlas, keys: ['decrypt'], op: 'remove' });
  });

  const down = byName(w, 'kv-ear-rbac2');
  await restoreStep(w, 'mallory downgrades Crypto User to Crypto Service Encryption User', down, 'mallory', () => {
    for (const a of cryptoUser(w, down)) c.deleteAssignment({ as: 'mallory', id: String(a.id) });
    c.assignRole({
      as: 'mallory',
      scope: down.vaultName,
      role: ROLE_IDS.keyVaultCryptoServiceEncryptionUser,
      principalId: atlas,
      principalType: 'ServicePrincipal',
    });
  });
}

/** 5. A deliberate revocation by an allow-listed actor: must stay revoked. Returns the revoked vault. */
async function deliberateRevocationStep(w: DemoWorld): Promise<DemoVault> {
  const rev = byName(w, 'kv-ear-revoke');
  w.say('- secops (allow-listed) revokes the Atlas principal on purpose');
  for (const a of cryptoUser(w, rev)) w.c.deleteAssignment({ as: 'secops', id: String(a.id) });
  await w.c.eventGrid?.waitForIdle();
  await sleep(200);
  const revRow = await w.stack.local.app.engine.deps.state.getProject(rev.projectId!);
  const revOk = !valid(w, rev) && revRow?.intent === 'revoked';
  record(w, {
    name: 'secops revokes on purpose',
    project: rev.projectId!,
    actor: 'secops',
    expect: 'not-restored',
    ok: revOk,
    detail: revOk
      ? `left revoked; intent recorded by ${revRow?.intentBy ?? '?'}`
      : `unexpected: valid=${valid(w, rev)} intent=${revRow?.intent}`,
  });
  return rev;
}

/** 6. Data-plane change: no ARM event. The sweep finds it and alerts; there is nothing to restore. */
async function keyDisabledStep(w: DemoWorld): Promise<void> {
  const { c, stack } = w;
  const off = byName(w, 'kv-ear-keyoff');
  w.say('- the key is disabled on the data plane (Key Vault emits no event for it)');
  c.setKeyEnabled({ vault: off.vaultName, key: off.keyName, enabled: false });
  const t0 = performance.now();
  await sweepNow(stack);
  const offRow = await stack.local.app.engine.deps.state.getProject(off.projectId!);
  const flagged = (offRow?.flags ?? []).includes('key-disabled');
  const sentAlert = (c.eventGrid?.topicEvents() ?? []).some((e) => JSON.stringify(e).includes(off.projectId!));
  record(w, {
    name: 'key disabled (alert only)',
    project: off.projectId!,
    actor: 'data plane',
    expect: 'alert-only',
    ms: performance.now() - t0,
    ok: flagged && sentAlert,
    detail:
      flagged && sentAlert
        ? `sweep flagged key-disabled and alerted; nothing written`
        : `unexpected: flags=${offRow?.flags}`,
  });
  w.say('  (the key owner re-enables the key; the next sweep sees the project healthy)');
  c.setKeyEnabled({ vault: off.vaultName, key: off.keyName, enabled: true });
  await sweepNow(stack);
}

interface ProjectRow {
  project: string;
  vault: string;
  model: string;
  status: string;
  intent: string;
  restores: number;
  atlasValid: boolean;
}

interface DemoResult {
  ok: boolean;
  table: ProjectRow[];
  /** Atlas's view of the projects that must end valid (all but the deliberately revoked one). */
  others: DemoVault[];
  atlasValid: Record<string, boolean | undefined>;
}

/** Atlas's own view, through the Atlas Admin API with digest auth (the product's client). */
async function atlasValidity(w: DemoWorld): Promise<Record<string, boolean | undefined>> {
  const atlasValid: Record<string, boolean | undefined> = {};
  for (const v of w.vaults) {
    const t = await w.stack.local.app.engine.deps.atlas.loadTarget(v.projectId!);
    atlasValid[v.projectId!] = t.kind === 'target' ? t.target.atlasValid : undefined;
  }
  return atlasValid;
}

async function demoResult(w: DemoWorld, rev: DemoVault): Promise<DemoResult> {
  const atlasValid = await atlasValidity(w);
  const others = w.vaults.filter((v) => v !== rev);
  const allValid = others.every((v) => atlasValid[v.projectId!] === true);
  const rows = await w.stack.local.app.engine.deps.state.listProjects();
  const table = w.vaults.map((v): ProjectRow => {
    const r = rows.find((x) => x.projectId === v.projectId);
    return {
      project: v.projectId!,
      vault: v.vaultName,
      model: r?.model ?? '',
      status: r?.status ?? '',
      intent: r?.intent ?? '',
      restores: r?.restores ?? 0,
      atlasValid: atlasValid[v.projectId!] ?? false,
    };
  });
  return { ok: w.steps.every((s) => s.ok) && allValid, table, others, atlasValid };
}

interface ValidationSummary {
  intervalMs: number;
  propagationDelayMs: number;
  /** Atlas's periodic validations that failed, all projects. */
  failed: number;
  /** Of those, the ones during a restore step (a drift the app undid). */
  failedAfterDrifts: number;
}

function validationSummary(
  w: DemoWorld,
  r: { propagationDelayMs: number; validationIntervalMs: number },
): ValidationSummary {
  return {
    intervalMs: r.validationIntervalMs,
    propagationDelayMs: r.propagationDelayMs,
    failed: w.c.atlas.validations({ failedOnly: true }).length,
    failedAfterDrifts: w.steps.reduce((n, s) => n + (s.failedValidations ?? 0), 0),
  };
}

function msCell(ms: number | undefined): string {
  return ms !== undefined ? `${ms.toFixed(0).padStart(5)} ms` : '        ';
}

function formatMs(ms: number): string {
  return ms % 60_000 === 0 && ms > 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

function printReport(say: (s: string) => void, steps: Step[], result: DemoResult, v: ValidationSummary): void {
  const { ok, table, others, atlasValid } = result;
  say('\nTimeline');
  const nw = Math.max(...steps.map((s) => s.name.length));
  say(`  ${''.padEnd(4)} ${''.padEnd(nw)} restored  Atlas ok`);
  for (const s of steps)
    say(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.name.padEnd(nw)} ${msCell(s.ms)}  ${msCell(s.atlasMs)}  ${s.detail}`);
  say(
    `\nAtlas validations failed: ${v.failed} in all, ${v.failedAfterDrifts} after a restored drift (periodic check every ${formatMs(v.intervalMs)}, propagation delay ${formatMs(v.propagationDelayMs)}; the revoked project and the disabled key fail on purpose).`,
  );
  say('\nProjects');
  const cols = ['project', 'vault', 'model', 'status', 'intent', 'restores', 'atlasValid'] as const;
  const w = cols.map((k) => Math.max(k.length, ...table.map((r) => String(r[k]).length)));
  say('  ' + cols.map((k, i) => k.padEnd(w[i]!)).join('  '));
  for (const r of table) say('  ' + cols.map((k, i) => String(r[k]).padEnd(w[i]!)).join('  '));
  say(
    `\n${ok ? 'PASS' : 'FAIL'}: ${steps.filter((s) => s.ok).length}/${steps.length} expectations held; Atlas reports ${others.filter((v) => atlasValid[v.projectId!]).length}/${others.length} non-revoked projects valid.`,
  );
}
