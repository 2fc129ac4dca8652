// Every function is registered with the intended trigger, schedule/route and bindings: checked on the deployable
// esbuild bundle (what Azure runs) with a stand-in for the host's `@azure/functions-core` module, which is the
// seam the real worker provides. The bundle is built once per run, as `npm run build` builds it (helpers/dist.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import contract from '../../infra/guard-contract.json' with { type: 'json' };
import { builtDist } from '../helpers/dist.js';

interface Registered {
  name: string;
  bindings: Record<string, Record<string, unknown>>;
}

const FAKE_CORE = `
const registered = [];
module.exports = {
  // The worker keeps the model and asks it for an invocation model per invocation.
  setProgrammingModel(model) { globalThis.__model = model; },
  registerHook() { return { dispose() {} }; },
  log() {},
  registerFunction(metadata, handler) {
    registered.push({ ...metadata, handlerType: typeof handler });
    (globalThis.__handlers ??= {})[metadata.name] = handler;
    (globalThis.__metadata ??= {})[metadata.name] = metadata;
    return { dispose() {} };
  },
};
process.on('exit', () => process.stdout.write(JSON.stringify(registered)));
`;

let registered: Registered[] = [];
let bundleDir = '';

beforeAll(() => {
  builtDist();
  const dir = mkdtempSync(join(tmpdir(), 'earguard-reg-'));
  mkdirSync(join(dir, 'dist'), { recursive: true });
  // The entry and its on-demand chunks (scripts/build.mjs splits the bundle).
  cpSync('dist/functions', join(dir, 'dist'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  const core = join(dir, 'node_modules', '@azure', 'functions-core');
  mkdirSync(core, { recursive: true });
  writeFileSync(join(core, 'package.json'), '{"name":"@azure/functions-core","main":"index.js"}');
  writeFileSync(join(core, 'index.js'), FAKE_CORE);
  bundleDir = dir;
  const out = execFileSync(process.execPath, ['-e', `import('${join(dir, 'dist', 'index.js')}')`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
  registered = JSON.parse(out);
}, 120_000);

const byName = (n: string) => registered.find((r) => r.name === n);
const trigger = (r: Registered | undefined) => Object.values(r?.bindings ?? {}).find((b) => b.direction === 'in');

describe('Functions registration (bundle)', () => {
  it('registers exactly the app functions', () => {
    expect(registered.map((r) => r.name).sort()).toEqual(
      [
        contract.functions.eventGrid,
        contract.functions.timer,
        contract.functions.queue,
        contract.functions.http,
        'dashboard',
        'health',
        'onAtlasAlert',
      ].sort(),
    );
  });

  it('onAtlasAlert is an HTTP trigger behind the function key at POST atlas/alerts', () => {
    expect(trigger(byName('onAtlasAlert'))).toMatchObject({
      type: 'httpTrigger',
      authLevel: 'function',
      route: 'atlas/alerts',
      methods: ['POST'],
    });
  });

  it('onAzureEvent is an Event Grid trigger', () => {
    expect(trigger(byName('onAzureEvent'))).toMatchObject({ type: 'eventGridTrigger' });
  });

  it('sweepProjects runs on the schedule setting', () => {
    expect(trigger(byName('sweepProjects'))).toMatchObject({
      type: 'timerTrigger',
      schedule: '%EAR_GUARD_SWEEP_SCHEDULE%',
    });
  });

  it('reconcileProjectQueue reads the fan-out queue from the host storage', () => {
    expect(trigger(byName('reconcileProjectQueue'))).toMatchObject({
      type: 'queueTrigger',
      queueName: contract.reconcileQueueName,
      connection: 'AzureWebJobsStorage',
    });
  });

  it('the HTTP API needs a function key; health is anonymous for probes', () => {
    expect(trigger(byName('projectsApi'))).toMatchObject({
      type: 'httpTrigger',
      authLevel: 'function',
      route: 'projects/{id?}/{action?}',
      methods: ['GET', 'POST', 'PUT'],
    });
    expect(trigger(byName('dashboard'))).toMatchObject({
      type: 'httpTrigger',
      authLevel: 'function',
      route: 'dashboard',
    });
    expect(trigger(byName('health'))).toMatchObject({ type: 'httpTrigger', authLevel: 'anonymous', route: 'health' });
  });
});

describe('handlers load on first use', () => {
  it('the entry registers without the engine; a handler loads its chunk when called and runs', () => {
    // health never throws: with no app context yet it answers 503 with the reason, which only the loaded handler says.
    const script = `
      await import('${join(bundleDir, 'dist', 'index.js')}');
      const log = () => {};
      const ctx = { invocationId: 'i', functionName: 'health', log, trace: log, debug: log, info: log, warn: log, error: log };
      const res = await globalThis.__handlers.health({ method: 'GET', url: 'http://x/api/health' }, ctx);
      process.stderr.write('RESULT ' + JSON.stringify(res) + '\\n');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(r.status).toBe(0);
    const res = JSON.parse(/RESULT (.*)/.exec(r.stderr)?.[1] ?? 'null') as {
      status: number;
      jsonBody: { reasons: string[] };
    };
    expect(res.status).toBe(503);
    expect(res.jsonBody.reasons.join(' ')).toMatch(/observability dependencies not set/);
  });
});

describe('invocation through the library, as the worker does it', () => {
  it('the programming model builds the request, runs the handler and converts its response', () => {
    // The bundle defers @azure/functions' invocation modules to first use (scripts/defer-azure-functions.mjs): this
    // drives them the way the Node worker does (getCapabilities, then getInvocationModel per invocation with the
    // RPC request), so a deferral that breaks the library fails here.
    const script = `
      await import('${join(bundleDir, 'dist', 'index.js')}');
      const model = globalThis.__model;
      const capabilities = await model.getCapabilities({});
      const metadata = globalThis.__metadata.health;
      const [trigger] = Object.entries(metadata.bindings).find(([, b]) => b.direction === 'in');
      const http = { method: 'GET', url: 'http://localhost/api/health', headers: { accept: 'application/json' } };
      const coreCtx = {
        invocationId: 'inv-1',
        metadata,
        request: { inputData: [{ name: trigger, data: { http } }], triggerMetadata: {} },
        log: () => {},
      };
      const invocation = model.getInvocationModel(coreCtx);
      const { context, inputs } = await invocation.getArguments();
      const seen = { url: inputs[0].url, method: inputs[0].method, fn: context.functionName };
      const result = await invocation.invokeFunction(context, inputs, globalThis.__handlers.health);
      const { returnValue } = await invocation.getResponse(context, result);
      const body = Buffer.from(returnValue.http.body.bytes).toString('utf8');
      process.stderr.write('RESULT ' + JSON.stringify({ capabilities, seen, status: returnValue.http.statusCode, body }) + '\\n');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(/RESULT (.*)/.exec(r.stderr)?.[1] ?? 'null') as {
      capabilities: Record<string, string>;
      seen: { url: string; method: string; fn: string };
      status: string;
      body: string;
    };
    expect(res.capabilities).toEqual({});
    expect(res.seen).toEqual({ url: 'http://localhost/api/health', method: 'GET', fn: 'health' });
    expect(res.status).toBe('503');
    expect((JSON.parse(res.body) as { reasons: string[] }).reasons.join(' ')).toMatch(
      /observability dependencies not set/,
    );
  });
});

describe('settings at load, in the Functions host', () => {
  it('a bad or missing setting stops the app with one message listing every problem', () => {
    const r = spawnSync(process.execPath, ['-e', `import('${join(bundleDir, 'dist', 'index.js')}')`], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        FUNCTIONS_WORKER_RUNTIME: 'node',
        EAR_GUARD_MODE: 'yolo',
        ATLAS_PRIVATE_KEY: 'sekrit-value',
      },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/atlas-ear-guard cannot start\. Invalid settings:/);
    expect(r.stderr).toMatch(/ATLAS_PUBLIC_KEY/);
    expect(r.stderr).toMatch(/EAR_GUARD_MODE/);
    expect(r.stderr).not.toMatch(/sekrit-value/);
    expect(JSON.parse(r.stdout || '[]')).toEqual([]);
  });

  it('valid settings load and register', () => {
    const r = spawnSync(process.execPath, ['-e', `import('${join(bundleDir, 'dist', 'index.js')}')`], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        FUNCTIONS_WORKER_RUNTIME: 'node',
        ATLAS_PUBLIC_KEY: 'p',
        ATLAS_PRIVATE_KEY: 'k',
      },
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(7);
  });
});
