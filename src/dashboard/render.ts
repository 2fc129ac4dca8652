// The status page: one self-contained HTML document (no external assets: the network may be closed), readable
// on a laptop and a phone. Server-rendered, so without JavaScript it is a plain table that refreshes through a
// <noscript> meta refresh; with JavaScript a small inline script re-fetches the page and swaps the content in
// place (no flash, scroll kept, a failed refresh keeps the last data and says so). Every value is escaped by the
// `markup` template; the script and style carry a per-response CSP nonce.
import type { HistoryRow, ProjectRecord } from '../state/store.js';
import type { Heartbeat } from '../state/heartbeat.js';
import type { HealthReport } from '../observability/health.js';
import { markup, raw, type SafeHtml } from './html.js';
import {
  allEpisodes,
  firstSweepState,
  formatDuration,
  formatRelative,
  formatTime,
  lastSegment,
  modelLabel,
  statusStyle,
  summarizeProject,
  type FirstSweep,
  type ProjectSummary,
  type RestoreEpisode,
} from './model.js';

export interface DashboardInput {
  projects: ProjectRecord[];
  /** projectId -> history rows (newest first, as StateStore.listHistory returns them). */
  history: Record<string, HistoryRow[]>;
  heartbeat: Heartbeat | undefined;
  now: Date;
  /** When given, the heartbeat panel says whether the watcher is on time and why not. */
  health?: HealthReport;
  /** Seconds between refreshes (default 30). */
  refreshSeconds?: number;
  /** CSP nonce for the inline style and script (the handler sets the matching header). */
  nonce?: string;
  /** Rows per project timeline (default 20). */
  timelineLimit?: number;
  /** Storage or read error to show instead of (or above) the data. */
  error?: string;
}

const ATLAS_CHECK_SECONDS = 900;

function timeCell(iso: string | undefined, now: Date): SafeHtml {
  if (!iso) return markup`<span class="none">—</span>`;
  return markup`<time datetime="${iso}" title="${formatTime(iso)}">${formatRelative(iso, now)}</time>`;
}

function statusBadge(status: string): SafeHtml {
  const s = statusStyle(status);
  return markup`<span class="st st-${s.tone}" data-status="${status}"
    ><span class="dot" aria-hidden="true"></span>${s.label}</span
  >`;
}

function projectRow(p: ProjectSummary, now: Date): SafeHtml {
  const r = p.record;
  const vault = lastSegment(r.vaultId);
  const notes = [
    r.missing.length ? `missing: ${r.missing.join(', ')}` : '',
    r.status === 'revoked' && r.intentReason ? `reason: ${r.intentReason}` : '',
    r.lastError ? `error: ${r.lastError}` : '',
    r.flags.length ? `flags: ${r.flags.join(', ')}` : '',
  ].filter(Boolean);
  return markup`<tr id="p-${r.projectId}" data-project="${r.projectId}" data-status="${r.status}">
    <td data-label="Project"><a href="#h-${r.projectId}" class="mono pid">${r.projectId}</a></td>
    <td data-label="Status">${statusBadge(r.status)}${notes.map((n) => markup`<div class="note">${n}</div>`)}</td>
    <td data-label="Model">${modelLabel(r.model)}</td>
    <td data-label="Vault / key">
      ${vault ? markup`<span title="${r.vaultId}">${vault}</span>` : markup`<span class="none">—</span>`}${r.keyName ? markup` / <span class="mono">${r.keyName}</span>` : ''}
    </td>
    <td data-label="Last check">${timeCell(r.lastCheck, now)}</td>
    <td data-label="Last drift">${timeCell(p.lastDrift?.at, now)}</td>
    <td data-label="Changed by">
      ${p.changedBy ? markup`<span class="actor">${p.changedBy}</span>` : markup`<span class="none">—</span>`}
    </td>
    <td data-label="Time to restore">
      ${p.lastRestore ? markup`<span title="verified ${formatTime(p.lastRestore.verifiedAt)}">${formatDuration(p.lastRestore.seconds)}</span>` : markup`<span class="none">—</span>`}
    </td>
    <td data-label="Atlas confirmed">${atlasCell(p)}</td>
  </tr>`;
}

