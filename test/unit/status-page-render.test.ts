import { describe, expect, it } from 'vitest';
import { escapeHtml, html } from '../../src/daemon/web/html.js';
import { renderFragment, renderPage } from '../../src/daemon/web/render.js';
import { conditionsOf, domain, instance, statusDoc, verifyReport } from '../helpers/status-doc.js';

const EVIL = '<script>alert(1)</script>';
const QUOTE = `x" onmouseover="alert(2)`;

describe('the status page renderer', () => {
  it('escapes text and both quotes, and leaves trusted markup alone', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(html`<b title="${QUOTE}">${EVIL}</b>${html`<i>ok</i>`}${[1, null, undefined, false, 'a<']}`.text).toBe(
      '<b title="x&quot; onmouseover=&quot;alert(2)">&lt;script&gt;alert(1)&lt;/script&gt;</b><i>ok</i>1a&lt;',
    );
  });

  it('cannot be injected through names and messages from infra.yml or Incus', () => {
    const doc = statusDoc(
      [domain(EVIL, [instance(EVIL, QUOTE, '10.0.0.1', EVIL, conditionsOf('degraded', EVIL, QUOTE))], { notes: [EVIL], subnet: EVIL })],
      {
        config: { file: EVIL, valid: false, errors: [EVIL], specHash: null, loadedAt: null },
        incus: { endpoint: EVIL, reachable: false, error: QUOTE },
        aiAccess: { policy: 'exclusive', holder: EVIL, source: EVIL, lastSwitches: [EVIL], lastFailure: QUOTE },
        verify: { ...verifyReport([EVIL, QUOTE], { [`${EVIL}>${QUOTE}`]: 'unexpected' }) },
      },
    );
    const page = renderPage({ status: doc, sanitizer: { state: 'unavailable', url: EVIL, readAt: EVIL, reason: EVIL } }, { nonce: 'n0nce' });
    // The page's own script is the only one; no attribute was opened by a value.
    expect(page.match(/<script/g)).toHaveLength(1);
    expect(page).not.toContain('onmouseover="');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain(`data-instance="&lt;script&gt;alert(1)&lt;/script&gt;/x&quot; onmouseover=&quot;alert(2)"`);
  });

  it('has every section: daemon, domains with their instances, firewall, AI access, sanitizer, verify', () => {
    const doc = statusDoc([domain('pro', [instance('pro', 'pro-dev', '10.110.1.1'), instance('pro', 'pro-db', '10.110.1.2', 'Stopped', conditionsOf('progressing', 'Applying', 'start: stopped'))]), domain('perso', [])]);
    const fragment = renderFragment({ status: doc, sanitizer: { state: 'none' } });
    for (const id of ['summary', 'domains', 'firewall', 'ai-access', 'sanitizer', 'verify']) expect(fragment).toContain(`<section id="${id}"`);
    expect(fragment).toContain('data-domain="pro"');
    expect(fragment).toContain('data-domain="perso"');
    const row = /<tr class="object" data-object="instance\/pro\/pro-db" data-instance="pro\/pro-db">(.*?)<\/tr>/.exec(fragment)?.[1] ?? '';
    expect(row).toContain('<td>10.110.1.2</td>');
    expect(row).toContain('<span class="state state-stopped">Stopped</span>');
    expect(row).toContain('Progressing');
    expect(row).toContain('Applying: start: stopped');
    expect(fragment).toContain('InSync');
    expect(fragment).toContain('<b>pro</b>');
    expect(fragment).toContain('perso -&gt; pro flush=yes ok');
    expect(fragment).toContain('no verify run yet');
    expect(fragment).toContain('deploys no sanitizer');
  });

  it('draws the verify matrix as a grid: rows from, columns to, a colour per verdict, probes in the title', () => {
    const report = verifyReport(['a', 'b', 'c'], { 'a>b': 'unexpected', 'c>a': 'not-verifiable' });
    const fragment = renderFragment({ status: statusDoc([], { verify: report }), sanitizer: { state: 'none' } });
    const cell = (from: string, to: string): string => new RegExp(`<td class="cell ([^"]+)" data-from="${from}" data-to="${to}"[^>]*>`).exec(fragment)?.[0] ?? '';
    expect(cell('a', 'b')).toContain('v-unexpected');
    expect(cell('b', 'a')).toContain('v-expected');
    expect(cell('c', 'a')).toContain('v-unknown');
    expect(cell('a', 'a')).toContain('v-none');
    expect(cell('a', 'b')).toContain('title="a → b: unexpected\na/a1 → b/b1 tcp 10.110.2.1:22: pass (expected block) — closed control port"');
    expect(cell('c', 'a')).toContain('no probe could be sent\nc/x: no nc in the instance');
    // Row order is the report's: a, b, c.
    expect([...fragment.matchAll(/<th scope="row">(\w)<\/th>/g)].map((m) => m[1])).toEqual(['a', 'b', 'c']);
    expect(fragment).toContain('1 unexpected');
    const page = renderPage({ status: statusDoc([], { verify: report }), sanitizer: { state: 'none' } }, { nonce: 'n' });
    // Green, red, grey.
    expect(page).toMatch(/--good:#1a7f37;--bad:#cf222e;/);
    expect(page).toContain('.v-expected{background:var(--good)}.v-unexpected{background:var(--bad)}.v-unknown{background:var(--idle)}');
  });

  it('shows the sanitizer counters, or why they are unavailable', () => {
    const counters = { requests: 7, failedRequests: 1, requestsByRoute: [{ name: 'cloud', count: 5 }], replacements: 31, replacementsByCategory: [{ name: 'ip', count: 30 }], byDomain: [{ domain: 'pro', requests: 7, replacements: 31 }], sanitizeFailures: 0, activeStreams: 2 };
    const ok = renderFragment({ status: statusDoc([]), sanitizer: { state: 'ok', url: 'http://10.100.0.20:8089/metrics', readAt: '2026-12-05T04:00:00.000Z', counters } });
    expect(ok).toContain('data-counter="requests">7<');
    expect(ok).toContain('data-counter="replacements">31<');
    expect(ok).toContain('<td>ip</td><td class="num">30</td>');
    const down = renderFragment({ status: statusDoc([]), sanitizer: { state: 'unavailable', url: 'http://10.100.0.20:8089/metrics', readAt: '2026-12-05T04:00:00.000Z', reason: 'ECONNREFUSED' } });
    expect(down).toContain('unavailable');
    expect(down).toContain('ECONNREFUSED');
  });

  it('is a page that works without JavaScript: the same fragment, a refresh in <noscript>, nonce on style and script', () => {
    const view = { status: statusDoc([domain('pro', [])]), sanitizer: { state: 'none' as const } };
    const page = renderPage(view, { nonce: 'abc123' });
    expect(page).toContain(`<main id="status">${renderFragment(view)}</main>`);
    expect(page).toContain('<noscript><meta http-equiv="refresh" content="10"></noscript>');
    expect(page).toContain('<style nonce="abc123">');
    expect(page).toContain('<script nonce="abc123">');
    // No inline style attribute or handler: the CSP would block it.
    expect(page).not.toMatch(/\sstyle="|\son[a-z]+="/);
  });
});
