import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncusClient } from '../../src/incus/index.js';
import type { VerifyReport } from '../../src/shared/verify-report.js';
import { runBin } from '../helpers/cli.js';
import { fetchStatus, startDaemon, stopDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, removeTestInfra, shortPrefix, testClient, waitFor, waitForAddress } from '../helpers/incus.js';

// `anklumectl verify` on the real Incus: three domains, one policy between two
// of them, one to a service of the host; real probes, then a hole made by hand.
const p = shortPrefix();
const octet = freeSecondOctet();
const [A, B, C] = [`${p}-a`, `${p}-b`, `${p}-c`];
const infraName = `${p}-verify`;
const machines = [
  { domain: A, name: `${A}1`, ip: `10.${octet}.1.10` },
  { domain: B, name: `${B}1`, ip: `10.${octet}.2.10` },
  { domain: C, name: `${C}1`, ip: `10.${octet}.3.10` },
];
const infra = (hostPort: number): string => `project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
${machines.map((m, i) => `  ${m.domain}:\n    subnet_id: ${i + 1}\n    ephemeral: true\n    machines:\n      ${m.name}: { ip: ${m.ip} }`).join('\n')}
network_policies:
  - description: a reaches b on 80
    from: ${A}
    to: ${B}
    ports: [80]
  - description: c reaches a service of the host
    from: ${C}
    to: host
    ports: [${hostPort}]
`;

const dir = mkdtempSync(join(tmpdir(), 'anklume-e2e-verify-'));
const infraFile = join(dir, 'infra.yml');
const env = { INCUS_SOCKET, ANKLUME_STATE_DIR: join(dir, 'state'), ANKLUME_LOCK: join(dir, 'lock'), ANKLUME_SOCKET: join(dir, 'none.sock') };
let client: IncusClient;
let hostServer: Server;

const nft = (...args: string[]): string => execFileSync('nft', args, { encoding: 'utf8' });
const verify = async (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; report?: VerifyReport }> => {
  const r = await runBin('anklumectl', ['verify', '-f', infraFile, ...args], { env });
  return args.includes('--json') && r.stdout.trim().startsWith('{') ? { ...r, report: JSON.parse(r.stdout) as VerifyReport } : r;
};
const cell = (r: VerifyReport, from: string, to: string) => r.cells.find((c) => c.from === from && c.to === to);

/** Open B → C by hand, in anklume's own chain before its drops (an accept in another table would not get past them). */
function openByHand(): string {
  const echoed = nft('-e', '-a', 'insert', 'rule', 'inet', 'anklume', 'forward', 'iifname', `net-${B}`, 'oifname', `net-${C}`, 'accept');
  const handle = /# handle (\d+)/.exec(echoed)?.[1];
  if (handle === undefined) throw new Error(`no handle in: ${echoed}`);
  return handle;
}
const closeByHand = (handle: string): void => void nft('delete', 'rule', 'inet', 'anklume', 'forward', 'handle', handle);

/** Listeners verify left in an instance (there must be none after a run). */
async function leftoverListeners(): Promise<string[]> {
  const out = await Promise.all(machines.map((m) => incusExec(m.domain, m.name, ['sh', '-c', 'ps -eo args | grep "[n]c -lk" || true'])));
  return out.flatMap((r) => r.stdout.split('\n').filter((l) => l.trim() !== ''));
}

beforeAll(async () => {
  client = testClient();
  hostServer = createServer((s) => s.end());
  await new Promise<void>((resolve) => hostServer.listen(0, '0.0.0.0', resolve));
  writeFileSync(infraFile, infra((hostServer.address() as { port: number }).port));
  const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
  if (apply.code !== 0) throw new Error(`apply failed:\n${apply.stdout}\n${apply.stderr}`);
  await Promise.all(machines.map((m) => waitForAddress(m.domain, m.name, m.ip)));
});

afterAll(async () => {
  await new Promise<void>((resolve) => hostServer.close(() => resolve()));
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
  }
});

