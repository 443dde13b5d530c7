import { createHash, createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessHolder } from '../../src/gateway/access.js';
import { formatHolderFile, parseHolderFile } from '../../src/shared/ai-access-file.js';
import { AuditLog, loadAuditKey, type AuditRequest } from '../../src/gateway/audit.js';
import { FileMappingStore } from '../../src/gateway/mapping-store.js';
import { loadDomainSecrets } from '../../src/gateway/secrets.js';

// The gateway's local state: mapping journal, secrets, audit log, AI access holder.

const KEY = Buffer.alloc(32, 7);
const hmac = (v: string): string => createHmac('sha256', KEY).update(v).digest('hex');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anklume-gw-state-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('FileMappingStore', () => {
  it('survives a restart, is 0600, and writes a pair once', () => {
    const a = FileMappingStore.forDomain(dir, 'pro');
    a.record('10.110.0.10', '198.18.0.10');
    a.record('10.110.0.10', '198.18.0.10');
    a.record('pro-dev', 'malu-dev');
    a.close();
    expect(mode(a.path)).toBe(0o600);
    expect(readFileSync(a.path, 'utf8').trim().split('\n')).toHaveLength(2);
    const b = FileMappingStore.forDomain(dir, 'pro');
    expect(b.originalOf('198.18.0.10')).toBe('10.110.0.10');
    expect(b.pseudonymOf('pro-dev')).toBe('malu-dev');
    expect([...b.entries()]).toEqual([
      ['10.110.0.10', '198.18.0.10'],
      ['pro-dev', 'malu-dev'],
    ]);
    b.close();
  });

  it('skips a line torn by a crash and keeps appending after it', () => {
    const path = join(dir, 'pro.jsonl');
    writeFileSync(path, '{"o":"a","p":"b"}\n{"o":"c","p":', { mode: 0o644 });
    const s = new FileMappingStore(path);
    expect(s.originalOf('b')).toBe('a');
    expect(mode(path)).toBe(0o600);
    appendFileSync(path, '\n');
    s.record('e', 'f');
    s.close();
    expect(new FileMappingStore(path).originalOf('f')).toBe('e');
  });

  it('keeps one domain’s pairs apart from another’s', () => {
    FileMappingStore.forDomain(dir, 'pro').record('x', 'y');
    expect(FileMappingStore.forDomain(dir, 'perso').originalOf('y')).toBeUndefined();
  });
});

describe('domain secrets', () => {
  it('are generated 0600 once and read back the same', () => {
    const first = loadDomainSecrets({ kind: 'dir', dir }, ['pro', 'perso']);
    expect(mode(join(dir, 'pro.key'))).toBe(0o600);
    expect(first.get('pro')).toHaveLength(32);
    expect(Buffer.from(first.get('pro')!).equals(Buffer.from(first.get('perso')!))).toBe(false);
    const again = loadDomainSecrets({ kind: 'dir', dir }, ['pro']);
    expect(Buffer.from(again.get('pro')!).equals(Buffer.from(first.get('pro')!))).toBe(true);
  });

  it('derive one per domain from a master file', () => {
    const file = join(dir, 'master');
    writeFileSync(file, 'x'.repeat(32), { mode: 0o600 });
    const s = loadDomainSecrets({ kind: 'file', file }, ['pro', 'perso']);
    expect(Buffer.from(s.get('pro')!).equals(Buffer.from(s.get('perso')!))).toBe(false);
    expect(Buffer.from(loadDomainSecrets({ kind: 'file', file }, ['pro']).get('pro')!).equals(Buffer.from(s.get('pro')!))).toBe(true);
  });

  it('refuse a secret others can read, or one too short', () => {
    const file = join(dir, 'master');
    writeFileSync(file, 'x'.repeat(32));
    chmodSync(file, 0o644);
    expect(() => loadDomainSecrets({ kind: 'file', file }, ['pro'])).toThrow(/readable by others.*0644/);
    chmodSync(file, 0o600);
    writeFileSync(file, 'short');
    expect(() => loadDomainSecrets({ kind: 'file', file }, ['pro'])).toThrow(/too short/);
  });
});