/** Stage two of a recovery: Atlas's own verdict (grants restored is stage one, the column before). */
function atlasCell(p: ProjectSummary): SafeHtml {
  const a = p.atlas;
  if (!a) return markup`<span class="none">—</span>`;
  if (a.kind === 'pending') {
    return markup`<span class="atlas-pending" data-atlas="pending" title="pending since ${formatTime(a.since)}">waiting for Atlas</span>`;
  }
  if (a.kind === 'invalid') return markup`<span class="atlas-invalid" data-atlas="invalid">Atlas: not valid</span>`;
  const took = Number.isFinite(a.seconds) ? formatDuration(a.seconds) : formatTime(a.at);
  return markup`<span data-atlas="confirmed" title="confirmed ${formatTime(a.at)}">${took}</span>`;
}

function timeline(p: ProjectSummary, limit: number, now: Date): SafeHtml {
  const rows = p.history.slice(0, limit);
  const id = p.record.projectId;
  return markup`<details id="h-${id}" class="tl" ${p.record.status !== 'healthy' && rows.length ? raw(' open') : ''}>
    <summary>
      <span class="mono">${id}</span> ${statusBadge(p.record.status)}
      <span class="count">${p.history.length} event${p.history.length === 1 ? '' : 's'}</span>
    </summary>
    ${
      rows.length
        ? markup`<ol>
            ${rows.map(
              (h) =>
                markup`<li class="k-${h.kind}">
                  <time datetime="${h.at}" title="${formatRelative(h.at, now)}">${formatTime(h.at)}</time>
                  <span class="kind">${h.kind}</span>
                  <span class="sum">${h.summary}</span
                  >${h.actor ? markup` <span class="meta">by <span class="actor">${h.actor}</span></span>` : ''}${h.trigger ? markup` <span class="meta">via ${h.trigger}</span>` : ''}${h.eventId ? markup` <span class="meta mono" title="Event Grid event ID">event ID ${h.eventId}</span>` : ''}${h.correlationId ? markup` <span class="meta mono" title="Azure correlation ID">correlation ID ${h.correlationId}</span>` : ''}
                </li>`,
            )}
          </ol>`
        : markup`<p class="none">No history yet.</p>`
    }
  </details>`;
}

/** Inline SVG: one bar per restore (oldest left), log-scale seconds, a line at Atlas's 15-minute check. */
export function latencyChart(episodes: RestoreEpisode[], max = 60): SafeHtml {
  const shown = episodes.slice(-max);
  if (!shown.length) return markup`<p class="none" id="chart-empty">No restores recorded yet.</p>`;
  const W = 480;
  const H = 220;
  const left = 52;
  const right = 12;
  const top = 12;
  const bottom = 28;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const maxS = Math.max(ATLAS_CHECK_SECONDS * 2, ...shown.map((e) => e.seconds));
  const lo = Math.log10(0.5);
  const hi = Math.log10(maxS);
  const y = (s: number) => top + plotH - ((Math.log10(Math.max(0.5, s)) - lo) / (hi - lo)) * plotH;
  const ticks: [number, string][] = [
    [1, '1 s'],
    [10, '10 s'],
    [60, '1 min'],
    [600, '10 min'],
    [3600, '1 h'],
    [36000, '10 h'],
  ].filter(([s]) => (s as number) <= maxS) as [number, string][];
  const slot = plotW / shown.length;
  const barW = Math.max(2, Math.min(28, slot * 0.7));
  const sorted = shown.map((e) => e.seconds).sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  const f = (n: number) => n.toFixed(1);
  return markup`<svg
      class="chart"
      viewBox="0 0 ${W} ${H}"
      role="img"
      aria-labelledby="chart-title chart-desc"
      preserveAspectRatio="xMidYMid meet"
    >
      <title id="chart-title">Time to restore, last ${shown.length} restores</title>
      <desc id="chart-desc">
        Median ${formatDuration(pct(0.5))}, 95th percentile ${formatDuration(pct(0.95))}, slowest
        ${formatDuration(sorted.at(-1)!)}. Log scale. Dashed line: Atlas checks key access every 15 minutes.
      </desc>
      ${ticks.map(
        ([s, label]) =>
          markup`<line class="grid" x1="${left}" x2="${W - right}" y1="${f(y(s))}" y2="${f(y(s))}" /><text
              class="axis"
              x="${left - 6}"
              y="${f(y(s) + 4)}"
              text-anchor="end"
              >${label}</text
            >`,
      )}
      <line
        class="limit"
        x1="${left}"
        x2="${W - right}"
        y1="${f(y(ATLAS_CHECK_SECONDS))}"
        y2="${f(y(ATLAS_CHECK_SECONDS))}"
      />
      <text class="limit-label" x="${W - right}" y="${f(y(ATLAS_CHECK_SECONDS) - 4)}" text-anchor="end">
        Atlas check (15 min)
      </text>
      ${shown.map((e, i) => {
        const x = left + i * slot + (slot - barW) / 2;
        const yTop = y(e.seconds);
        const cls = e.seconds > ATLAS_CHECK_SECONDS ? 'bar late' : 'bar';
        return markup`<rect class="${cls}" x="${f(x)}" y="${f(yTop)}" width="${f(barW)}" height="${f(top + plotH - yTop)}"
          ><title>${e.projectId}: ${formatDuration(e.seconds)} (verified ${formatTime(e.verifiedAt)})</title></rect
        >`;
      })}
      <line class="axisline" x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" />
      <text class="axis" x="${left}" y="${H - 8}">${formatTime(shown[0]!.verifiedAt)}</text>
      <text class="axis" x="${W - right}" y="${H - 8}" text-anchor="end">${formatTime(shown.at(-1)!.verifiedAt)}</text>
    </svg>
    <p class="stats">
      Median <b>${formatDuration(pct(0.5))}</b> · p95 <b>${formatDuration(pct(0.95))}</b> · slowest
      <b>${formatDuration(sorted.at(-1)!)}</b> · ${shown.length} restore${shown.length === 1 ? '' : 's'}
    </p>`;
}

