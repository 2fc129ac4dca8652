// The deployment, compiled and linted by the real Bicep compiler (restored from NuGet by scripts/bicep.mjs), and
// kept in step with the code: the ARM template it produces is read back and checked for least privilege, the
// Event Grid wiring, and the app settings src/settings.ts reads.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM helper script without type declarations
import { checkInfra, dotnetVersion, root } from '../../scripts/bicep.mjs';
import { settingsSchema } from '../../src/settings.js';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';

type Json = Record<string, unknown>;
interface Deployed {
  path: string;
  type: string;
  res: Json;
  template: Json;
}

const hasDotnet = dotnetVersion() !== null;
if (!hasDotnet) console.warn('infra tests skipped: dotnet is not installed, so the Bicep compiler cannot be restored.');

const readJson = (p: string): Json => JSON.parse(readFileSync(join(root as string, p), 'utf8')) as Json;
const contract = readJson('infra/guard-contract.json') as {
  restoreRoles: Record<string, string>;
  functions: Record<string, string>;
  reconcileQueueName: string;
};
const routing = readJson('infra/event-routing.json') as {
  resourceEventTypes: string[];
  operations: { name: string }[];
  keyVaultEventTypes: { name: string }[];
};

// ---- a small parser for ARM template expressions ("[fn(args).prop]"), enough to read what the template says
type Expr =
  | { k: 'str'; v: string }
  | { k: 'num'; v: number }
  | { k: 'call'; fn: string; args: Expr[] }
  | { k: 'prop'; of: Expr; name: string }
  | { k: 'index'; of: Expr; index: Expr };

