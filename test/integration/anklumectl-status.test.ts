import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DaemonClient, DaemonFailureError, DaemonNotRunningError } from '../../src/cli/daemon-client.js';
import { type Condition, type DomainStatus, type StatusDocument } from '../../src/controllers/status.js';
import { ROOT, runBin, type CliRun } from '../helpers/cli.js';

// A real HTTP server on a temporary unix socket plays anklumed's control API.
const dir = mkdtempSync(join(tmpdir(), 'anklume-ctl-'));
const socket = join(dir, 'anklumed.sock');
const missing = join(dir, 'nobody-here.sock');
const T = '2026-01-02T03:04:05.000Z';

function conds(verdict: 'Ready' | 'Progressing' | 'Degraded', reason: string, message = ''): Condition[] {
  return (['Ready', 'Progressing', 'Degraded'] as const).map((type) => ({ type, status: type === verdict, reason, message, lastTransitionTime: T }));
}

function domainDoc(name: string, instance: { name: string; ip: string; state: string; verdict: 'Ready' | 'Degraded'; reason: string; message?: string }): DomainStatus {
  return {
    name,
    enabled: true,
    trustLevel: 'trusted',
    subnet: '10.110.0.0/24',
    bridge: `net-${name}`,
    aiProvider: 'local',
    aiSanitize: false,
    conditions: instance.verdict === 'Ready' ? conds('Ready', 'Converged') : conds('Degraded', 'ObjectsDegraded', `instance ${instance.name}: ${instance.message ?? ''}`),
    observedSpecHash: '0123456789abcdef',
    lastReconcile: { time: T, durationMs: 80, result: instance.verdict === 'Ready' ? 'success' : 'error' },
    retries: 0,
    objects: [{ id: `instance/${name}/${instance.name}`, kind: 'instance', name: instance.name, ip: instance.ip, state: instance.state, conditions: conds(instance.verdict, instance.reason, instance.message) }],
    notes: [],
  };
}

function statusDoc(domains: DomainStatus[]): StatusDocument {
  return {
    generatedAt: T,
    daemon: { running: true, pid: 777, startedAt: '2026-01-02T03:00:00.000Z' },
    config: { file: '/etc/anklume/infra.yml', valid: true, errors: [], specHash: 'abcdef0123456789', loadedAt: T },
    incus: { endpoint: '/var/lib/incus/unix.socket', reachable: true },
    events: { connected: true, reconnects: 0, lastEventAt: null },
    queue: { depth: 0, inFlight: 0 },
    firewall: { managed: true, state: 'InSync', message: 'table inet anklume matches infra.yml (20 rules)', rules: 20, checkedAt: T, appliedAt: T },
    aiAccess: { policy: 'open', holder: null, source: 'open access: every domain may reach ai-tools' },
    domains,
  };
}

const READY = statusDoc([domainDoc('pro', { name: 'pro-dev', ip: '10.110.0.10', state: 'Running', verdict: 'Ready', reason: 'UpToDate' })]);
const DEGRADED = statusDoc([
  domainDoc('pro', { name: 'pro-dev', ip: '10.110.0.10', state: 'Running', verdict: 'Ready', reason: 'UpToDate' }),
  domainDoc('lab', { name: 'lab-a', ip: '10.140.0.1', state: 'Stopped', verdict: 'Degraded', reason: 'Failed', message: 'start failed: no such image' }),
]);

