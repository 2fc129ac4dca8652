import { describe, expect, it } from 'vitest';
import { renderDashboard } from '../../src/dashboard/render.js';
import { escapeHtml, markup, raw } from '../../src/dashboard/html.js';
import { restoreEpisodes, summarizeProject, formatDuration, isVerifiedRestore } from '../../src/dashboard/model.js';
import { newProjectRecord, type HistoryRow, type ProjectRecord } from '../../src/state/store.js';
import { assessHealth } from '../../src/observability/health.js';

const now = new Date('2026-03-01T12:00:00Z');
const VAULT =
  '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ear/providers/Microsoft.KeyVault/vaults/kv-prod';

function project(id: string, patch: Partial<ProjectRecord> = {}): ProjectRecord {
  return {
    ...newProjectRecord(id),
    vaultId: VAULT,
    keyName: 'atlas-ear',
    model: 'rbac',
    lastCheck: '2026-03-01T11:58:00Z',
    ...patch,
  };
}
let seq = 0;
function row(projectId: string, kind: HistoryRow['kind'], at: string, patch: Partial<HistoryRow> = {}): HistoryRow {
  return { projectId, kind, at, rowKey: String(seq++), summary: kind, ...patch };
}

describe('html template', () => {
  it('escapes every interpolation unless it is SafeHtml', () => {
    const evil = `<script>alert("x")</script>'&\``;
    expect(markup`<b title="${evil}">${evil}</b>`.value).toBe(
      '<b title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;&#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;&#96;</b>',
    );
    expect(markup`${raw('<i>')}${[1, '<', markup`<u>`]}`.value).toBe('<i>1&lt;<u>');
    expect(escapeHtml(undefined)).toBe('');
  });
});

describe('restore episodes', () => {
  it('measure from the event time (else detection) to the verified restore; duplicate detections do not restart', () => {
    const rows = [
      row('p', 'detection', '2026-03-01T10:00:05Z', {
        actor: 'ops@contoso.com',
        detail: { eventTime: '2026-03-01T10:00:00Z' },
      }),
      row('p', 'detection', '2026-03-01T10:00:06Z', { actor: 'ops@contoso.com' }),
      row('p', 'action', '2026-03-01T10:00:07Z'),
      row('p', 'verification', '2026-03-01T10:00:09Z', { detail: { verdict: 'granted' } }),
      row('p', 'detection', '2026-03-01T11:00:00Z'),
      row('p', 'verification', '2026-03-01T11:00:30Z', {
        summary: 'restore not verified',
        detail: { verdict: 'missing' },
      }),
      row('p', 'verification', '2026-03-01T11:02:00Z', { summary: 'access restored and verified' }),
    ].reverse();
    const eps = restoreEpisodes('p', rows);
    expect(eps.map((e) => e.seconds)).toEqual([9, 120]);
    expect(eps[0]!.actor).toBe('ops@contoso.com');
    expect(isVerifiedRestore(row('p', 'verification', 'x', { summary: 'restore failed', detail: {} }))).toBe(false);
  });

  it('summarizes the last drift, who changed it and time to restore', () => {
    const s = summarizeProject(project('p'), [
      row('p', 'verification', '2026-03-01T10:00:09Z', { detail: { restored: true } }),
      row('p', 'detection', '2026-03-01T10:00:04Z', { actor: 'mallory@contoso.com' }),
    ]);
    expect(s.lastDrift?.at).toBe('2026-03-01T10:00:04Z');
    expect(s.changedBy).toBe('mallory@contoso.com');
    expect(s.lastRestore?.seconds).toBe(5);
    expect(formatDuration(125)).toBe('2 min 5 s');
  });

  it('a healthy project restored within the hour reads restored (the re-check after a restore records healthy)', () => {
    const rows = (verifiedAt: string) => [
      row('p', 'verification', verifiedAt, { detail: { verdict: 'granted' } }),
      row('p', 'detection', '2026-03-01T09:00:00Z'),
    ];
    const healthy = project('p', { status: 'healthy' });
    expect(summarizeProject(healthy, rows('2026-03-01T11:10:00Z'), now).record.status).toBe('restored');
    expect(summarizeProject(healthy, rows('2026-03-01T10:30:00Z'), now).record.status).toBe('healthy');
    // Without a clock (the JSON API) and for a project that is not healthy, the recorded status stands.
    expect(summarizeProject(healthy, rows('2026-03-01T11:10:00Z')).record.status).toBe('healthy');
    const drifted = project('p', { status: 'drifted' });
    expect(summarizeProject(drifted, rows('2026-03-01T11:10:00Z'), now).record.status).toBe('drifted');
    // A drift after the last restore is not a restore.
    const later = [row('p', 'detection', '2026-03-01T11:20:00Z'), ...rows('2026-03-01T11:10:00Z')];
    expect(summarizeProject(healthy, later, now).record.status).toBe('healthy');
    const html = renderDashboard({
      projects: [healthy],
      history: { p: rows('2026-03-01T11:10:00Z') },
      heartbeat: undefined,
      now,
    });
    expect(html).toContain('data-project="p" data-status="restored"');
  });
});

