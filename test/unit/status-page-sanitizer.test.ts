import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { parseSamples, summarize } from '../../src/daemon/web/sanitizer-metrics.js';

describe("the sanitizer's counters on the status page", () => {
  it("sums the gateway's own exposition into totals, routes, categories and domains", async () => {
    // The real gateway metrics, rendered by prom-client: the parser reads what the gateway writes.
    const m = new GatewayMetrics();
    m.request({ endpoint: 'anthropic.messages', domain: 'pro', route: 'cloud', status: '200' });
    m.request({ endpoint: 'anthropic.messages', domain: 'pro', route: 'cloud', status: '200' });
    m.request({ endpoint: 'ollama.chat', domain: 'perso', route: 'local', status: '403' });
    m.replaced('pro', 'ip', 5);
    m.replaced('pro', 'fqdn', 2);
    m.replaced('perso', 'ip', 1);
    m.sanitizeFailed('pro');
    m.streamStarted();
    const c = summarize(await m.render());
    expect(c).toEqual({
      requests: 3,
      failedRequests: 1,
      requestsByRoute: [{ name: 'cloud', count: 2 }, { name: 'local', count: 1 }],
      replacements: 8,
      replacementsByCategory: [{ name: 'ip', count: 6 }, { name: 'fqdn', count: 2 }],
      byDomain: [{ domain: 'pro', requests: 2, replacements: 7 }, { domain: 'perso', requests: 1, replacements: 1 }],
      sanitizeFailures: 1,
      activeStreams: 1,
    });
  });

  it('reads escaped label values and skips lines it does not know', () => {
    const text = ['# HELP x y', 'other_metric{a="b"} 5', 'anklume_gateway_replacements_total{domain="a\\"b",category="x\\\\y"} 4', 'anklume_gateway_active_streams NaN-ish', ''].join('\n');
    const samples = parseSamples(text);
    expect(samples).toHaveLength(1);
    expect(samples[0]?.labels.get('domain')).toBe('a"b');
    expect(samples[0]?.labels.get('category')).toBe('x\\y');
  });

  it('keeps at most 20 rows per breakdown, the largest first', () => {
    const lines = Array.from({ length: 50 }, (_, i) => `anklume_gateway_replacements_total{domain="d${i}",category="c${i}"} ${i + 1}`);
    const c = summarize(lines.join('\n'));
    expect(c.replacementsByCategory).toHaveLength(20);
    expect(c.replacementsByCategory[0]).toEqual({ name: 'c49', count: 50 });
    expect(c.replacements).toBe((50 * 51) / 2);
  });
});
