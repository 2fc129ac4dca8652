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
];

const operations = {};
for (const [path, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!OPERATIONS.includes(op?.operationId)) continue;
    const ok = op.responses['200'] ?? op.responses['201'];
    const content = ok.content[Object.keys(ok.content).find((k) => k.includes('2023-01-01'))];
    operations[op.operationId] = {
      method: method.toUpperCase(),
      path,
      roles: op['x-rolesRequirements'] ?? [],
      response: content.schema.$ref,
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