/** What the fake daemon answers, and what it was asked. */
let served: { status: number; body: unknown } = { status: 200, body: READY };
let requests: { method: string; url: string; body: string }[] = [];
let server: Server;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      const send = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      // Status 0: a daemon that hangs (never answers).
      if (req.method === 'GET' && req.url === '/v1/status') return served.status === 0 ? undefined : send(served.status, served.body);
      if (req.method === 'POST' && req.url === '/v1/reconcile') {
        let parsed: { domains?: string[] };
        try {
          parsed = JSON.parse(body) as { domains?: string[] };
        } catch {
          return send(400, { error: 'request body is not valid JSON' });
        }
        const unknown = (parsed.domains ?? []).find((d) => !['pro', 'lab'].includes(d));
        if (unknown !== undefined) return send(400, { error: `unknown domain "${unknown}"` });
        return send(202, { queued: parsed.domains ?? ['pro', 'lab'] });
      }
      return send(404, { error: `no route ${req.method ?? ''} ${req.url ?? ''}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  served = { status: 200, body: READY };
  requests = [];
});

const ctl = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runBin('anklumectl', args, { env });

describe('anklumectl status with a daemon', () => {
  it('renders the daemon\'s document and exits 0 when every domain is Ready', async () => {
    const run = await ctl(['status', '--socket', socket]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('daemon     running (pid 777, since 2026-01-02T03:00:00.000Z)');
    expect(run.stdout).toContain('events     connected (0 reconnects, last event never)');
    expect(run.stdout).toMatch(/^pro\s+trusted\s+10\.110\.0\.0\/24\s+net-pro\s+Ready\s+Converged$/m);
    expect(run.stdout).toMatch(/^ {2}pro-dev\s+10\.110\.0\.10\s+Running\s+Ready\s+UpToDate$/m);
    expect(requests).toEqual([{ method: 'GET', url: '/v1/status', body: '' }]);
  });

  it('finds the daemon through ANKLUME_SOCKET', async () => {
    const run = await ctl(['status'], { ANKLUME_SOCKET: socket });
    expect(run.code).toBe(0);
    expect(requests).toHaveLength(1);
  });

  it('exits 1 and shows the reason when a domain is Degraded', async () => {
    served = { status: 200, body: DEGRADED };
    const run = await ctl(['status', '--socket', socket]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^lab\s+trusted\s+10\.110\.0\.0\/24\s+net-lab\s+Degraded\s+ObjectsDegraded$/m);
    expect(run.stdout).toMatch(/^ {2}lab-a\s+10\.140\.0\.1\s+Stopped\s+Degraded\s+Failed: start failed: no such image$/m);
  });

  it('exits 1 when the daemon reports an invalid infra.yml', async () => {
    served = { status: 200, body: { ...READY, config: { ...READY.config, valid: false, errors: ['/etc/anklume/infra.yml:3:5: domains.pro: bad'] } } };
    const run = await ctl(['status', '--socket', socket]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('INVALID (1 error); anklumed still applies the last valid version');
    expect(run.stdout).toContain('/etc/anklume/infra.yml:3:5: domains.pro: bad');
  });

  it('prints the document as JSON with --json, unchanged', async () => {
    served = { status: 200, body: DEGRADED };
    const run = await ctl(['status', '--json', '--socket', socket]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual(DEGRADED);
  });

  it('shows the daemon\'s own error message when it fails', async () => {
    served = { status: 500, body: { error: 'status not ready yet' } };
    const run = await ctl(['status', '--socket', socket]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('error: anklumed refused the request (500): status not ready yet\n');
  });

  it('refreshes with --watch, one JSON document per line with --json', async () => {
    const run = await ctl(['status', '--watch', '--json', '--interval', '0.05', '--max-refreshes', '3', '--socket', socket]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(JSON.parse(line)).toEqual(READY);
    expect(requests).toHaveLength(3);
  });

  it('re-renders with --watch and returns the status of the last refresh', async () => {
    served = { status: 200, body: DEGRADED };
    const run = await ctl(['status', '--watch', '--interval', '0.05', '--max-refreshes', '2', '--socket', socket]);
    expect(run.code).toBe(1);
    expect(run.stdout.match(/^Every 0\.05s: anklumectl status, 2026-01-02T03:04:05\.000Z \(Ctrl-C stops\)$/gm)).toHaveLength(2);
    // Not a terminal: frames follow each other, no screen clearing.
    expect(run.stdout).not.toContain('\u001b[');
  });

  it('stops --watch cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, [`${ROOT}dist/bin/anklumectl.js`, 'status', '--watch', '--interval', '30', '--socket', socket], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('pro-dev')) resolve();
      }),
    );
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(requests).toHaveLength(1);
  });

  it('rejects a --interval that is not a positive number as a usage error', async () => {
    const run = await ctl(['status', '--watch', '--interval', '0', '--socket', socket]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--interval must be a positive number');
  });
});

describe('anklumectl status without a daemon', () => {
  it('says the daemon is not running and that Incus is not reachable, lists the domains as Unknown and exits 1', async () => {
    const run = await ctl(['status', '-f', 'infra.example.yml', '--socket', missing, '--incus-socket', join(dir, 'no-incus.sock')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`daemon     anklumed is not running (no daemon at ${missing}): computed from infra.example.yml and Incus`);
    expect(run.stdout).toContain(`incus      ${join(dir, 'no-incus.sock')}: NOT reachable`);
    expect(run.stdout).toMatch(/^pro\s+trusted\s+10\.110\.0\.0\/24\s+net-pro\s+Unknown\s+IncusUnavailable$/m);
    expect(run.stdout).toMatch(/^ {2}pro-dev\s+10\.110\.0\.10\s+Unknown\s+Unknown\s+IncusUnavailable$/m);
  });

  it('reports an invalid infra.yml with its errors and no domains, in JSON too', async () => {
    const run = await ctl(['status', '--json', '-f', join(dir, 'absent.yml'), '--socket', missing, '--incus-socket', join(dir, 'no-incus.sock')]);
    expect(run.code).toBe(1);
    const doc = JSON.parse(run.stdout) as StatusDocument;
    expect(doc.daemon.running).toBe(false);
    expect(doc.config).toEqual({ file: join(dir, 'absent.yml'), valid: false, errors: [`cannot read ${join(dir, 'absent.yml')}: no such file`], specHash: null, loadedAt: null });
    expect(doc.domains).toEqual([]);
    expect(doc.incus.reachable).toBe(false);
  });
});

describe('anklumectl reconcile', () => {
  it('asks the daemon to reconcile the named domains and prints what was queued', async () => {
    const run = await ctl(['reconcile', 'pro', '--socket', socket]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Queued for reconcile now (user priority): pro\n');
    expect(requests).toEqual([{ method: 'POST', url: '/v1/reconcile', body: '{"domains":["pro"]}' }]);
  });

  it('asks for every domain when none is named', async () => {
    const run = await ctl(['reconcile', '--socket', socket]);
    expect(run.code).toBe(0);
    expect(requests[0]?.body).toBe('{}');
    expect(run.stdout).toContain('pro, lab');
  });

  it('shows the daemon\'s 400 and exits 1', async () => {
    const run = await ctl(['reconcile', 'nope', '--socket', socket]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('error: anklumed refused the request (400): unknown domain "nope"\n');
  });

  it('exits 1 and points at apply when no daemon runs', async () => {
    const run = await ctl(['reconcile', 'pro', '--socket', missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: anklumed is not running (no daemon at ${missing}); nothing was queued. \`anklumectl apply\` does the same without a daemon.\n`);
  });

  it('names the socket and the group to join when the socket may not be opened', async () => {
    // Tests run as root, who may open anything. The socket's directory belongs to nobody (mode 0700) and
    // the CLI runs as root without the capabilities that bypass file permissions (setpriv, util-linux):
    // it can still read the checkout, wherever that is, but not reach the socket.
    const closed = mkdtempSync(join(tmpdir(), 'anklume-ctl-closed-'));
    const path = join(closed, 'anklumed.sock');
    const guarded = createServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => guarded.listen(path, resolve));
    chownSync(closed, 65534, 65534);
    chmodSync(closed, 0o700);
    try {
      const run = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn('setpriv', ['--bounding-set', '-dac_override,-dac_read_search', process.execPath, `${ROOT}dist/bin/anklumectl.js`, 'reconcile', '--socket', path], { env: { ...process.env, NO_COLOR: '1' } });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`permission denied on ${path}`);
      expect(run.stderr).toContain('usermod -aG anklume');
    } finally {
      await new Promise((resolve) => guarded.close(resolve));
    }
  });
});

