// Extracts the response schemas of the Atlas Admin API operations the emulator serves from the published Atlas
// OpenAPI spec (mongodb/atlas-sdk-go openapi/atlas-api-transformed.yaml) into test/fixtures/atlas-openapi/, with
// every component they reference, so tests validate the emulator against the spec rather than memory.
//   node scripts/extract-atlas-schemas.mjs <atlas-api-transformed.yaml> <commit>
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';

const [file, commit = 'unknown'] = process.argv.slice(2);
if (!file) throw new Error('usage: node scripts/extract-atlas-schemas.mjs <atlas-api-transformed.yaml> <commit>');
const spec = parse(readFileSync(file, 'utf8'), { maxAliasCount: -1 });
const OPERATIONS = [
  'listGroups',
  'getGroup',
  'getEncryptionAtRest',
  'updateEncryptionAtRest',
  'listCloudProviderAccess',
  'createCloudProviderAccess',
  'listAlertConfigs',
  'createAlertConfig',
  'getGroupIpAddresses',
  'listControlPlaneAddresses',
];

const operations = {};
const content = (ok, type) => ok.content[type];
for (const [path, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!OPERATIONS.includes(op?.operationId)) continue;
    const ok = op.responses['200'] ?? op.responses['201'];
    // 2023-01-01 where the operation has it; the oldest version otherwise (controlPlaneIPAddresses: 2023-11-15).
    const types = Object.keys(ok.content).sort();
    const type = types.find((k) => k.includes('2023-01-01')) ?? types[0];
    operations[op.operationId] = {
      method: method.toUpperCase(),
      path,
      version: /\d{4}-\d{2}-\d{2}/.exec(type)[0],
      // `security: []` overrides the spec's global security: the operation takes no credentials at all.
      authenticated: !(Array.isArray(op.security) && op.security.length === 0),
      roles: op['x-rolesRequirements'] ?? [],
      response: content(ok, type).schema.$ref,
    };
  }
}
const roots = [...Object.values(operations).map((o) => o.response), '#/components/schemas/ApiError'];
const schemas = {};
const visit = (v) => {
  if (Array.isArray(v)) return v.forEach(visit);
  if (!v || typeof v !== 'object') return;
  if (typeof v.$ref === 'string') {
    const name = v.$ref.replace('#/components/schemas/', '');
    if (!schemas[name]) {
      schemas[name] = spec.components.schemas[name];
      visit(schemas[name]);
    }
  }
  Object.values(v).forEach(visit);
};
roots.forEach((r) => visit({ $ref: r }));
writeFileSync(
  'test/fixtures/atlas-openapi/schemas.json',
  JSON.stringify(
    { source: `mongodb/atlas-sdk-go@${commit} openapi/atlas-api-transformed.yaml`, operations, schemas },
    null,
    2,
  ) + '\n',
);
console.log(`${Object.keys(operations).length} operations, ${Object.keys(schemas).length} schemas`);
