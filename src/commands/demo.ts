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

export const DEMO_HELP = `Usage: ear-guard demo [--json]

Runs a scripted drift scenario against a fresh built-in sandbox and prints a timeline:
  1. alice deletes the Atlas principal's role assignment              -> restored
  2. bob switches an access-policy vault to Azure RBAC                  -> restored with RBAC grants
  3. an access policy loses decrypt                                      -> restored (add, never replace)
  4. mallory downgrades Crypto User to Crypto Service Encryption User    -> Crypto User restored
  5. secops (allow-listed) revokes on purpose                            -> not restored, intent revoked
  6. the key is disabled on the data plane (no event)                    -> sweep alerts; nothing to restore
Exit status 0 when every expectation holds, 1 otherwise.
`;

interface Step {
  name: string;
  project: string;
  actor: string;
  expect: 'restored' | 'not-restored' | 'alert-only';
  ms?: number;
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
type DemoRequest = { kind: 'help' } | { kind: 'usage'; message: string } | { kind: 'run'; json: boolean };

function parseDemoArgs(argv: string[]): DemoRequest {
  try {
    const a = parseArgs({ args: argv, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
    return a.values.help ? { kind: 'help' } : { kind: 'run', json: !!a.values.json };
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
    });
    const world = await seedDemo(stack, say);
    await runRestoreSteps(world);
    const rev = await deliberateRevocationStep(world);
    await keyDisabledStep(world);
    const result = await demoResult(world, rev);
    if (json) io.stdout(JSON.stringify({ ok: result.ok, steps: world.steps, projects: result.table }) + '\n');
    else printReport(say, world.steps, result);
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

/** One drift the app must undo: make the change, then time until the key is usable again. */
async function restoreStep(w: DemoWorld, name: string, v: DemoVault, actor: string, change: () => void) {
  w.say(`- ${name}`);
  change();
  const ms = await until(() => valid(w, v), 20_000);
  await w.c.eventGrid?.waitForIdle();
  record(w, {
    name,
    project: v.projectId!,
    actor,
    expect: 'restored',
    ms,
    ok: ms !== undefined,
    detail: ms !== undefined ? `restored in ${ms.toFixed(0)} ms` : 'NOT restored within 20 s',
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

function printReport(say: (s: string) => void, steps: Step[], result: DemoResult): void {
  const { ok, table, others, atlasValid } = result;
  say('\nTimeline');
  const nw = Math.max(...steps.map((s) => s.name.length));
  for (const s of steps)
    say(
      `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.name.padEnd(nw)} ${s.ms !== undefined ? `${s.ms.toFixed(0).padStart(5)} ms` : '       '}  ${s.detail}`,
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