describe('DaemonClient', () => {
  it('gives up on a daemon that does not answer within its timeout', async () => {
    served = { status: 0, body: null };
    const client = new DaemonClient({ socketPath: socket, timeoutMs: 200 });
    await expect(client.getStatus()).rejects.toThrow(DaemonFailureError);
    await expect(client.getStatus()).rejects.toThrow(`anklumed at ${socket} did not answer GET /v1/status within 0.2s`);
  });

  it('stops a request when its signal aborts', async () => {
    served = { status: 0, body: null };
    const controller = new AbortController();
    const pending = new DaemonClient({ socketPath: socket }).getStatus({ signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('tells a missing socket and a stale one (nobody listening) apart from other failures', async () => {
    await expect(new DaemonClient({ socketPath: missing }).getStatus()).rejects.toThrow(DaemonNotRunningError);
    // A socket file left by a daemon that died (SIGKILL: no cleanup): connect() is refused.
    const stale = join(dir, 'stale.sock');
    const crash = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((resolve) => crash.on('close', resolve));
    expect(statSync(stale).isSocket()).toBe(true);
    await expect(new DaemonClient({ socketPath: stale }).reconcile([])).rejects.toThrow(DaemonNotRunningError);
  });

  it('refuses an answer that is not a status document', async () => {
    served = { status: 200, body: { hello: 'world' } };
    await expect(new DaemonClient({ socketPath: socket }).getStatus()).rejects.toThrow('is not a status document');
  });
});
