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
  setProgrammingModel() {},
  registerHook() { return { dispose() {} }; },
  log() {},
  registerFunction(metadata, handler) {
    registered.push({ ...metadata, handlerType: typeof handler });
    (globalThis.__handlers ??= {})[metadata.name] = handler;
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