describe('anklumectl verify', () => {
  it('finds every cell as declared on the converged infra, with a line of progress per step', async () => {
    const text = await verify();
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/\[ +\d+\.\ds\] sending \d+ probes/);
    expect(text.stdout).toMatch(/Verify: 12 cells: 12 expected, 0 unexpected, 0 not verifiable/);

    const { code, report, stdout } = await verify('--json');
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/\[ +\d/); // no progress lines in JSON
    expect(report!.domains).toEqual([A, B, C, 'host']);
    expect(report!.cells.map((c) => c.verdict)).toEqual(Array(12).fill('expected'));
    // The policy's port passes, to a real listener; the control port and ICMP are dropped.
    const ab = cell(report!, A, B)!.probes;
    expect(ab.map((x) => [x.protocol, x.port, x.observed])).toEqual([['tcp', 80, 'pass'], ['tcp', 4999, 'block'], ['icmp', undefined, 'block']]);
    expect(ab[0]!.detail).toBe('connected to the listener');
    expect(cell(report!, B, A)!.probes.every((x) => x.observed === 'block')).toBe(true);
    // C reaches the host's service, A does not; DNS to the own gateway passes; the host reaches every instance.
    const port = (hostServer.address() as { port: number }).port;
    expect(cell(report!, C, 'host')!.probes.find((x) => x.port === port)?.observed).toBe('pass');
    expect(cell(report!, A, 'host')!.probes.find((x) => x.port === 53)?.observed).toBe('pass');
    expect(cell(report!, A, 'host')!.probes.some((x) => x.port === port)).toBe(false);
    expect(cell(report!, 'host', A)!.probes.every((x) => x.observed === 'pass')).toBe(true);
    expect(await leftoverListeners()).toEqual([]);
    console.log(`verify on 3 domains + host: ${report!.probeCount} probes in ${report!.durationMs} ms`);
  });

  it('exits 1 and names the cell when a rule added by hand opens a blocked pair, and passes again once it is removed', async () => {
    const handle = openByHand();
    try {
      const opened = await verify();
      expect(opened.code).toBe(1);
      expect(opened.stdout).toContain(`${B}/${B}1 → ${C}/${C}1 tcp/4999 passed, expected blocked`);
      const json = await verify('--json');
      expect(json.code).toBe(1);
      expect(json.report!.ok).toBe(false);
      expect(json.report!.cells.filter((c) => c.verdict === 'unexpected').map((c) => `${c.from} → ${c.to}`)).toEqual([`${B} → ${C}`]);
    } finally {
      closeByHand(handle);
    }
    const closed = await verify('--json');
    expect(closed.code).toBe(0);
    expect(closed.report!.cells.every((c) => c.verdict === 'expected')).toBe(true);
  });

  it('reports an instance without nc as not verifiable, never as passing', async () => {
    const c1 = machines[2]!;
    const moved = await incusExec(c1.domain, c1.name, ['sh', '-c', 'mv "$(command -v nc)" /root/nc.away']);
    expect(moved.code).toBe(0);
    try {
      const { code, report } = await verify('--json');
      expect(code).toBe(1);
      expect(report!.ok).toBe(true); // nothing differs ...
      expect(report!.notVerifiable).toEqual([{ instance: `${C}/${C}1`, reason: 'nc not found (command -v)' }]);
      // ... but nothing to or from C counts as verified.
      const withC = report!.cells.filter((c) => c.from === C || c.to === C);
      expect(withC).toHaveLength(6);
      expect(withC.every((c) => c.verdict === 'not-verifiable' && c.probes.length === 0)).toBe(true);
      const text = await verify();
      expect(text.stdout).toContain(`${C}/${C}1: nc not found (command -v)`);
      expect(text.stdout).toMatch(/6 not verifiable/);
    } finally {
      await incusExec(c1.domain, c1.name, ['sh', '-c', 'mv /root/nc.away /usr/bin/nc']);
    }
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const before = nft('list', 'table', 'inet', 'anklume');
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, `project_name: ${infraName}\ndomains:\n  ${A}:\n    trust_levle: trusted\n`);
    const invalid = await runBin('anklumectl', ['verify', '-f', bad], { env });
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/bad\.yml:4:5/);
    expect(invalid.stderr).toMatch(/nothing was changed/);

    for (const [flag, value, message] of [
      ['--parallel', '0', '--parallel must be a whole number from 1 to 64 (got "0")'],
      ['--timeout', 'soon', '--timeout must be a duration from 5s to 1h'],
      ['--probe-timeout', '90', '--probe-timeout must be a whole number from 1 to 30'],
      ['--control-port', '70000', '--control-port must be a whole number from 1 to 65535'],
    ] as const) {
      const r = await verify(flag, value);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe('');
    }
    const tooMany = await verify('--max-probes', '3');
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toMatch(/verify would send \d+ probes, more than --max-probes 3; nothing was sent/);
    expect(tooMany.stdout).not.toContain('sending');
    expect(await leftoverListeners()).toEqual([]);
    expect(nft('list', 'table', 'inet', 'anklume')).toBe(before);
  });
});

