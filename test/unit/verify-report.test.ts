import { describe, expect, it } from 'vitest';
import { renderVerify, summaryLine, verifyStatusLine } from '../../src/cli/render-verify.js';
import type { CliIo } from '../../src/cli/io.js';
import type { DomainStatus } from '../../src/controllers/status.js';
import { parseDuration } from '../../src/shared/duration.js';
import type { VerifyProbe } from '../../src/shared/verify-report.js';
import { classifyHostConnect, classifyPing, classifyTcp, listeningPorts, missingTools } from '../../src/verify/classify.js';
import { isolationMismatches, withIsolationMismatch } from '../../src/verify/conditions.js';
import { parseVerifyLimits, VERIFY_DEFAULTS } from '../../src/verify/limits.js';
import { buildReport, cellVerdict, fullyVerified } from '../../src/verify/report.js';

const io: CliIo = { stdout: () => undefined, stderr: () => undefined, color: false, env: {} };

describe('classifying what a probe saw', () => {
  it.each([
    [{ code: 0, stderr: 'Connection to 10.1.2.10 80 port [tcp/http] succeeded!\n' }, true, 'pass'],
    [{ code: 1, stderr: 'nc: connect to 10.1.2.10 port 80 (tcp) failed: Connection refused\n' }, false, 'pass'],
    [{ code: 1, stderr: 'nc: connect to 10.1.2.10 port 80 (tcp) failed: Connection refused\n' }, true, 'block'],
    [{ code: 1, stderr: 'nc: connect to 10.1.2.10 port 80 (tcp) timed out: Operation now in progress\n' }, true, 'block'],
    [{ code: 1, stderr: 'nc: connect to 10.1.2.10 port 80 (tcp) failed: Connection timed out\n' }, false, 'block'],
    [{ code: 1, stderr: 'nc: connect to 10.1.2.10 port 80 (tcp) failed: No route to host\n' }, false, 'block'],
    [{ code: 1, stderr: 'nc: connect to 10.1.2.10 port 80 (tcp) failed: Network is unreachable\n' }, false, 'error'],
    [{ code: 127, stderr: '' }, false, 'error'],
  ] as const)('nc %j with a listener %s: %s', (result, listening, observed) => {
    expect(classifyTcp(result, { listening }).observed).toBe(observed);
  });

  it('says why a reset is a block when a listener was up, and a pass when none was', () => {
    const refused = { code: 1, stderr: 'nc: connect to 10.1.2.10 port 80 (tcp) failed: Connection refused' };
    expect(classifyTcp(refused, { listening: true }).detail).toMatch(/^reset although a listener was up: rejected on the way/);
    expect(classifyTcp(refused, { listening: false }).detail).toBe('reset by the target: nothing listens, but the SYN got through');
  });

  it('reads ping: a reply passes, silence or an ICMP error blocks, anything else is an error of the probe', () => {
    expect(classifyPing({ code: 0, stdout: '1 received', stderr: '' }).observed).toBe('pass');
    expect(classifyPing({ code: 1, stdout: '1 packets transmitted, 0 received', stderr: '' })).toEqual({ observed: 'block', detail: 'no reply' });
    expect(classifyPing({ code: 1, stdout: 'From 10.1.2.254 icmp_seq=1 Destination Host Prohibited\n', stderr: '' })).toEqual({ observed: 'block', detail: 'Destination Host Prohibited' });
    expect(classifyPing({ code: 2, stdout: '', stderr: 'ping: connect: Network is unreachable\n' })).toEqual({ observed: 'error', detail: 'ping: connect: Network is unreachable' });
  });

  it('reads the host\'s own connects by error code', () => {
    expect(classifyHostConnect(null, { listening: true }).observed).toBe('pass');
    expect(classifyHostConnect('ETIMEDOUT', { listening: true }).observed).toBe('block');
    expect(classifyHostConnect('ECONNREFUSED', { listening: false }).observed).toBe('pass');
    expect(classifyHostConnect('ENETUNREACH', { listening: false }).observed).toBe('error');
  });

  it('finds listening ports in /proc/net/tcp and tcp6, and the tools an instance lacks', () => {
    const proc = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 3600007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   991        0 4054617 1',
      '   1: 00000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4057322 1',
      '   2: 0A01020A:A5E2 0A01020B:0050 01 00000000:00000000 00:00000000 00000000     0        0 0 1',
      '   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
    ].join('\n');
    expect([...listeningPorts(proc)].sort((a, b) => a - b)).toEqual([22, 53, 4444]);
    expect(missingTools('nc\nping\n')).toEqual(['timeout']);
    expect(missingTools('nc\nping\ntimeout\n')).toEqual([]);
  });
});

const probe = (from: string, to: string, expected: 'pass' | 'block', observed: VerifyProbe['observed'], port = 4999): VerifyProbe => ({ from, to, address: '10.0.0.1', protocol: 'tcp', port, why: 'test', expected, observed });