function heartbeatState(
  hb: Heartbeat | undefined,
  health: HealthReport | undefined,
  firstSweep: FirstSweep | undefined,
): SafeHtml {
  if (firstSweep === 'running') {
    return markup`<span class="st st-info" id="hb-state"><span class="dot"></span>First sweep running</span>`;
  }
  if (health) {
    return health.healthy
      ? markup`<span class="st st-ok" id="hb-state"><span class="dot"></span>Watcher running</span>`
      : markup`<span class="st st-bad" id="hb-state"><span class="dot"></span>Watcher late or down</span>`;
  }
  return hb
    ? markup`<span class="st st-info" id="hb-state"><span class="dot"></span>Last sweep recorded</span>`
    : markup`<span class="st st-muted" id="hb-state"><span class="dot"></span>No sweep yet</span>`;
}

function lastSweep(hb: Heartbeat, now: Date): SafeHtml {
  const outcomes = Object.entries(hb.outcomes).filter(([, n]) => n > 0);
  return markup` Last sweep finished ${timeCell(hb.finishedAt, now)}
              <span class="meta">(${formatTime(hb.finishedAt)})</span> · ${hb.projects}
              project${hb.projects === 1 ? '' : 's'}${hb.durationMs ? markup` in ${formatDuration(hb.durationMs / 1000)}` : ''}${outcomes.length ? markup` · ${outcomes.map(([k, n], i) => markup`${i ? ', ' : ''}${n} ${k}`)}` : ''}${hb.errors ? markup` · <span class="bad">${hb.errors} error${hb.errors === 1 ? '' : 's'}</span>` : ''}`;
}

function heartbeatPanel(
  hb: Heartbeat | undefined,
  health: HealthReport | undefined,
  now: Date,
  firstSweep: FirstSweep | undefined,
): SafeHtml {
  const ok = firstSweep === 'running' || (health ? health.healthy : !!hb);
  const state = heartbeatState(hb, health, firstSweep);
  return markup`<section class="hb ${ok ? 'hb-ok' : 'hb-bad'}" id="heartbeat" aria-label="Heartbeat">
    <h2>Heartbeat</h2>
    <p>
      ${state}${hb ? lastSweep(hb, now) : ''}
    </p>
    ${
      health && health.reasons.length
        ? markup`<ul class="reasons">
            ${health.reasons.map((r) => markup`<li>${r}</li>`)}
          </ul>`
        : ''
    }
    ${health ? markup`<p class="meta">Expected a sweep at least every ${formatDuration(health.maxSweepAgeSeconds / 2)} (schedule <span class="mono">${health.schedule}</span>).</p>` : ''}
  </section>`;
}

