// Right after start, before any sweep has finished, the local stack (as `npm start` runs it) must say "first sweep
// running" on /api/projects and the status page, not "no projects"; once the sweep finishes, the projects are there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, sweepNow, type LocalStack } from '../../src/local/stack.js';

const KEY = 'e2e-first-sweep-key-0123456789';
let stack: LocalStack;

const get = (path: string) => fetch(`${stack.local.host.url}/api/${path}`, { headers: { 'x-functions-key': KEY } });

beforeAll(async () => {
  stack = await startLocalStack({
    env: { LOCAL_FUNCTION_KEY: KEY },
    forceSandbox: true,
    sandboxOptions: { timeScale: 0.001, rateLimit: false },
    // Far away: the test runs the sweep itself.
    sweepSchedule: '0 0 0 1 1 *',
    queuePollMs: 60_000,
    subscribe: false,
  });
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe('first sweep running', () => {
  it('before the first sweep: firstSweep "running" on the API and the page; after it: the projects', async () => {
    const before = await get('projects');
    expect(before.status).toBe(200);
    expect(await before.json()).toEqual({ projects: [], firstSweep: 'running' });
    const page = await (await get('dashboard')).text();
    expect(page).toContain('First sweep running: projects appear here when it finishes.');
    expect(page).not.toContain('No projects recorded');
    const json = (await (await get('dashboard?format=json')).json()) as { firstSweep: string };
    expect(json.firstSweep).toBe('running');

    const first = await sweepNow(stack);
    expect(first.summary.items).toHaveLength(2);

    const after = (await (await get('projects')).json()) as { projects: unknown[]; firstSweep: string };
    expect(after.firstSweep).toBe('finished');
    expect(after.projects).toHaveLength(2);
    const pageAfter = await (await get('dashboard')).text();
    expect(pageAfter).not.toContain('First sweep running');
    expect(pageAfter).toContain('Watcher running');
  }, 60_000);
});