describe('AuditLog', () => {
  const request = (over: Partial<AuditRequest> = {}): AuditRequest => ({
    requestId: 'req_1',
    domain: 'pro',
    endpoint: 'anthropic.messages',
    model: 'claude',
    route: 'cloud',
    sanitized: true,
    replacements: [
      { category: 'ip', pattern: 'ip.anklume-zone', original: '10.110.0.10', replacement: '198.18.0.10' },
      { category: 'ip', pattern: 'ip.anklume-zone', original: '10.110.0.10', replacement: '198.18.0.10' },
      { category: 'infra', pattern: 'infra.instance', original: 'pro-dev', replacement: 'malu-dev' },
      { category: 'credentials', pattern: 'credentials.password', original: 'hunter2-secret', replacement: '[REDACTED]' },
    ],
    ...over,
  });
  const lines = (p: string): any[] => readFileSync(p, 'utf8').trim().split('\n').map((l): any => JSON.parse(l));
  const now = (): Date => new Date('2026-01-02T03:04:05.000Z');

  it('writes one JSON line per distinct replacement, with its count, 0600', () => {
    const path = join(dir, 'log', 'audit.log');
    const log = new AuditLog({ path, redactedOnly: true, storeOriginals: true, key: KEY, maxBytes: 1 << 20, keep: 2, now });
    log.record(request());
    log.close();
    expect(mode(path)).toBe(0o600);
    expect(lines(path)).toEqual([
      { ts: '2026-01-02T03:04:05.000Z', request_id: 'req_1', domain: 'pro', endpoint: 'anthropic.messages', model: 'claude', route: 'cloud', category: 'ip', pattern: 'ip.anklume-zone', original_hmac: hmac('10.110.0.10'), original: '10.110.0.10', replacement: '198.18.0.10', count: 2 },
      { ts: '2026-01-02T03:04:05.000Z', request_id: 'req_1', domain: 'pro', endpoint: 'anthropic.messages', model: 'claude', route: 'cloud', category: 'infra', pattern: 'infra.instance', original_hmac: hmac('pro-dev'), original: 'pro-dev', replacement: 'malu-dev', count: 1 },
      // A credential: its category and keyed hash, never its value, even with store_originals.
      { ts: '2026-01-02T03:04:05.000Z', request_id: 'req_1', domain: 'pro', endpoint: 'anthropic.messages', model: 'claude', route: 'cloud', category: 'credentials', pattern: 'credentials.password', original_hmac: hmac('hunter2-secret'), replacement: '[REDACTED]', count: 1 },
    ]);
    expect(readFileSync(path, 'utf8')).not.toContain('hunter2');
  });

  it('by default writes no original at all: infrastructure values and credentials alike are keyed hashes', () => {
    const path = join(dir, 'audit.log');
    const log = new AuditLog({ path, redactedOnly: true, storeOriginals: false, key: KEY, maxBytes: 1 << 20, keep: 2, now });
    log.record(request());
    log.close();
    const text = readFileSync(path, 'utf8');
    for (const original of ['10.110.0.10', 'pro-dev', 'hunter2']) expect(text).not.toContain(original);
    expect(lines(path).map((l): unknown => l.original_hmac)).toEqual([hmac('10.110.0.10'), hmac('pro-dev'), hmac('hunter2-secret')]);
    // Unkeyed, a hash of an IP address is reversed by trying the few possible values: none is written.
    expect(text).not.toContain(createHash('sha256').update('10.110.0.10').digest('hex'));
  });

  it('keeps its HMAC key 0600 beside the log, the same across restarts, and refuses one others can read', () => {
    const path = join(dir, 'keyed', 'audit.log');
    const key = loadAuditKey(path);
    expect(mode(join(dir, 'keyed', 'audit.key'))).toBe(0o600);
    expect(loadAuditKey(path).equals(key)).toBe(true);
    chmodSync(join(dir, 'keyed', 'audit.key'), 0o644);
    expect(() => loadAuditKey(path)).toThrow(/readable by others/);
  });

  it('redacted_only: a request without replacement leaves no line; off: one line saying so', () => {
    const path = join(dir, 'audit.log');
    const only = new AuditLog({ path, redactedOnly: true, storeOriginals: true, key: KEY, maxBytes: 1 << 20, keep: 2, now });
    only.record(request({ replacements: [] }));
    only.close();
    expect(readFileSync(path, 'utf8')).toBe('');
    const all = new AuditLog({ path, redactedOnly: false, storeOriginals: true, key: KEY, maxBytes: 1 << 20, keep: 2, now });
    all.record(request({ replacements: [], sanitized: false, route: 'local' }));
    all.close();
    expect(lines(path)).toEqual([{ ts: '2026-01-02T03:04:05.000Z', request_id: 'req_1', domain: 'pro', endpoint: 'anthropic.messages', model: 'claude', route: 'local', sanitized: false, replacements: 0 }]);
  });

  it('writes each line as the JSON of its record, key for key in order, whatever characters the values hold', () => {
    const path = join(dir, 'audit.log');
    const log = new AuditLog({ path, redactedOnly: true, storeOriginals: true, key: KEY, maxBytes: 1 << 20, keep: 2, now });
    const odd = 'a "quoted" \\ back\nslash\u2028 é \u0000 \ud83d\ude00';
    log.record(
      request({
        requestId: `req_${odd}`,
        model: null,
        replacements: [{ category: 'custom', pattern: `custom.${odd}`, original: `x${odd}`, replacement: `y${odd}` }],
        binary: [{ what: 'image', bytes: 1234, path: `messages[0].content[${odd}]` }],
      }),
    );
    log.close();
    const base = { ts: '2026-01-02T03:04:05.000Z', request_id: `req_${odd}`, domain: 'pro', endpoint: 'anthropic.messages', model: null, route: 'cloud' };
    expect(readFileSync(path, 'utf8')).toBe(
      `${JSON.stringify({ ...base, category: 'custom', pattern: `custom.${odd}`, original_hmac: hmac(`x${odd}`), original: `x${odd}`, replacement: `y${odd}`, count: 1 })}\n` +
        `${JSON.stringify({ ...base, binary: 'image', bytes: 1234, field: `messages[0].content[${odd}]` })}\n`,
    );
  });

  it('rotates by size and keeps `keep` old files', () => {
    const path = join(dir, 'audit.log');
    const log = new AuditLog({ path, redactedOnly: true, storeOriginals: true, key: KEY, maxBytes: 1024, keep: 2, now });
    for (let i = 0; i < 20; i++) log.record(request({ requestId: `req_${i}` }));
    log.close();
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(false);
    for (const p of [path, `${path}.1`, `${path}.2`]) expect(statSync(p).size).toBeLessThanOrEqual(1024);
    // The newest request is in the live file.
    expect(lines(path).at(-1).request_id).toBe('req_19');
    expect(mode(path)).toBe(0o600);
  });
});