describe('renderDashboard', () => {
  const projects = [
    project('aaaaaaaaaaaaaaaaaaaaaaa1', { status: 'healthy' }),
    project('aaaaaaaaaaaaaaaaaaaaaaa2', { status: 'restored', model: 'accessPolicy' }),
    project('aaaaaaaaaaaaaaaaaaaaaaa3', {
      status: 'failing',
      missing: ['encrypt', 'decrypt'],
      lastError: 'arm 403 AuthorizationFailed: no',
    }),
  ];
  const history = {
    aaaaaaaaaaaaaaaaaaaaaaa2: [
      row('aaaaaaaaaaaaaaaaaaaaaaa2', 'verification', '2026-03-01T11:00:08Z', { detail: { verdict: 'granted' } }),
      row('aaaaaaaaaaaaaaaaaaaaaaa2', 'detection', '2026-03-01T11:00:00Z', {
        actor: '<script>alert(1)</script>',
        eventId: 'ev-1',
        summary: 'role assignment deleted <b>by</b> someone',
      }),
    ],
  };
  const heartbeat = {
    finishedAt: '2026-03-01T11:57:00Z',
    projects: 3,
    outcomes: { converged: 2, restored: 1 },
    errors: 0,
    durationMs: 1800,
  };
  const page = renderDashboard({
    projects,
    history,
    heartbeat,
    now,
    health: assessHealth({ heartbeat, schedule: '0 */5 * * * *', now }),
    nonce: 'abc123',
    refreshSeconds: 15,
  });

  it('escapes an actor named <script> everywhere it appears', () => {
    expect(page).not.toContain('<script>alert(1)</script>');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain('<b>by</b>');
    // The only scripts are ours, with the nonce.
    expect(page.match(/<script/g)).toHaveLength(1);
    expect(page).toContain('<script nonce="abc123">');
  });

  it('is self-contained: no external URLs for assets', () => {
    expect(page).not.toMatch(/<(link|img|iframe)\b/i);
    expect(page).not.toMatch(/\bsrc=/i);
    expect(page).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
  });

  it('shows one row per project with status colour class and text, model, vault/key, restore time', () => {
    for (const p of projects) expect(page).toContain(`data-project="${p.projectId}"`);
    expect(page).toMatch(
      /data-project="aaaaaaaaaaaaaaaaaaaaaaa3"[\s\S]*?st-bad[\s\S]*?Failing[\s\S]*?missing: encrypt, decrypt/,
    );
    expect(page).toMatch(
      /data-project="aaaaaaaaaaaaaaaaaaaaaaa2"[\s\S]*?st-info[\s\S]*?Restored[\s\S]*?Access policies[\s\S]*?kv-prod[\s\S]*?atlas-ear[\s\S]*?>8 s</,
    );
    // Failing sorts first.
    expect(page.indexOf('data-project="aaaaaaaaaaaaaaaaaaaaaaa3"')).toBeLessThan(
      page.indexOf('data-project="aaaaaaaaaaaaaaaaaaaaaaa1"'),
    );
  });

  it('has the heartbeat, a timeline per project, an SVG latency chart and a refresh that works without JS', () => {
    expect(page).toContain('Watcher running');
    expect(page).toMatch(/id="h-aaaaaaaaaaaaaaaaaaaaaaa2"/);
    expect(page).toMatch(/<svg\s+class="chart"[\s\S]*<rect\s+class="bar"/);
    expect(page).toContain('<noscript><meta http-equiv="refresh" content="15"></noscript>');
    expect(page).toContain('data-refresh="15"');
    expect(page).toContain('name="viewport"');
  });

  it('says when the watcher is late and shows the reason', () => {
    const late = { ...heartbeat, finishedAt: '2026-03-01T10:00:00Z' };
    const p = renderDashboard({
      projects: [],
      history: {},
      heartbeat: late,
      now,
      health: assessHealth({ heartbeat: late, schedule: '0 */5 * * * *', now }),
    });
    expect(p).toContain('Watcher late or down');
    expect(p).toMatch(/last sweep finished 2 h ago/);
    expect(p).toContain('No projects recorded: the last sweep found none to watch.');
    expect(p).not.toContain('First sweep running');
    expect(p).toContain('No restores recorded yet');
  });

  it('says "first sweep running" until a sweep has finished, not "no projects"', () => {
    const p = renderDashboard({
      projects: [],
      history: {},
      heartbeat: undefined,
      now,
      health: assessHealth({ heartbeat: undefined, schedule: '0 */5 * * * *', now }),
    });
    expect(p).toMatch(/id="hb-state"><span class="dot"><\/span>First sweep running/);
    expect(p).toContain('id="first-sweep">First sweep running: projects appear here when it finishes.');
    expect(p).not.toContain('No projects recorded');
    // A state read that failed says nothing about the sweep.
    const failed = renderDashboard({ projects: [], history: {}, heartbeat: undefined, now, error: 'state: 403' });
    expect(failed).not.toContain('First sweep running');
  });
});
