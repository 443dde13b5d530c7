import type { Condition, DomainStatus, ObjectStatus, StatusDocument } from '../../controllers/status.js';
import type { VerifyCell, VerifyReport } from '../../shared/verify-report.js';
import { html, SafeHtml, type HtmlValue } from './html.js';
import type { SanitizerView } from './sanitizer-metrics.js';

/**
 * The status page, rendered on the server from the daemon's status document
 * (pure). The same fragment is the page's body on a plain GET and the payload
 * of each server-sent event, so the page shows the same with JavaScript off.
 * Every value is escaped by `html` (names come from infra.yml and Incus); the
 * markup has no inline style or handler, so the CSP allows only the page's
 * own nonce'd <style> and <script>.
 */

export interface PageView {
  readonly status: StatusDocument;
  readonly sanitizer: SanitizerView;
}

/** Seconds between reloads when JavaScript is off. */
export const NO_SCRIPT_REFRESH_SECONDS = 10;

/** `2026-12-05T04:30:12.345Z` → `2026-12-05 04:30:12Z`. */
function when(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return 'never';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function count(n: number): string {
  return String(Math.round(n));
}

function condition(conditions: readonly Condition[], type: Condition['type']): Condition | undefined {
  return conditions.find((c) => c.type === type);
}

/** The one word a reader wants first: Degraded beats Progressing beats Ready. */
function headline(conditions: readonly Condition[]): { word: string; cls: string; c: Condition | undefined } {
  const degraded = condition(conditions, 'Degraded');
  if (degraded?.status === true) return { word: 'Degraded', cls: 'bad', c: degraded };
  const progressing = condition(conditions, 'Progressing');
  if (progressing?.status === true) return { word: 'Progressing', cls: 'busy', c: progressing };
  const ready = condition(conditions, 'Ready');
  return ready?.status === true ? { word: 'Ready', cls: 'good', c: ready } : { word: 'Not ready', cls: 'bad', c: ready };
}

function badge(word: string, cls: string, title?: string): SafeHtml {
  return html`<span class="badge ${cls}"${title === undefined ? '' : html` title="${title}"`}>${word}</span>`;
}

function summary(s: StatusDocument): SafeHtml {
  const config = s.config.valid
    ? badge('valid', 'good')
    : html`${badge('invalid', 'bad')} <span class="note">the last valid version stays in force</span><ul class="errors">${s.config.errors.map((e) => html`<li>${e}</li>`)}</ul>`;
  return html`<section id="summary"><h2>Daemon</h2><dl class="facts">
<dt>status at</dt><dd><time datetime="${s.generatedAt}">${when(s.generatedAt)}</time></dd>
<dt>daemon</dt><dd>${s.daemon.running ? badge('running', 'good') : badge('not running', 'bad')}${s.daemon.startedAt === undefined ? '' : html` since ${when(s.daemon.startedAt)}`}${s.daemon.pid === undefined ? '' : html`, pid ${s.daemon.pid}`}${s.daemon.message === undefined ? '' : html` — ${s.daemon.message}`}</dd>
<dt>infra.yml</dt><dd><code>${s.config.file}</code> ${config}</dd>
<dt>Incus</dt><dd><code>${s.incus.endpoint}</code> ${s.incus.reachable ? badge('reachable', 'good') : badge('unreachable', 'bad', s.incus.error)}${s.incus.error === undefined ? '' : html` <span class="note">${s.incus.error}</span>`}</dd>
<dt>events</dt><dd>${s.events === null ? 'not watched' : html`${s.events.connected ? badge('connected', 'good') : badge('disconnected', 'bad')} ${s.events.reconnects} reconnect(s), last event ${when(s.events.lastEventAt)}`}</dd>
<dt>work queue</dt><dd>${s.queue === null ? 'none' : `${s.queue.depth} waiting or running, ${s.queue.inFlight} in flight`}</dd>
</dl></section>`;
}

function conditionList(conditions: readonly Condition[]): SafeHtml {
  return html`<ul class="conditions">${conditions.map(
    (c) => html`<li class="${c.status ? 'on' : 'off'}" data-condition="${c.type}"><b>${c.type}</b> ${c.status ? 'True' : 'False'} — ${c.reason}: ${c.message} <span class="note">since ${when(c.lastTransitionTime)}</span></li>`,
  )}</ul>`;
}

function objectRow(domain: string, o: ObjectStatus): SafeHtml {
  const h = headline(o.conditions);
  const state = o.state === undefined ? '' : html`<span class="state state-${o.state.toLowerCase()}">${o.state}</span>`;
  const instance = o.kind === 'instance' ? html` data-instance="${domain}/${o.name}"` : '';
  return html`<tr class="object" data-object="${o.id}"${instance}><td>${o.kind}</td><td class="name">${o.name}</td><td>${o.ip ?? ''}</td><td>${state}</td><td>${badge(h.word, h.cls)}</td><td class="reason" title="${h.c?.message ?? ''}">${h.c === undefined ? '' : html`${h.c.reason}: ${h.c.message}`}</td></tr>`;
}

function domainSection(d: DomainStatus): SafeHtml {
  const h = headline(d.conditions);
  const last = d.lastReconcile === null ? 'not reconciled yet' : `last reconcile ${when(d.lastReconcile.time)} (${d.lastReconcile.result}, ${d.lastReconcile.durationMs} ms)`;
  return html`<article class="domain" data-domain="${d.name}">
<h3>${d.name} ${badge(h.word, h.cls, h.c === undefined ? undefined : `${h.c.reason}: ${h.c.message}`)}${d.enabled ? '' : html` ${badge('disabled', 'idle')}`}</h3>
<p class="meta">${d.trustLevel} · <code>${d.subnet}</code> on <code>${d.bridge}</code> · AI ${d.aiProvider}, sanitize ${String(d.aiSanitize)} · ${last}${d.retries > 0 ? ` · ${d.retries} retries` : ''}</p>
${conditionList(d.conditions)}
${d.objects.length === 0 ? html`<p class="note">no objects yet</p>` : html`<table class="objects"><thead><tr><th>kind</th><th>name</th><th>address</th><th>state</th><th>condition</th><th>reason</th></tr></thead><tbody>${d.objects.map((o) => objectRow(d.name, o))}</tbody></table>`}
${d.notes.length === 0 ? '' : html`<ul class="notes">${d.notes.map((n) => html`<li>${n}</li>`)}</ul>`}
</article>`;
}

function firewallSection(s: StatusDocument): SafeHtml {
  const f = s.firewall;
  const cls = f.state === 'InSync' ? 'good' : f.state === 'Unknown' ? 'idle' : 'bad';
  return html`<section id="firewall"><h2>Firewall</h2><p>${badge(f.state, cls)} ${f.managed ? 'isolation holds as declared' : 'isolation is not as declared'} — ${f.message}</p>
<dl class="facts"><dt>rules</dt><dd>${f.rules}</dd><dt>read back</dt><dd>${when(f.checkedAt)}</dd><dt>written</dt><dd>${when(f.appliedAt)}</dd></dl></section>`;
}

function aiSection(s: StatusDocument): SafeHtml {
  const a = s.aiAccess;
  const holder = a.holder === null ? (a.policy === 'open' ? 'every domain (open access)' : 'nobody') : a.holder;
  const switches = a.lastSwitches ?? [];
  return html`<section id="ai-access"><h2>AI access</h2><dl class="facts">
<dt>policy</dt><dd>${a.policy}</dd>
<dt>holder</dt><dd class="holder"><b>${holder}</b>${a.since === undefined || a.since === null ? '' : html` since ${when(a.since)}`} <span class="note">${a.source}</span></dd>
${a.wanted === undefined ? '' : html`<dt>wanted</dt><dd>${a.wanted ?? 'nobody'}</dd>`}
${a.phase === undefined || a.phase === null ? '' : html`<dt>switch in flight</dt><dd>${badge(a.phase, 'busy')}</dd>`}
${a.lastFailure === undefined ? '' : html`<dt>last failure</dt><dd>${badge('failed', 'bad')} ${a.lastFailure}</dd>`}
${a.vram === undefined || a.vram.length === 0 ? '' : html`<dt>VRAM</dt><dd>${a.vram.map((v) => html`<div>${v.instance} ${v.gpu}: ${v.usedMiB} / ${v.totalMiB} MiB</div>`)}</dd>`}
${a.vramError === undefined ? '' : html`<dt>VRAM reading</dt><dd>${a.vramError}</dd>`}
</dl>
<h3>Last switches</h3>${switches.length === 0 ? html`<p class="note">no switch recorded</p>` : html`<ol class="switches">${switches.map((l) => html`<li><code>${l}</code></li>`)}</ol>`}
</section>`;
}

function countTable(title: string, rows: readonly { name: string; count: number }[]): SafeHtml {
  if (rows.length === 0) return html``;
  return html`<table class="counts"><thead><tr><th>${title}</th><th>count</th></tr></thead><tbody>${rows.map((r) => html`<tr><td>${r.name}</td><td class="num">${count(r.count)}</td></tr>`)}</tbody></table>`;
}

function sanitizerSection(v: SanitizerView): SafeHtml {
  const head = html`<h2>Sanitizer</h2>`;
  if (v.state === 'none') return html`<section id="sanitizer">${head}<p class="note">infra.yml deploys no sanitizer (no machine with role llm_sanitizer)</p></section>`;
  const where = html`<code>${v.url}</code>`;
  if (v.state === 'pending') return html`<section id="sanitizer">${head}<p>${where} ${badge('not read yet', 'idle')}</p></section>`;
  if (v.state === 'unavailable') return html`<section id="sanitizer" data-state="unavailable">${head}<p>${where} ${badge('unavailable', 'bad')} ${v.reason} <span class="note">(tried ${when(v.readAt)})</span></p></section>`;
  const c = v.counters;
  return html`<section id="sanitizer" data-state="ok">${head}<p>${where} ${badge('answering', 'good')} <span class="note">read ${when(v.readAt)}</span></p>
<dl class="facts counters"><dt>requests</dt><dd data-counter="requests">${count(c.requests)}</dd><dt>failed (4xx/5xx)</dt><dd>${count(c.failedRequests)}</dd>
<dt>values replaced</dt><dd data-counter="replacements">${count(c.replacements)}</dd><dt>refused: sanitizing failed</dt><dd>${count(c.sanitizeFailures)}</dd><dt>streams now</dt><dd>${count(c.activeStreams)}</dd></dl>
<div class="tables">${countTable('route', c.requestsByRoute)}${countTable('category', c.replacementsByCategory)}${c.byDomain.length === 0 ? '' : html`<table class="counts"><thead><tr><th>domain</th><th>requests</th><th>replaced</th></tr></thead><tbody>${c.byDomain.map((d) => html`<tr><td>${d.domain}</td><td class="num">${count(d.requests)}</td><td class="num">${count(d.replacements)}</td></tr>`)}</tbody></table>`}</div>
</section>`;
}

const VERDICT = {
  expected: { cls: 'v-expected', mark: '✓', word: 'expected' },
  unexpected: { cls: 'v-unexpected', mark: '✗', word: 'unexpected' },
  'not-verifiable': { cls: 'v-unknown', mark: '?', word: 'not verifiable' },
} as const;

/** A cell's title: its verdict, then one line per probe (what, expected, observed, why). */
function cellTitle(cell: VerifyCell, report: VerifyReport): string {
  const lines = [`${cell.from} → ${cell.to}: ${VERDICT[cell.verdict].word}`];
  for (const p of cell.probes) {
    const target = p.protocol === 'tcp' ? `tcp ${p.address}:${p.port ?? '?'}` : `icmp ${p.address}`;
    lines.push(`${p.from} → ${p.to} ${target}: ${p.observed} (expected ${p.expected}) — ${p.why}${p.detail === undefined ? '' : ` [${p.detail}]`}`);
  }
  if (cell.probes.length === 0) {
    lines.push('no probe could be sent');
    for (const n of report.notVerifiable) if (n.instance.startsWith(`${cell.from}/`) || n.instance.startsWith(`${cell.to}/`)) lines.push(`${n.instance}: ${n.reason}`);
  }
  return lines.join('\n');
}

function verifySection(report: VerifyReport | null | undefined): SafeHtml {
  const head = html`<h2>Isolation, as last verified</h2>`;
  if (report === null || report === undefined) return html`<section id="verify" data-state="none">${head}<p class="note">no verify run yet</p></section>`;
  const cells = new Map(report.cells.map((c) => [`${c.from}\u0000${c.to}`, c]));
  const grid: HtmlValue = report.domains.map((from) =>
    html`<tr><th scope="row">${from}</th>${report.domains.map((to) => {
      const cell = cells.get(`${from}\u0000${to}`);
      if (cell === undefined) return html`<td class="cell v-none" data-from="${from}" data-to="${to}" title="${from} → ${to}: not probed">–</td>`;
      const v = VERDICT[cell.verdict];
      return html`<td class="cell ${v.cls}" data-from="${from}" data-to="${to}" data-verdict="${cell.verdict}" title="${cellTitle(cell, report)}">${v.mark}</td>`;
    })}</tr>`,
  );
  const unexpected = report.cells.filter((c) => c.verdict === 'unexpected').length;
  return html`<section id="verify" data-state="${report.ok ? 'ok' : 'failed'}">${head}
<p>${report.ok ? badge('all expected', 'good') : badge(`${unexpected} unexpected`, 'bad')} ${report.probeCount} probes in ${(report.durationMs / 1000).toFixed(1)} s, started ${when(report.startedAt)}</p>
<table class="grid"><caption>rows: from · columns: to · hover a cell for its probes</caption><thead><tr><th scope="col">from \\ to</th>${report.domains.map((d) => html`<th scope="col">${d}</th>`)}</tr></thead><tbody>${grid}</tbody></table>
<p class="legend"><span class="cell v-expected">✓</span> as declared <span class="cell v-unexpected">✗</span> not as declared <span class="cell v-unknown">?</span> not verifiable <span class="cell v-none">–</span> not probed</p>
${report.notVerifiable.length === 0 ? '' : html`<h3>Not verifiable</h3><ul class="notes">${report.notVerifiable.map((n) => html`<li><code>${n.instance}</code>: ${n.reason}</li>`)}</ul>`}
</section>`;
}

/** The part of the page that changes: swapped whole on each event. */
export function renderFragment(view: PageView): string {
  const s = view.status;
  return html`${summary(s)}
<section id="domains"><h2>Domains</h2>${s.domains.length === 0 ? html`<p class="note">infra.yml declares no domain</p>` : s.domains.map(domainSection)}</section>
${firewallSection(s)}
${aiSection(s)}
${sanitizerSection(view.sanitizer)}
${verifySection(s.verify)}`.text;
}

const STYLE = `
:root{color-scheme:light dark;--good:#1a7f37;--bad:#cf222e;--busy:#9a6700;--idle:#6e7781;font:14px/1.4 system-ui,sans-serif}
body{margin:0 auto;max-width:80rem;padding:0 1rem 2rem}
header.top{display:flex;gap:1rem;align-items:baseline;border-bottom:1px solid #8884}
h1{font-size:1.4rem;margin:.6rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .4rem}h3{font-size:1rem;margin:.8rem 0 .2rem}
.note{color:var(--idle)}code{font-size:.92em}
.badge{display:inline-block;padding:0 .45em;border-radius:.6em;color:#fff;font-size:.85em;background:var(--idle)}
.badge.good{background:var(--good)}.badge.bad{background:var(--bad)}.badge.busy{background:var(--busy)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.3rem 0}dt{color:var(--idle)}dd{margin:0}
table{border-collapse:collapse;margin:.3rem 0}caption{caption-side:bottom;text-align:left;color:var(--idle);white-space:nowrap}th,td{border:1px solid #8884;padding:.15rem .5rem;text-align:left;vertical-align:top}
td.reason{max-width:36rem}.num{text-align:right}
.state-running{color:var(--good)}.state-stopped,.state-missing,.state-error{color:var(--bad);font-weight:bold}
ul.conditions{list-style:none;padding:0;margin:.2rem 0}ul.conditions li.off{color:var(--idle)}
article.domain{border-left:3px solid #8884;padding-left:.8rem;margin:.8rem 0}
.tables{display:flex;gap:1rem;flex-wrap:wrap;align-items:flex-start}
.cell{text-align:center;min-width:2.2rem;font-weight:bold;color:#fff}
.v-expected{background:var(--good)}.v-unexpected{background:var(--bad)}.v-unknown{background:var(--idle)}.v-none{background:transparent;color:var(--idle)}
.legend .cell{display:inline-block;padding:0 .4rem;margin-left:.6rem}
#live{font-size:.9em}
`;

/**
 * Swaps the fragment on each server-sent event; EventSource reconnects by
 * itself (the server's `retry:`). Without JavaScript the <noscript> refresh
 * reloads the page instead.
 */
const SCRIPT = `
(() => {
  const root = document.getElementById('status');
  const live = document.getElementById('live');
  if (!root || !live || !('EventSource' in window)) return;
  const events = new EventSource('events');
  events.addEventListener('status', (e) => { root.innerHTML = e.data; live.textContent = 'live'; live.className = 'badge good'; });
  events.addEventListener('open', () => { live.textContent = 'live'; live.className = 'badge good'; });
  // EventSource retries by itself unless the server refused the stream (too many pages open).
  events.addEventListener('error', () => {
    const closed = events.readyState === EventSource.CLOSED;
    live.textContent = closed ? 'not live: reload the page' : 'reconnecting';
    live.className = closed ? 'badge bad' : 'badge busy';
  });
})();
`;

/** The whole page; `nonce` is the CSP nonce of its one <style> and one <script>. */
export function renderPage(view: PageView, options: { readonly nonce: string }): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>anklume status</title>
<noscript><meta http-equiv="refresh" content="${NO_SCRIPT_REFRESH_SECONDS}"></noscript>
<style nonce="${options.nonce}">${new SafeHtml(STYLE)}</style>
</head><body>
<header class="top"><h1>anklume</h1><span id="live" class="badge idle">reloads every ${NO_SCRIPT_REFRESH_SECONDS} s</span><a href="./">reload</a><a href="status.json">status.json</a></header>
<main id="status">${new SafeHtml(renderFragment(view))}</main>
<script nonce="${options.nonce}">${new SafeHtml(SCRIPT)}</script>
</body></html>
`.text;
}