describe('the matrix', () => {
  it('calls a cell expected only when every probe ran and matched; one that differs makes it unexpected; one not sent leaves it not verifiable', () => {
    expect(cellVerdict([probe('a/a1', 'b/b1', 'block', 'block'), probe('a/a1', 'b/b1', 'pass', 'pass', 80)])).toBe('expected');
    expect(cellVerdict([probe('a/a1', 'b/b1', 'block', 'pass'), probe('a/a1', 'b/b1', 'pass', 'error', 80)])).toBe('unexpected');
    expect(cellVerdict([probe('a/a1', 'b/b1', 'block', 'block'), probe('a/a1', 'b/b1', 'pass', 'error', 80)])).toBe('not-verifiable');
    expect(cellVerdict([])).toBe('not-verifiable');
  });

  const report = buildReport({
    startedAt: '2026-12-05T04:00:00.000Z',
    durationMs: 4321.4,
    participants: ['a', 'b', 'host'],
    probes: [probe('a/a1', 'b/b1', 'pass', 'pass', 80), probe('a/a1', 'b/b1', 'block', 'block'), probe('b/b1', 'a/a1', 'block', 'pass'), probe('a/a1', 'host', 'block', 'block'), probe('b/b1', 'host', 'block', 'block'), probe('host', 'a/a1', 'pass', 'pass'), probe('host', 'b/b1', 'pass', 'pass')],
    notVerifiable: [],
    probeCount: 7,
  });

  it('has a cell per ordered pair of different participants, rows in order', () => {
    expect(report.cells.map((c) => `${c.from}>${c.to}:${c.verdict}`)).toEqual(['a>b:expected', 'a>host:expected', 'b>a:unexpected', 'b>host:expected', 'host>a:expected', 'host>b:expected']);
    expect(report.ok).toBe(false);
    expect(report.durationMs).toBe(4321);
    expect(fullyVerified(report)).toBe(false);
  });

  it('renders rows as senders and columns as receivers, what passed in each matching cell, and every probe that differs', () => {
    expect(renderVerify(report, io)).toBe(
      [
        'Isolation measured with real packets (rows: from, columns: to; "ok" lists what passed):',
        '',
        'from \\ to  a            b            host',
        'a          -            ok tcp/80    ok closed',
        'b          UNEXPECTED   -            ok closed',
        'host       ok tcp/4999  ok tcp/4999  -',
        '',
        'Unexpected:',
        '  b/b1 → a/a1 tcp/4999 passed, expected blocked',
        '',
        'Verify: 6 cells: 5 expected, 1 unexpected, 0 not verifiable; 7 probes in 4.3s.',
        '',
      ].join('\n'),
    );
  });

  it('sums up the last run for `anklumectl status` in one line', () => {
    expect(verifyStatusLine(report, io)).toBe('1 cell UNEXPECTED: b → a: tcp/4999 passed (expected blocked) (at 2026-12-05T04:00:00.000Z)');
    expect(verifyStatusLine(null, io)).toBe('not run yet');
    expect(summaryLine({ ...report, cells: report.cells.filter((c) => c.verdict === 'expected'), ok: true }, io)).toBe('Verify: 5 cells: 5 expected, 0 unexpected, 0 not verifiable; 7 probes in 4.3s.');
  });

  it('marks both domains of a differing cell Degraded with IsolationMismatch, keeps when it began, and clears it once matched', () => {
    const first = isolationMismatches(report, 'T1', new Map());
    expect([...first.keys()]).toEqual(['b', 'a']);
    expect(first.get('a')).toEqual({ message: 'isolation differs from infra.yml (verify at 2026-12-05T04:00:00.000Z): b → a: tcp/4999 passed (expected blocked)', since: 'T1' });
    expect(isolationMismatches(report, 'T2', first).get('a')!.since).toBe('T1');
    expect(isolationMismatches({ ...report, cells: [] }, 'T3', first).size).toBe(0);

    const ready: DomainStatus = {
      name: 'a', enabled: true, trustLevel: 'trusted', subnet: '10.0.0.0/24', bridge: 'net-a', aiProvider: 'local', aiSanitize: false, observedSpecHash: '', lastReconcile: null, retries: 0, objects: [], notes: [],
      conditions: (['Ready', 'Progressing', 'Degraded'] as const).map((type) => ({ type, status: type === 'Ready', reason: 'Converged', message: 'ok', lastTransitionTime: 'T0' })),
    };
    const marked = withIsolationMismatch(ready, first.get('a'));
    expect(marked.conditions.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime])).toEqual([['Ready', false, 'IsolationMismatch', 'T1'], ['Progressing', false, 'Converged', 'T0'], ['Degraded', true, 'IsolationMismatch', 'T1']]);
    expect(withIsolationMismatch(ready, undefined)).toBe(ready);
  });
});

describe('bounds', () => {
  it('has defaults that bound every dimension', () => {
    expect(parseVerifyLimits({})).toEqual(VERIFY_DEFAULTS);
    expect(parseVerifyLimits({ parallel: '4', probeTimeout: '1s', timeout: '5m', maxProbes: '50', controlPort: '9' })).toEqual({ parallel: 4, probeTimeoutSeconds: 1, timeoutMs: 300_000, maxProbes: 50, controlPort: 9 });
  });

  it.each([
    [{ parallel: '0' }, '--parallel must be a whole number from 1 to 64 (got "0")'],
    [{ parallel: '2.5' }, '--parallel must be a whole number'],
    [{ probeTimeout: '31' }, '--probe-timeout must be a whole number from 1 to 30'],
    [{ timeout: '2s' }, '--timeout must be a duration from 5s to 1h'],
    [{ timeout: 'later' }, '--timeout must be a duration'],
    [{ timeout: '10s', probeTimeout: '10' }, '--probe-timeout (10s) must be shorter than --timeout (10s)'],
    [{ maxProbes: '-1' }, '--max-probes must be a whole number'],
    [{ controlPort: '65536' }, '--control-port must be a whole number from 1 to 65535'],
  ])('refuses %j, naming the flag', (flags, message) => {
    expect(() => parseVerifyLimits(flags)).toThrow(message);
  });

  it('reads durations in seconds, minutes and hours', () => {
    expect([parseDuration('90'), parseDuration('90s'), parseDuration('1.5m'), parseDuration('1h'), parseDuration('250ms'), parseDuration('5 minutes')]).toEqual([90_000, 90_000, 90_000, 3_600_000, 250, null]);
  });
});