const STYLE = `
:root{--bg:#f7f8fa;--fg:#1b1f24;--mut:#5b6470;--card:#fff;--line:#dfe3e8;--ok:#1a7f37;--info:#0969da;--warn:#b35900;--bad:#cf222e;--muted:#6e7781}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mut:#9198a1;--card:#161b22;--line:#30363d;--ok:#3fb950;--info:#58a6ff;--warn:#d29922;--bad:#f85149;--muted:#8b949e}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header,main{max-width:1200px;margin:0 auto;padding:12px 16px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:8px 16px}
h1{font-size:20px;margin:0}h2{font-size:16px;margin:0 0 8px}
.meta,.count,.note,.none{color:var(--mut);font-size:13px}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;word-break:break-all}
.pid{word-break:normal;white-space:nowrap}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px;margin:12px 0}
.chips{display:flex;flex-wrap:wrap;gap:6px}
.chip{border:1px solid var(--line);border-radius:999px;padding:2px 10px;font-size:13px}
.st{display:inline-flex;align-items:center;gap:6px;font-weight:600;white-space:nowrap}
.dot{width:10px;height:10px;border-radius:50%;background:currentColor;display:inline-block}
.st-ok{color:var(--ok)}.st-info{color:var(--info)}.st-warn{color:var(--warn)}.st-bad{color:var(--bad)}.st-muted{color:var(--muted)}
.bad{color:var(--bad);font-weight:600}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:13px;color:var(--mut);font-weight:600}
tr[data-status=failing],tr[data-status=escalated]{background:color-mix(in srgb,var(--bad) 8%,transparent)}
tr[data-status=drifted],tr[data-status=degraded]{background:color-mix(in srgb,var(--warn) 8%,transparent)}
a{color:var(--info)}
.hb-bad{border-color:var(--bad)}
.reasons{margin:4px 0;color:var(--bad)}
.tl summary{cursor:pointer;padding:6px 0}
.asof{margin:4px 0 0}
.tl ol{list-style:none;margin:4px 0 8px;padding:0 0 0 12px;border-left:2px solid var(--line)}
.tl li{padding:3px 0 3px 8px;position:relative}
.tl li::before{content:"";position:absolute;left:-19px;top:10px;width:10px;height:10px;border-radius:50%;background:var(--muted)}
.tl li.k-detection::before{background:var(--warn)}.tl li.k-verification::before{background:var(--ok)}
.tl li.k-error::before,.tl li.k-alert::before{background:var(--bad)}.tl li.k-action::before{background:var(--info)}
.tl time{font-size:13px;color:var(--mut);margin-right:6px}
.kind{font-size:12px;text-transform:uppercase;letter-spacing:.04em;border:1px solid var(--line);border-radius:4px;padding:0 4px;margin-right:4px}
.chart{width:100%;height:auto;max-height:260px}
.chart .grid{stroke:var(--line);stroke-width:1}
.chart .axisline{stroke:var(--mut)}
.chart .axis,.chart .limit-label{fill:var(--mut);font-size:12px}
.chart .limit{stroke:var(--bad);stroke-dasharray:5 4}
.chart .limit-label{fill:var(--bad)}
.chart .bar{fill:var(--info)}.chart .bar.late{fill:var(--bad)}
#refresh-state.failed{color:var(--bad)}
@media (max-width:760px){
 header,main{padding:8px 10px}
 thead{display:none}
 table,tbody,tr,td{display:block;width:100%}
 tr{border:1px solid var(--line);border-radius:8px;margin:0 0 10px;padding:4px 8px;background:var(--card)}
 td{border:0;padding:4px 0;display:flex;gap:10px}
 td::before{content:attr(data-label);flex:0 0 118px;color:var(--mut);font-size:13px}
}
`;

// Re-fetches this same URL (it carries the function key) and swaps #content; keeps the last data on failure.
const SCRIPT = `
(function(){
  var body=document.body, every=Number(body.getAttribute('data-refresh'))||30;
  var state=document.getElementById('refresh-state');
  function tick(){
    fetch(location.href,{headers:{accept:'text/html'},cache:'no-store',credentials:'same-origin'})
      .then(function(r){if(!r.ok&&r.status!==503)throw new Error('HTTP '+r.status);return r.text();})
      .then(function(t){
        // Only <main> is taken (an inert template, no style or script of the new response is parsed: its
        // nonce differs from ours and CSP would report it).
        var s=t.indexOf('<main id="content"'), e=t.lastIndexOf('</main>');
        if(s<0||e<0)throw new Error('unexpected page');
        var tpl=document.createElement('template');
        tpl.innerHTML=t.slice(s,e+7);
        document.getElementById('content').replaceWith(tpl.content.firstElementChild);
        state.textContent='Live: refreshed '+new Date().toLocaleTimeString();
        state.className='';
        body.setAttribute('data-refreshed',String(Date.now()));
      })
      .catch(function(e){state.textContent='Refresh failed ('+e.message+'); showing data from '+document.getElementById('generated').textContent;state.className='failed';})
      .then(function(){setTimeout(tick,every*1000);});
  }
  state.textContent='Live: refreshing every '+every+' s';
  setTimeout(tick,every*1000);
})();
`;

