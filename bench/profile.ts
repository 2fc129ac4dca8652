// `npx tsx bench/profile.ts [projects] [dir] [first|steady]`: a CPU profile of the sweeper (the child process alone)
// on one shared-reads sweep (default the steady-state one, as every scheduled sweep but the first), and the top
// self-time by package. Open the .cpuprofile in Chrome DevTools for the tree.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sweepAtScale } from './sweep.js';

const projects = Number(process.argv[2] ?? 400);
const dir = process.argv[3] ?? '/tmp/earguard-profile';
mkdirSync(dir, { recursive: true });
const pass = process.argv[4] === 'first' ? 'first' : 'steady';
const runs = await sweepAtScale(projects, 100, {
  timeScale: 1,
  shareVaultReads: true,
  steady: pass === 'steady',
  nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
});
const r = runs.at(-1)!;
interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
}
const file = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort()
  .at(-1)!;
const prof = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
};
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
prof.samples.forEach((id, i) => {
  const n = byId.get(id)!;
  const url = n.callFrame.url;
  const pkg =
    /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1] ??
    (url.includes('/src/') ? 'src' : url || n.callFrame.functionName || '(native)');
  self.set(pkg, (self.get(pkg) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
console.log(
  `${projects} projects, ${pass} sweep: sweeper CPU ${r.cpuS.toFixed(1)} s, wall ${r.wallRealS.toFixed(1)} s, ${r.atlasRequestsPerProject} Atlas requests a project; profile ${join(dir, file)}`,
);
for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
  console.log(`${((ms / total) * 100).toFixed(1).padStart(5)}%  ${Math.round(ms)} ms  ${k}`);
}
