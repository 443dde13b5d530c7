import { describe, expect, it } from 'vitest';
import { buildSourceTable, decideRoute, domainOfAddress, isTruthyHeader, type AccessState, type RouteDomain, type RouteRequest } from '../../src/gateway/route.js';

// The routing table of spec/000 §4, as a pure function.

const domain = (name: string, over: Partial<RouteDomain> = {}): RouteDomain => ({ name, enabled: true, trustLevel: 'trusted', aiProvider: 'local', aiSanitize: false, ...over });
const open = (): AccessState => ({ policy: 'open', holder: null });
const req = (over: Partial<RouteRequest> = {}): RouteRequest => ({ api: 'anthropic', escalate: false, ...over });

describe('decideRoute', () => {
  it.each<[string, RouteDomain, RouteRequest, { target: string; sanitize: boolean }]>([
    ['local: local, raw', domain('a'), req(), { target: 'local', sanitize: false }],
    ['local + always: local, sanitized', domain('a', { aiSanitize: 'always' }), req(), { target: 'local', sanitize: true }],
    ['local ignores an escalation', domain('a'), req({ escalate: true, task: 'forensics' }), { target: 'local', sanitize: false }],
    ['cloud + true: cloud, sanitized', domain('a', { aiProvider: 'cloud', aiSanitize: true }), req(), { target: 'cloud', sanitize: true }],
    ['cloud + always: cloud, sanitized', domain('a', { aiProvider: 'cloud', aiSanitize: 'always' }), req(), { target: 'cloud', sanitize: true }],
    ['cloud + false: cloud, raw', domain('a', { aiProvider: 'cloud', aiSanitize: false }), req(), { target: 'cloud', sanitize: false }],
    ['local-first: local, raw with ai_sanitize true', domain('a', { aiProvider: 'local-first', aiSanitize: true }), req(), { target: 'local', sanitize: false }],
    ['local-first + always: local, sanitized', domain('a', { aiProvider: 'local-first', aiSanitize: 'always' }), req(), { target: 'local', sanitize: true }],
    ['local-first, local task: local', domain('a', { aiProvider: 'local-first', aiSanitize: true }), req({ task: 'inventory' }), { target: 'local', sanitize: false }],
    ['local-first, unknown task: local (the safe side)', domain('a', { aiProvider: 'local-first', aiSanitize: true }), req({ task: 'forensic' }), { target: 'local', sanitize: false }],
    ['local-first, cloud task: cloud, sanitized', domain('a', { aiProvider: 'local-first', aiSanitize: true }), req({ task: 'architecture' }), { target: 'cloud', sanitize: true }],
    ['local-first, escalation: cloud, sanitized', domain('a', { aiProvider: 'local-first', aiSanitize: true }), req({ escalate: true }), { target: 'cloud', sanitize: true }],
  ])('%s', (_name, d, r, expected) => {
    expect(decideRoute(d, r, open)).toMatchObject({ ok: true, ...expected });
  });

  it('a disposable domain never reaches the cloud, whatever else says so', () => {
    const d = domain('sandbox', { trustLevel: 'disposable', aiProvider: 'local-first', aiSanitize: true });
    expect(decideRoute(d, req({ escalate: true }), open)).toMatchObject({ ok: false, status: 403, code: 'disposable_no_cloud' });
    expect(decideRoute({ ...d, aiProvider: 'cloud' }, req(), open)).toMatchObject({ ok: false, status: 403 });
    expect(decideRoute(d, req(), open)).toMatchObject({ ok: true, target: 'local' });
  });

  it('exclusive access: only the holder reaches the local AI; the cloud route is not affected', () => {
    const d = domain('pro', { aiProvider: 'local-first', aiSanitize: true });
    expect(decideRoute(d, req(), () => ({ policy: 'exclusive', holder: 'pro' }))).toMatchObject({ ok: true, target: 'local' });
    const refused = decideRoute(d, req(), () => ({ policy: 'exclusive', holder: 'perso' }));
    expect(refused).toMatchObject({ ok: false, status: 403, code: 'ai_access_not_held' });
    expect(!refused.ok && refused.message).toContain('anklumectl switch-ai pro');
    expect(decideRoute(d, req(), () => ({ policy: 'exclusive', holder: null }))).toMatchObject({ ok: false, message: expect.stringContaining('no domain holds it') });
    expect(decideRoute(d, req({ task: 'report' }), () => ({ policy: 'exclusive', holder: 'perso' }))).toMatchObject({ ok: true, target: 'cloud' });
  });

  it('the Ollama API cannot be routed to the cloud: 400', () => {
    expect(decideRoute(domain('c', { aiProvider: 'cloud', aiSanitize: true }), req({ api: 'ollama' }), open)).toMatchObject({ ok: false, status: 400, code: 'ollama_api_not_for_cloud' });
    expect(decideRoute(domain('c'), req({ api: 'ollama' }), open)).toMatchObject({ ok: true, target: 'local' });
  });

  it('a disabled domain is refused', () => {
    expect(decideRoute(domain('x', { enabled: false }), req(), open)).toMatchObject({ ok: false, status: 403, code: 'domain_disabled' });
  });
});

describe('domainOfAddress', () => {
  const table = buildSourceTable(
    [
      { name: 'pro', network: { subnet: '10.110.0.0/24', gateway: '10.110.0.254' } },
      { name: 'perso', network: { subnet: '10.110.1.0/24', gateway: '10.110.1.254' } },
    ],
    [
      { cidr: '10.110.1.254/32', domain: 'pro' },
      { cidr: '10.110.0.0/16', domain: 'perso' },
      { cidr: '127.0.0.1/32', domain: 'pro' },
    ],
  );

  it.each([
    ['10.110.0.7', 'pro'],
    ['10.110.1.250', 'perso'],
    // Domain subnets first, then sources in file order.
    ['10.110.9.1', 'perso'],
    ['127.0.0.1', 'pro'],
    ['::ffff:10.110.0.7', 'pro'],
    ['127.0.0.2', null],
    // The host's address on a bridge is not the domain's: only sources place it (first match in file order).
    ['10.110.1.254', 'pro'],
    ['10.110.0.254', 'perso'],
    ['::1', null],
    ['fe80::1', null],
    [undefined, null],
  ])('%s → %s', (address, expected) => {
    expect(domainOfAddress(table, address)).toBe(expected);
  });
});

it('x-anklume-escalate accepts true, 1 and yes only', () => {
  expect(['true', 'TRUE', ' 1 ', 'yes'].map(isTruthyHeader)).toEqual([true, true, true, true]);
  expect(['false', '0', 'no', '', 'please'].map(isTruthyHeader)).toEqual([false, false, false, false, false]);
  expect(isTruthyHeader(undefined)).toBe(false);
});

it('the host’s bridge address belongs to no domain unless sources says so', () => {
  const table = buildSourceTable([{ name: 'anklume', network: { subnet: '10.100.0.0/24', gateway: '10.100.0.254' } }], []);
  expect(domainOfAddress(table, '10.100.0.254')).toBeNull();
  expect(domainOfAddress(table, '10.100.0.20')).toBe('anklume');
});