function projectsTable(summaries: ProjectSummary[], now: Date, firstSweep: FirstSweep | undefined): SafeHtml {
  return summaries.length
    ? markup`<table id="projects">
        <thead>
          <tr>
            <th scope="col">Project</th>
            <th scope="col">Status</th>
            <th scope="col">Model</th>
            <th scope="col">Vault / key</th>
            <th scope="col">Last check</th>
            <th scope="col">Last drift</th>
            <th scope="col">Changed by</th>
            <th scope="col">Time to restore</th>
            <th scope="col" title="Atlas reported the key valid again, from the change">Atlas confirmed</th>
          </tr>
        </thead>
        <tbody>
          ${summaries.map((s) => projectRow(s, now))}
        </tbody>
      </table>`
    : firstSweep === 'running'
      ? markup`<p class="none" id="first-sweep">First sweep running: projects appear here when it finishes.</p>`
      : markup`<p class="none" id="no-projects">No projects recorded: the last sweep found none to watch.</p>`;
}

export function renderDashboard(input: DashboardInput): string {
  const now = input.now;
  const refresh = Math.min(3600, Math.max(1, Math.round(input.refreshSeconds ?? 30)));
  const limit = input.timelineLimit ?? 20;
  // Unknown when the state could not be read: a missing heartbeat then says nothing about the sweep.
  const firstSweep = input.error ? undefined : firstSweepState(input.heartbeat);
  const nonce = input.nonce ? raw(` nonce="${input.nonce.replace(/[^A-Za-z0-9+/=_-]/g, '')}"`) : '';
  const order: Record<string, number> = { failing: 0, escalated: 1, drifted: 2, degraded: 3, restored: 4, unknown: 5 };
  const summaries = input.projects
    .map((p) => summarizeProject(p, input.history[p.projectId] ?? [], input.now))
    .sort(
      (a, b) =>
        (order[a.record.status] ?? 6) - (order[b.record.status] ?? 6) ||
        a.record.projectId.localeCompare(b.record.projectId),
    );
  const counts = new Map<string, number>();
  for (const s of summaries) counts.set(s.record.status, (counts.get(s.record.status) ?? 0) + 1);
  const episodes = allEpisodes(Object.fromEntries(summaries.map((s) => [s.record.projectId, s.history])));

  const page = markup`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Atlas EAR guard: status</title>
<noscript><meta http-equiv="refresh" content="${refresh}"></noscript>
<style${nonce}>${raw(STYLE)}</style>
</head>
<body data-refresh="${refresh}">
<header>
<h1>Atlas EAR guard</h1>
<span class="meta" id="refresh-state" aria-live="polite">Refreshes every ${refresh} s</span>
</header>
<main id="content">
<p class="meta asof">Data as of <time id="generated" datetime="${now.toISOString()}">${formatTime(now.toISOString())}</time></p>
${
  input.error
    ? markup`<section class="hb-bad" role="alert">
        <h2>Cannot read state</h2>
        <p class="bad">${input.error}</p>
      </section>`
    : ''
}
${heartbeatPanel(input.heartbeat, input.health, now, firstSweep)}
<section aria-label="Projects">
<h2>Projects (${summaries.length})</h2>
<div class="chips">${[...counts.entries()].map(([st, n]) => markup`<span class="chip">${statusBadge(st)} ${n}</span>`)}</div>
${projectsTable(summaries, now, firstSweep)}
</section>
<section aria-label="Restore latency">
<h2>Time to restore</h2>
${latencyChart(episodes)}
</section>
<section aria-label="History">
<h2>History</h2>
${summaries.map((s) => timeline(s, limit, now))}
</section>
</main>
<script${nonce}>${raw(SCRIPT)}</script>
</body>
</html>
`;
  return page.value;
}
