// One sweep in its own process, so its peak RSS is the sweeper's alone (the sandbox and Azurite live in the
// parent). Prints one JSON line.
import { subscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { createEngine } from '../src/engine.js';
import { loadSettings } from '../src/settings.js';
import { runSweep } from '../src/loop/sweep.js';

interface Config {
  sandbox: {
    armEndpoint: string;
    atlasBaseUrl: string;
    ca: string;
    atlasPublicKey: string;
    atlasPrivateKey: string;
    atlasClientId?: string;
    atlasClientSecret?: string;
  };
  storage: string;
  projectIds: string[];
  shareVaultReads: boolean;
  concurrency?: number;
  perSubscription?: number;
  prefix: string;
}

const cfg = JSON.parse(readFileSync(process.env.BENCH_CONFIG_FILE!, 'utf8')) as Config;
// The service account when the sandbox has one (what the app runs with), else the API key.
const atlasCredential = cfg.sandbox.atlasClientId
  ? { ATLAS_CLIENT_ID: cfg.sandbox.atlasClientId, ATLAS_CLIENT_SECRET: cfg.sandbox.atlasClientSecret ?? '' }
  : { ATLAS_PUBLIC_KEY: cfg.sandbox.atlasPublicKey, ATLAS_PRIVATE_KEY: cfg.sandbox.atlasPrivateKey };
const settings = loadSettings({
  ...atlasCredential,
  ATLAS_BASE_URL: cfg.sandbox.atlasBaseUrl,
  EAR_GUARD_MODE: 'remediate',
  EAR_GUARD_TABLE_PREFIX: cfg.prefix,
});
const engine = await createEngine({ settings, sandbox: cfg.sandbox, storageConnection: cfg.storage });
// Requests the sweep sends, by transport and port (the emulator's ARM, its Atlas and Azurite listen on their own).
const requests: Record<string, number> = {};
const countAs = (key: string) => (requests[key] = (requests[key] ?? 0) + 1);
subscribe('http.client.request.start', (m) => {
  const r = (m as { request: { host?: string; path?: string; socket?: { remotePort?: number } } }).request;
  countAs(`node:http ${r.host ?? ''}`);
});
subscribe('undici:request:create', (m) => countAs(`undici ${(m as { request: { origin: string } }).request.origin}`));
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
const rssBefore = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const summary = await runSweep(engine, {
  projectIds: cfg.projectIds,
  shareVaultReads: cfg.shareVaultReads,
  concurrency: cfg.concurrency,
  perSubscription: cfg.perSubscription,
});
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
await engine.close();
console.log(
  JSON.stringify({
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    byOutcome: summary.byOutcome,
    errors: summary.errors,
    requests,
    rssBefore,
    peakRss,
    maxRss: process.resourceUsage().maxRSS * 1024,
  }),
);
process.exit(0);
