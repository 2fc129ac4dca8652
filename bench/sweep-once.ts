// `npx tsx bench/sweep-once.ts [projects]`: figure 3 alone (first and steady-state sweep of `projects` over 100
// vaults, shared vault reads, real time), printed as JSON: for working on the sweep without the whole bench.
import { sweepAtScale } from './sweep.js';

const projects = Number(process.argv[2] ?? 2000);
// Extra arguments for the sweeper's node (e.g. GC flags to compare): BENCH_NODE_ARGS, space-separated.
const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean);
const runs = await sweepAtScale(projects, 100, { timeScale: 1, shareVaultReads: true, steady: true, nodeArgs });
for (const r of runs) {
  const { pass, wallRealS, lowerBoundSandboxS, ratio, cpuS, armReads, atlasRequestsPerProject, byOutcome, requests } =
    r;
  const cpuMsPerProject = (cpuS * 1000) / projects;
  console.log(
    JSON.stringify({
      pass,
      wallRealS,
      lowerBoundSandboxS,
      ratio,
      cpuMsPerProject,
      armReads,
      atlasRequestsPerProject,
      byOutcome,
      requests,
    }),
  );
}