describe('anklumed --verify-every', () => {
  let daemon: RunningDaemon | undefined;

  it('marks the domains of a cell opened by hand Degraded (IsolationMismatch), and clears it once the hole is closed', async () => {
    const socket = join(dir, 'anklumed.sock');
    // No repair of the hand-made rule during the test: the firewall check and the resync are pushed far away, and
    // the daemon's nft hears nothing on its monitor (a hole anklume's table does not show, which verify is for).
    const deafNft = join(dir, 'nft-deaf-monitor');
    writeFileSync(deafNft, '#!/bin/sh\ncase "$1 $2" in "-j monitor") exec sleep 3600 ;; esac\nexec nft "$@"\n', { mode: 0o755 });
    daemon = startDaemon(['--config', infraFile, '--lock', join(dir, 'daemon.lock'), '--verify-every', '2s', '--firewall-check', '3600', '--resync', '0 0 1 1 *', '--nft', deafNft], socket, { INCUS_SOCKET, ANKLUME_STATE_DIR: join(dir, 'state') });
    let handle: string | undefined;
    try {
      const degraded = (s: Awaited<ReturnType<typeof fetchStatus>>, domain: string) => s?.domains.find((d) => d.name === domain)?.conditions.find((c) => c.type === 'Degraded');
      const first = await waitFor('a first verify, as declared', async () => {
        const s = await fetchStatus(socket);
        return s?.verify?.ok === true && s.verify.cells.every((c) => c.verdict === 'expected') ? s : undefined;
      }, { timeoutMs: 120_000 });
      expect(first.domains.map((d) => degraded(first, d.name)?.status)).toEqual([false, false, false]);
      const startedAt = first.verify!.startedAt;

      handle = openByHand();
      const marked = await waitFor('B and C Degraded by verify', async () => {
        const s = await fetchStatus(socket);
        return degraded(s, B)?.reason === 'IsolationMismatch' && degraded(s, C)?.status === true ? s : undefined;
      }, { timeoutMs: 120_000 });
      expect(degraded(marked, B)!.message).toContain(`${B} → ${C}: tcp/4999 passed (expected blocked)`);
      expect(degraded(marked, A)!.status).toBe(false);
      expect(marked.verify!.startedAt).not.toBe(startedAt);
      const status = await runBin('anklumectl', ['status', '--socket', socket], { env });
      expect(status.code).toBe(1);
      expect(status.stdout).toMatch(new RegExp(`verify +1 cell UNEXPECTED: ${B} → ${C}: tcp/4999 passed \\(expected blocked\\)`));

      closeByHand(handle);
      handle = undefined;
      const cleared = await waitFor('the mismatch to clear', async () => {
        const s = await fetchStatus(socket);
        return s?.verify?.ok === true && degraded(s, B)?.status === false && degraded(s, C)?.status === false ? s : undefined;
      }, { timeoutMs: 120_000 });
      expect(cleared.domains.every((d) => d.conditions.find((c) => c.type === 'Ready')?.status === true)).toBe(true);
      const after = await runBin('anklumectl', ['status', '--socket', socket], { env });
      expect(after.stdout).toMatch(/verify +12\/12 cells as declared, \d+ probes in/);
    } finally {
      if (handle !== undefined) closeByHand(handle);
      await stopDaemon(daemon);
    }
    expect(await leftoverListeners()).toEqual([]);
  });
});