describe('the AI access holder', () => {
  it('reads the record format (holder or explicit nobody) and the older name and {domain} forms; anything else is no record', () => {
    expect(parseHolderFile(formatHolderFile('pro'))).toEqual({ holder: 'pro' });
    expect(parseHolderFile(formatHolderFile(null))).toEqual({ holder: null });
    expect(parseHolderFile('pro\n')).toEqual({ holder: 'pro' });
    expect(parseHolderFile('{"domain":"perso","since":"x"}')).toEqual({ holder: 'perso' });
    for (const bad of ['', '  \n', '{broken', '{"holder": 3}', '{"holder": "Pro Domain"}', 'two words', '[]']) expect(parseHolderFile(bad), bad).toBeNull();
    expect(() => formatHolderFile('../etc')).toThrow(/not a domain name/);
  });

  it('follows the file as it changes, denies everybody without a valid record (no fallback to a default), and is open with open access', () => {
    const file = join(dir, 'ai-access-current');
    const h = new AccessHolder({ file, policy: 'exclusive' });
    expect(h.current()).toMatchObject({ policy: 'exclusive', holder: null, note: expect.stringContaining('ENOENT') });
    writeFileSync(file, formatHolderFile('perso'));
    expect(h.current()).toEqual({ policy: 'exclusive', holder: 'perso' });
    writeFileSync(file, formatHolderFile('vault-long-name'));
    expect(h.current().holder).toBe('vault-long-name');
    writeFileSync(file, '');
    expect(h.current()).toMatchObject({ holder: null, note: expect.stringContaining('no valid record') });
    writeFileSync(file, formatHolderFile(null));
    expect(h.current()).toEqual({ policy: 'exclusive', holder: null });
    rmSync(file);
    expect(h.current().holder).toBeNull();
    expect(new AccessHolder({ file, policy: 'open' }).current()).toEqual({ policy: 'open', holder: null });
  });
});
