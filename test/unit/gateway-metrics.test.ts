import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../src/gateway/metrics.js';

/** The sample lines of one family in a rendered exposition. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `) || l.startsWith(`${name}_`));
}

describe('GatewayMetrics', () => {
  it('exposes requests, replacements, upstream latency, active streams and sanitize failures in the text format', async () => {
    const m = new GatewayMetrics();
    m.request({ endpoint: 'anthropic.messages', domain: 'pro', route: 'cloud', status: '200' });
    m.request({ endpoint: 'anthropic.messages', domain: 'pro', route: 'cloud', status: '200' });
    m.request({ endpoint: 'openai.chat', domain: 'unknown', route: 'none', status: '403' });
    m.replaced('pro', 'infra', 3);
    m.replaced('pro', 'secret', 1);
    m.replaced('pro', 'infra', 2);
    m.upstreamLatency({ upstream: 'anthropic' }, 0.2);
    m.upstreamLatency({ upstream: 'anthropic' }, 45);
    m.sanitizeFailed('perso');
    m.streamStarted();
    m.streamStarted();
    m.streamEnded();

    const text = await m.render();
    expect(text).toContain('# HELP anklume_gateway_requests_total Requests answered, by endpoint, domain, route and HTTP status\n# TYPE anklume_gateway_requests_total counter\n');
    expect(samples(text, 'anklume_gateway_requests_total')).toEqual([
      'anklume_gateway_requests_total{endpoint="anthropic.messages",domain="pro",route="cloud",status="200"} 2',
      'anklume_gateway_requests_total{endpoint="openai.chat",domain="unknown",route="none",status="403"} 1',
    ]);
    expect(samples(text, 'anklume_gateway_replacements_total')).toEqual(['anklume_gateway_replacements_total{domain="pro",category="infra"} 5', 'anklume_gateway_replacements_total{domain="pro",category="secret"} 1']);
    const latency = samples(text, 'anklume_gateway_upstream_latency_seconds');
    expect(latency.filter((l) => l.includes('_bucket'))).toHaveLength(16);
    expect(latency).toContain('anklume_gateway_upstream_latency_seconds_bucket{le="0.1",upstream="anthropic"} 0');
    expect(latency).toContain('anklume_gateway_upstream_latency_seconds_bucket{le="0.25",upstream="anthropic"} 1');
    expect(latency).toContain('anklume_gateway_upstream_latency_seconds_bucket{le="30",upstream="anthropic"} 1');
    expect(latency).toContain('anklume_gateway_upstream_latency_seconds_bucket{le="60",upstream="anthropic"} 2');
    expect(latency).toContain('anklume_gateway_upstream_latency_seconds_bucket{le="+Inf",upstream="anthropic"} 2');
    expect(latency).toContain('anklume_gateway_upstream_latency_seconds_sum{upstream="anthropic"} 45.2');
    expect(latency).toContain('anklume_gateway_upstream_latency_seconds_count{upstream="anthropic"} 2');
    expect(samples(text, 'anklume_gateway_active_streams')).toEqual(['anklume_gateway_active_streams 1']);
    expect(m.activeStreams).toBe(1);
    expect(samples(text, 'anklume_gateway_sanitize_failures_total')).toEqual(['anklume_gateway_sanitize_failures_total{domain="perso"} 1']);
    expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('shows active streams at zero before any, and keeps each instance in its own registry', async () => {
    const a = new GatewayMetrics();
    const b = new GatewayMetrics();
    a.streamStarted();
    expect(samples(await a.render(), 'anklume_gateway_active_streams')).toEqual(['anklume_gateway_active_streams 1']);
    expect(samples(await b.render(), 'anklume_gateway_active_streams')).toEqual(['anklume_gateway_active_streams 0']);
    expect(await globalRegistry.metrics()).not.toContain('anklume_gateway');
  });
});