function parseArm(text: string): Expr {
  if (!text.startsWith('[') || !text.endsWith(']') || text.startsWith('[[')) return { k: 'str', v: text };
  const s = text.slice(1, -1);
  let i = 0;
  const ws = () => {
    while (s[i] === ' ') i++;
  };
  const primary = (): Expr => {
    ws();
    if (s[i] === "'") {
      let v = '';
      i++;
      for (;;) {
        if (s[i] === "'" && s[i + 1] === "'") {
          v += "'";
          i += 2;
        } else if (s[i] === "'") break;
        else v += s[i++];
      }
      i++;
      return { k: 'str', v };
    }
    const m = /^-?\d+/.exec(s.slice(i));
    if (m) {
      i += m[0].length;
      return { k: 'num', v: Number(m[0]) };
    }
    const id = /^[A-Za-z_$][\w.$#]*/.exec(s.slice(i));
    if (!id) throw new Error(`cannot parse ARM expression at ${i}: ${s}`);
    i += id[0].length;
    ws();
    if (s[i] !== '(') throw new Error(`expected ( after ${id[0]} in ${s}`);
    i++;
    const args: Expr[] = [];
    ws();
    while (s[i] !== ')') {
      args.push(postfix());
      ws();
      if (s[i] === ',') i++;
      ws();
    }
    i++;
    return { k: 'call', fn: id[0], args };
  };
  const postfix = (): Expr => {
    let e = primary();
    for (;;) {
      if (s[i] === '.') {
        const id = /^\.([A-Za-z_$][\w$]*)/.exec(s.slice(i))!;
        i += id[0].length;
        e = { k: 'prop', of: e, name: id[1]! };
      } else if (s[i] === '[') {
        i++;
        const index = postfix();
        i++; // ]
        e = { k: 'index', of: e, index };
      } else return e;
    }
  };
  const e = postfix();
  return e;
}

/** Every call to `fn` anywhere inside an expression. */
function calls(e: Expr, fn: string): { fn: string; args: Expr[] }[] {
  const out: { fn: string; args: Expr[] }[] = [];
  const walk = (x: Expr) => {
    if (x.k === 'call') {
      if (x.fn === fn) out.push(x);
      x.args.forEach(walk);
    } else if (x.k === 'prop') walk(x.of);
    else if (x.k === 'index') {
      walk(x.of);
      walk(x.index);
    }
  };
  walk(e);
  return out;
}
const str = (e: Expr | undefined): string => {
  if (e?.k !== 'str') throw new Error(`expected a string literal, got ${JSON.stringify(e)}`);
  return e.v;
};
/** Canonical text of an expression, to compare references like variables('roleList'). */
function show(e: Expr): string {
  switch (e.k) {
    case 'str':
      return `'${e.v}'`;
    case 'num':
      return String(e.v);
    case 'call':
      return `${e.fn}(${e.args.map(show).join(', ')})`;
    case 'prop':
      return `${show(e.of)}.${e.name}`;
    case 'index':
      return `${show(e.of)}[${show(e.index)}]`;
  }
}
/** Renders a format('...', args) with each argument shown as <expression>. */
function renderFormat(e: Expr): string {
  const [f, ...args] = calls(e, 'format')[0]!.args;
  return str(f)
    .replace(/\{(\d+)\}/g, (_, n: string) => `<${show(args[Number(n)]!)}>`)
    .replaceAll('{{', '{')
    .replaceAll('}}', '}');
}

/** Every resource of a languageVersion 2.0 template, nested deployments included. */
function resources(template: Json, path = 'main'): Deployed[] {
  const out: Deployed[] = [];
  for (const [name, r] of Object.entries(template.resources as Record<string, Json>)) {
    const p = `${path}/${name}`;
    out.push({ path: p, type: r.type as string, res: r, template });
    if (r.type === 'Microsoft.Resources/deployments') {
      out.push(...resources((r.properties as Json).template as Json, p));
    }
  }
  return out;
}
const props = (d: Deployed) => d.res.properties as Json;
const moduleParams = (arm: Json, name: string) =>
  ((arm.resources as Record<string, Json>)[name]!.properties as Json).parameters as Record<string, { value: unknown }>;
const roleGuidOf = (roleDefinitionId: string): string => {
  const c = calls(parseArm(roleDefinitionId), 'subscriptionResourceId')[0];
  if (!c) return show(parseArm(roleDefinitionId));
  const g = c.args[1]!;
  return g.k === 'str' ? g.v : show(g);
};

describe.skipIf(!hasDotnet)('infra: Bicep compiles and lints clean with the real compiler', () => {
  let check: {
    ok: boolean;
    version: string;
    output: string;
    diagnostics: unknown[];
    armPath: string;
  };
  let arm: Json;
  let all: Deployed[];
  let vaultVars: Record<string, string>;

  beforeAll(() => {
    check = checkInfra();
    arm = JSON.parse(readFileSync(check.armPath, 'utf8')) as Json;
    all = resources(arm);
    const vaultTemplate = all.find((d) => d.path === 'main/vaults')!.res.properties as Json;
    vaultVars = (vaultTemplate.template as Json).variables as Record<string, string>;
  }, 120_000);

  it('bicep build and bicep lint report nothing (warnings count as errors)', () => {
    console.log(`${check.version}\n${check.output || '(no diagnostics)'}`);
    expect(check.version).toMatch(/^Bicep CLI version 0\.49\.\d+/);
    expect(check.diagnostics).toEqual([]);
    expect(check.ok).toBe(true);
  });

  it('the check fails on an unknown property and on an unknown api-version (compiler warnings)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bicep-neg-'));
    const file = join(dir, 'bad.bicep');
    writeFileSync(
      file,
      [
        "resource s 'Microsoft.Storage/storageAccounts@2024-13-01' = {",
        "  name: 'stearguardneg'",
        "  location: 'westeurope'",
        "  kind: 'StorageV2'",
        "  sku: { name: 'Standard_LRS' }",
        '}',
        "resource t 'Microsoft.Storage/storageAccounts@2024-01-01' = {",
        "  name: 'stearguardneg2'",
        "  location: 'westeurope'",
        "  kind: 'StorageV2'",
        "  sku: { name: 'Standard_LRS' }",
        '  properties: { notAProperty: true }',
        '}',
        '',
      ].join('\n'),
    );
    const r = checkInfra(file, join(dir, 'bad.json')) as { ok: boolean; diagnostics: { code: string }[] };
    expect(r.ok).toBe(false);
    expect(r.diagnostics.map((d) => d.code)).toEqual(expect.arrayContaining(['BCP081', 'BCP037']));
  });

  it("the shared JSON files are what the template embeds (loadJsonContent), and the restore roles are the code's", () => {
    const vars = arm.variables as Record<string, unknown>;
    const embedded = Object.keys(vars).filter((k) => k.startsWith('$fxv#'));
    const values = embedded.map((k) => vars[k]);
    expect(values).toContainEqual(contract);
    expect(values).toContainEqual(routing);
    expect(contract.restoreRoles).toEqual({ keyVaultCryptoUser: ROLE_IDS.keyVaultCryptoUser, reader: ROLE_IDS.reader });
    // The event-subscription filters take their lists from event-routing.json.
    const sub = moduleParams(arm, 'subscriptionEvents');
    expect(sub.eventTypes!.value).toBe("[variables('routing').resourceEventTypes]");
    expect(sub.operationNames!.value).toBe(
      "[map(variables('routing').operations, lambda('o', lambdaVariables('o').name))]",
    );
    expect(moduleParams(arm, 'vaults').keyVaultEventTypes!.value).toBe(
      "[map(variables('routing').keyVaultEventTypes, lambda('e', lambdaVariables('e').name))]",
    );
    const target = (ref: unknown) => vars[/^\[variables\('(.+)'\)\]$/.exec(String(ref))![1]!];
    expect(target(vars.contract)).toEqual(contract);
    expect(target(vars.routing)).toEqual(routing);
  });

  it('role assignments: all named guid(scope, principal, role), none at subscription or resource-group scope', () => {
    const assignments = all.filter((d) => d.type === 'Microsoft.Authorization/roleAssignments');
    expect(assignments.length).toBe(11);
    for (const a of assignments) {
      expect(a.res.scope, `${a.path} has an explicit resource scope`).toBeTypeOf('string');
      const scope = parseArm(a.res.scope as string);
      expect(show(scope), a.path).not.toMatch(/^(subscription|resourceGroup)\(/);
      const name = parseArm(a.res.name as string);
      expect(name.k === 'call' && name.fn, a.path).toBe('guid');
      const [s, p, r] = (name as { args: Expr[] }).args;
      expect(show(s!), `${a.path}: guid() starts with the scope`).toBe(show(scope));
      // the principal: its ID, or (where the ID is known only after the run) the identity resource it belongs to
      const principal = show(parseArm(props(a).principalId as string));
      const identityOf = /^reference\('(\w+)'\)\.principalId$/.exec(principal)?.[1];
      expect(show(p!), `${a.path}: guid() names the principal`).toBe(
        identityOf
          ? `resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('names').${identityOf})`
          : principal,
      );
      const role = roleGuidOf(props(a).roleDefinitionId as string);
      expect(show(r!), `${a.path}: guid() names the role`).toContain(role.replace(/^\[|\]$/g, ''));
    }
  });

  it('the remediator on a watched vault: Reader, RBAC Administrator under an ABAC condition, the access-policy role; nothing else', () => {
    const onVault = all.filter(
      (d) => d.path.startsWith('main/vaults/') && d.type === 'Microsoft.Authorization/roleAssignments',
    );
    const roles = onVault.map((d) => roleGuidOf(props(d).roleDefinitionId as string));
    expect(roles).toEqual([
      "variables('readerRoleId')",
      "variables('rbacAdministratorRoleId')",
      "parameters('accessPolicyRoleDefinitionId')",
    ]);
    expect(vaultVars.readerRoleId).toBe('acdd72a7-3385-48ef-bd42-f606fba81ae7');
    expect(vaultVars.rbacAdministratorRoleId).toBe(ROLE_IDS.roleBasedAccessControlAdministrator);
    for (const d of onVault) expect(props(d).principalId).toBe("[parameters('remediatorPrincipalId')]");

    const rbac = onVault[1]!;
    expect(props(rbac).conditionVersion).toBe('2.0');
    expect(props(rbac).condition).toBe("[variables('restoreCondition')]");
    expect(renderFormat(parseArm(vaultVars.restoreCondition!))).toBe(
      "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
        "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {<variables('roleList')>} AND " +
        "@Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {<parameters('atlasPrincipalObjectId')>})) AND " +
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR " +
        "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {<variables('roleList')>} AND " +
        "@Resource[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {<parameters('atlasPrincipalObjectId')>}))",
    );
    expect(vaultVars.roleList).toBe("[join(parameters('restoreRoleIds'), ', ')]");
    // main passes exactly the contract's two roles and the Atlas principal parameter
    const p = moduleParams(arm, 'vaults');
    expect(p.restoreRoleIds!.value).toEqual([
      "[variables('contract').restoreRoles.keyVaultCryptoUser]",
      "[variables('contract').restoreRoles.reader]",
    ]);
    expect(Object.values(contract.restoreRoles).sort()).toEqual(
      ['12338af0-0e69-4776-bea7-57ae8d297424', 'acdd72a7-3385-48ef-bd42-f606fba81ae7'].sort(),
    );
    expect(p.atlasPrincipalObjectId!.value).toBe("[parameters('atlasPrincipalObjectId')]");
    // write rights only in remediate mode
    expect(String(p.grantRbacRestore!.value)).toMatch(/^\[and\(variables\('remediate'\), /);
    expect(String(p.accessPolicyRoleDefinitionId)).toMatch(/^\[if\(and\(variables\('remediate'\), /);
    expect((arm.variables as Json).remediate).toBe("[equals(parameters('mode'), 'remediate')]");
  });

  it('the access-policy restorer is a custom role with vaults/read and accessPolicies/write only, assignable on the vaults', () => {
    const roleDefs = all.filter((d) => d.type === 'Microsoft.Authorization/roleDefinitions');
    expect(roleDefs).toHaveLength(1);
    const p = props(roleDefs[0]!);
    expect(p.type).toBe('CustomRole');
    expect(p.permissions).toEqual([
      {
        actions: ['Microsoft.KeyVault/vaults/read', 'Microsoft.KeyVault/vaults/accessPolicies/write'],
        notActions: [],
        dataActions: [],
        notDataActions: [],
      },
    ]);
    expect(p.assignableScopes).toBe("[parameters('assignableScopes')]");
    expect(String(moduleParams(arm, 'accessPolicyRole').assignableScopes!.value)).toContain(
      "format('/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.KeyVault/vaults/{2}'",
    );
  });

  it('no powerful built-in role is granted anywhere; app-side roles are data roles on our own resources', () => {
    const forbidden = [
      ROLE_IDS.owner,
      ROLE_IDS.contributor,
      ROLE_IDS.userAccessAdministrator,
      ROLE_IDS.keyVaultAdministrator,
    ];
    const appVars = (all.find((d) => d.path === 'main/app')!.res.properties as Json).template as Json;
    const roleTable = (appVars.variables as Json).roles as Record<string, string>;
    expect(Object.keys(roleTable).sort()).toEqual(
      [
        'eventGridDataSender',
        'keyVaultSecretsOfficer',
        'keyVaultSecretsUser',
        'monitoringMetricsPublisher',
        'storageBlobDataContributor',
        'storageBlobDataOwner',
        'storageQueueDataContributor',
        'storageTableDataContributor',
      ].sort(),
    );
    const text = readFileSync(check.armPath, 'utf8');
    for (const g of forbidden) expect(text).not.toContain(g);
  });

  it('Event Grid: subscription-level and per-vault system topics deliver to onAzureEvent with filters, retries, dead letters', () => {
    const topics = all.filter((d) => d.type === 'Microsoft.EventGrid/systemTopics');
    expect(topics.map((t) => props(t).topicType).sort()).toEqual([
      'Microsoft.KeyVault.vaults',
      'Microsoft.Resources.Subscriptions',
    ]);
    const subTopic = topics.find((t) => props(t).topicType === 'Microsoft.Resources.Subscriptions')!;
    expect(props(subTopic).source).toBe('[subscription().id]');
    expect(subTopic.res.location).toBe('global');

    const subs = all.filter((d) => d.type === 'Microsoft.EventGrid/systemTopics/eventSubscriptions');
    expect(subs).toHaveLength(2);
    for (const s of subs) {
      const p = props(s) as {
        destination: { endpointType: string; properties: Json };
        filter: Json;
        retryPolicy: Json;
        deadLetterWithResourceIdentity: { deadLetterDestination: { endpointType: string } };
      };
      expect(p.destination.endpointType).toBe('AzureFunction');
      expect(p.destination.properties.resourceId).toBe("[parameters('functionResourceId')]");
      expect(p.retryPolicy).toEqual({ maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 });
      expect(p.deadLetterWithResourceIdentity.deadLetterDestination.endpointType).toBe('StorageBlob');
    }
    const armFilter = (props(subs.find((s) => s.path.startsWith('main/subscriptionEvents'))!) as { filter: Json })
      .filter;
    expect(armFilter).toEqual({
      includedEventTypes: "[parameters('eventTypes')]",
      advancedFilters: [
        { operatorType: 'StringIn', key: 'data.operationName', values: "[parameters('operationNames')]" },
      ],
    });
    const kvFilter = (props(subs.find((s) => s.path.startsWith('main/vaults'))!) as { filter: Json }).filter;
    expect(kvFilter).toEqual({ includedEventTypes: "[parameters('keyVaultEventTypes')]" });
    // the function the events go to is the Event Grid function the app registers
    expect(contract.functions.eventGrid).toBe('onAzureEvent');
    expect(moduleParams(arm, 'subscriptionEvents').functionResourceId!.value).toBe(
      "[format('{0}/functions/{1}', reference('app').outputs.functionAppId.value, variables('contract').functions.eventGrid)]",
    );
    // routing lists: exactly the relevant operations, within Event Grid's 25 values per StringIn filter
    expect(routing.operations.length).toBeLessThanOrEqual(25);
    expect(routing.resourceEventTypes).toEqual([
      'Microsoft.Resources.ResourceWriteSuccess',
      'Microsoft.Resources.ResourceDeleteSuccess',
    ]);
  });

  it('the Function App: Flex Consumption, Node 22, identity-based storage, Key Vault references, alert topic without keys', () => {
    const plan = all.find((d) => d.type === 'Microsoft.Web/serverfarms')!;
    expect(plan.res.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
    const site = all.find((d) => d.type === 'Microsoft.Web/sites')!;
    const cfg = props(site).functionAppConfig as { runtime: Json; deployment: { storage: { authentication: Json } } };
    expect(cfg.runtime).toEqual({ name: 'node', version: '22' });
    // Tested on the major it deploys: npm scripts run on the `node` devDependency, engines and the bundle agree.
    const pkg = readJson('package.json') as { engines: { node: string }; devDependencies: Record<string, string> };
    expect(pkg.devDependencies.node).toMatch(/^\^22\./);
    expect(pkg.engines.node).toBe('>=22');
    expect(readFileSync(join(root as string, 'scripts/build.mjs'), 'utf8')).toMatch(/target: 'node22'/);
    expect(cfg.deployment.storage.authentication.type).toBe('UserAssignedIdentity');
    expect(props(site).keyVaultReferenceIdentity).toMatch(/userAssignedIdentities/);
    const storage = all.find((d) => d.type === 'Microsoft.Storage/storageAccounts')!;
    expect(props(storage).allowSharedKeyAccess).toBe(false);
    expect(all.find((d) => d.type === 'Microsoft.Insights/components')!.res.properties).toMatchObject({
      DisableLocalAuth: true,
    });
    expect(all.find((d) => d.type === 'Microsoft.EventGrid/topics')!.res.properties).toMatchObject({
      inputSchema: 'CloudEventSchemaV1_0',
      disableLocalAuth: true,
    });
    const queue = all.find((d) => d.type === 'Microsoft.Storage/storageAccounts/queueServices/queues')!;
    expect(moduleParams(arm, 'app').reconcileQueueName!.value).toBe("[variables('contract').reconcileQueueName]");
    expect(queue.res.name).toBe(
      "[format('{0}/{1}/{2}', variables('names').storage, 'default', parameters('reconcileQueueName'))]",
    );
    expect(contract.reconcileQueueName).toBe('earguard-reconcile');
    // no listKeys anywhere: nothing reads an account or topic key
    expect(readFileSync(check.armPath, 'utf8')).not.toMatch(/listKeys|listkeys/);
  });

  it("monitoring: alert rules and the workbook deploy against the app's Application Insights component", () => {
    const m = moduleParams(arm, 'monitoring');
    const appModule = (arm.resources as Record<string, Json>).app!;
    const appTemplate = (appModule.properties as Json).template as Json;
    // The component app.bicep creates and the one alerts.bicep reads are named alike from the same token.
    const insights = Object.values(appTemplate.resources as Record<string, Json>).find(
      (r) => r.type === 'Microsoft.Insights/components',
    )!;
    expect(insights.name).toBe("[variables('names').insights]");
    expect((appTemplate.variables as Json).names).toMatchObject({
      insights: "[format('appi-earguard-{0}', parameters('resourceToken'))]",
    });
    expect(moduleParams(arm, 'app').resourceToken!.value).toBe("[variables('resourceToken')]");
    expect(m.resourceToken!.value).toBe("[variables('resourceToken')]");
    expect(m.applicationInsightsName!.value).toBe("[format('appi-earguard-{0}', variables('resourceToken'))]");
    expect(m.functionAppName!.value).toBe("[reference('app').outputs.functionAppName.value]");
    expect(m.sweepFunctionName!.value).toBe("[variables('contract').functions.timer]");
    expect(m.alertEmails!.value).toBe("[parameters('alertEmails')]");
    expect((arm.resources as Record<string, Json>).monitoring!.dependsOn).toContain('app');
    const deployed = all.filter((d) => d.path.startsWith('main/monitoring/')).map((d) => d.type);
    expect(deployed.filter((t) => t === 'Microsoft.Insights/scheduledQueryRules')).toHaveLength(3);
    expect(deployed).toContain('Microsoft.Insights/workbooks');
  });

  it('app settings: every setting src/settings.ts reads is set by Bicep or documented as optional, and vice versa', () => {
    const appTemplate = (all.find((d) => d.path === 'main/app')!.res.properties as Json).template as Json;
    const appSettings = (appTemplate.resources as Record<string, Json>).appSettings!;
    const expr = parseArm(appSettings.properties as string);
    const fromApp = calls(expr, 'createObject').flatMap((c) => c.args.filter((_, i) => i % 2 === 0).map(str));
    const fromMain = Object.keys(moduleParams(arm, 'app').settings!.value as Json);
    expect(calls(expr, 'union')[0]!.args[0]).toEqual({
      k: 'call',
      fn: 'parameters',
      args: [{ k: 'str', v: 'settings' }],
    });
    const setByBicep = new Set([...fromApp, ...fromMain]);

    const read = Object.keys(settingsSchema.shape);
    // Settings Bicep deliberately leaves unset, each with the reason (also in docs/deploy.md).
    const optional: Record<string, string> = {
      ALERT_EVENTGRID_KEY: 'the topic has local auth disabled; the app publishes with its managed identity',
      AzureWebJobsStorage: 'identity-based: the host reads the AzureWebJobsStorage__* settings instead',
      ATLAS_BASE_URL: 'the default (https://cloud.mongodb.com/api/atlas/v2) is the only production endpoint',
    };
    // Platform settings the Functions host reads (not src/settings.ts).
    const platform = /^(AzureWebJobsStorage__\w+|APPLICATIONINSIGHTS_(CONNECTION_STRING|AUTHENTICATION_STRING))$/;
    for (const name of read) {
      expect(
        setByBicep.has(name) || name in optional,
        `${name} is read by the code but neither set by Bicep nor optional`,
      ).toBe(true);
    }
    for (const name of setByBicep) {
      expect(read.includes(name) || platform.test(name), `${name} is set by Bicep but read by nothing`).toBe(true);
    }
    for (const name of Object.keys(optional))
      expect(setByBicep.has(name), `${name} listed optional but set`).toBe(false);
    const doc = readFileSync(join(root as string, 'docs/deploy.md'), 'utf8');
    for (const name of Object.keys(optional)) expect(doc).toContain(name);
    // secrets only as Key Vault references
    const kvRefs = calls(expr, 'createObject').flatMap((c) =>
      c.args.flatMap((a, i) =>
        i % 2 === 0 &&
        [
          'ATLAS_PUBLIC_KEY',
          'ATLAS_PRIVATE_KEY',
          'ATLAS_CLIENT_ID',
          'ATLAS_CLIENT_SECRET',
          'ATLAS_WEBHOOK_SECRET',
          'ALERT_WEBHOOK_URL',
        ].includes(str(a))
          ? [show(c.args[i + 1]!)]
          : [],
      ),
    );
    expect(kvRefs).toHaveLength(6);
    for (const r of kvRefs) expect(r).toMatch(/^__bicep\.keyVaultReference\(/);
    const fn = (appTemplate.functions as { members: Record<string, { output: { value: string } }> }[])[0]!.members
      .keyVaultReference!.output.value;
    expect(renderFormat(parseArm(fn))).toBe(
      "@Microsoft.KeyVault(SecretUri=<parameters('vaultUri')>secrets/<parameters('secretName')>)",
    );
  });

  it('secrets: @secure() parameters with no default value; no secret value in any parameters file', () => {
    const params = arm.parameters as Record<string, Json>;
    for (const name of [
      'atlasPublicKey',
      'atlasPrivateKey',
      'atlasClientId',
      'atlasClientSecret',
      'atlasWebhookSecret',
      'alertWebhookUrl',
    ]) {
      expect(params[name]!.type).toBe('securestring');
      expect(params[name]!.defaultValue).toBe('');
    }
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', 'infra'], {
      cwd: root as string,
      encoding: 'utf8',
    })
      .split('\n')
      .filter((f) => f.endsWith('.parameters.json'));
    expect(files).toContain('infra/main.parameters.json');
    for (const f of files) {
      const p = (readJson(f).parameters ?? {}) as Record<string, { value?: unknown; reference?: unknown }>;
      for (const [name, v] of Object.entries(p)) {
        if (/key|secret|password|token|webhook/i.test(name)) {
          // At most a reference to an azd environment value (substituted at provision time), never a value or default.
          if (v.value !== undefined) {
            expect(v.value, `${f}: ${name} must not carry a value`).toMatch(/^\$\{[A-Z][A-Z0-9_]*\}$/);
          }
        }
      }
      expect(JSON.stringify(p)).not.toMatch(
        /@Microsoft\.KeyVault|-----BEGIN|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i,
      );
    }
  });
});

describe('infra: azd wiring', () => {
  it('azure.yaml deploys the service main.bicep tags, packages it with the hook, and enables events after deploy', () => {
    const yaml = readFileSync(join(root as string, 'azure.yaml'), 'utf8');
    expect(yaml).toMatch(/^ {2}api:\s*$/m);
    expect(yaml).toMatch(/host: function/);
    expect(yaml).toMatch(/project: \.\/deploy\/api/);
    expect(yaml).toMatch(/run: node \.\.\/\.\.\/scripts\/package-functions\.mjs/);
    expect(yaml).toMatch(/run: \.\/scripts\/azd-postdeploy\.sh/);
    const bicep = readFileSync(join(root as string, 'infra/app/app.bicep'), 'utf8');
    expect(bicep).toContain("'azd-service-name': 'api'");
    const hook = readFileSync(join(root as string, 'scripts/azd-postdeploy.sh'), 'utf8');
    expect(hook).toContain('azd env set EAR_GUARD_EVENT_SUBSCRIPTIONS true');
    const params = readFileSync(join(root as string, 'infra/main.parameters.json'), 'utf8');
    expect(params).toContain('${EAR_GUARD_EVENT_SUBSCRIPTIONS=false}');
    // The Atlas credential kind and the alert webhook secret come from the azd environment like the other parameters.
    expect(params).toContain('"atlasCredential": { "value": "${ATLAS_CREDENTIAL=serviceAccount}" }');
    expect(params).toContain('"atlasWebhookSecret": { "value": "${ATLAS_WEBHOOK_SECRET}" }');
  });

  it('the deploy package is self-contained: host.json, the bundle, and a package.json whose main names it', async () => {
    // @ts-expect-error plain ESM helper script without type declarations
    const { writeDeployPackage } = await import('../../scripts/package-functions.mjs');
    const dir = mkdtempSync(join(tmpdir(), 'pkg-'));
    const bundleDir = join(dir, 'bundle');
    mkdirSync(bundleDir);
    writeFileSync(join(bundleDir, 'index.js'), 'export {};\n');
    const out = join(dir, 'out');
    writeDeployPackage(out, bundleDir);
    const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as {
      main: string;
      type: string;
      dependencies?: unknown;
    };
    expect(pkg.type).toBe('module');
    expect(existsSync(join(out, pkg.main))).toBe(true);
    expect(pkg.dependencies).toBeUndefined();
    expect(JSON.parse(readFileSync(join(out, 'host.json'), 'utf8'))).toMatchObject({ version: '2.0' });
    expect(() => writeDeployPackage(join(dir, 'none'), join(dir, 'missing'))).toThrow(/no Functions bundle/);
  });
});
