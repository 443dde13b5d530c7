import type { Condition, DomainStatus, ObjectStatus, StatusDocument } from '../../src/controllers/status.js';
import type { VerifyCell, VerifyReport } from '../../src/shared/verify-report.js';

const T = '2026-12-05T04:00:00.000Z';

export function conditionsOf(state: 'ready' | 'progressing' | 'degraded', reason: string, message: string): Condition[] {
  return [
    { type: 'Ready', status: state === 'ready', reason, message, lastTransitionTime: T },
    { type: 'Progressing', status: state === 'progressing', reason, message, lastTransitionTime: T },
    { type: 'Degraded', status: state === 'degraded', reason, message, lastTransitionTime: T },
  ];
}

export function instance(project: string, name: string, ip: string, state = 'Running', conditions = conditionsOf('ready', 'UpToDate', 'matches infra.yml')): ObjectStatus {
  return { id: `instance/${project}/${name}`, kind: 'instance', name, ip, state, conditions };
}

export function domain(name: string, objects: readonly ObjectStatus[], overrides: Partial<DomainStatus> = {}): DomainStatus {
  return {
    name,
    enabled: true,
    trustLevel: 'trusted',
    subnet: '10.110.1.0/24',
    bridge: `net-${name}`,
    aiProvider: 'local',
    aiSanitize: false,
    conditions: conditionsOf('ready', 'Converged', `${objects.length} object(s) match infra.yml`),
    observedSpecHash: 'abc',
    lastReconcile: { time: T, durationMs: 12, result: 'success' },
    retries: 0,
    objects,
    notes: [],
    ...overrides,
  };
}

/** A daemon's status document with the given domains (everything else healthy). */
export function statusDoc(domains: readonly DomainStatus[], overrides: Partial<StatusDocument> = {}): StatusDocument {
  return {
    generatedAt: T,
    daemon: { running: true, pid: 4242, startedAt: T },
    config: { file: '/etc/anklume/infra.yml', valid: true, errors: [], specHash: 'x', loadedAt: T },
    incus: { endpoint: '/var/lib/incus/unix.socket', reachable: true },
    events: { connected: true, reconnects: 0, lastEventAt: T },
    queue: { depth: 0, inFlight: 0 },
    firewall: { managed: true, state: 'InSync', message: 'live table matches', rules: 12, checkedAt: T, appliedAt: T },
    aiAccess: { policy: 'exclusive', holder: 'pro', since: T, source: 'recorded on the ai-tools project', lastSwitches: ['2026-12-05T03:00:00Z perso -> pro flush=yes ok'] },
    domains,
    ...overrides,
  };
}

/** A verify report over `domains`: every cell expected except those named. */
export function verifyReport(domains: readonly string[], verdicts: Readonly<Record<string, 'unexpected' | 'not-verifiable'>> = {}): VerifyReport {
  const cells = domains.flatMap((from) =>
    domains
      .filter((to) => to !== from)
      .map((to) => {
        const verdict: VerifyCell['verdict'] = verdicts[`${from}>${to}`] ?? 'expected';
        const probes =
          verdict === 'not-verifiable'
            ? []
            : [{ from: `${from}/${from}1`, to: `${to}/${to}1`, address: '10.110.2.1', protocol: 'tcp' as const, port: 22, why: 'closed control port', expected: 'block' as const, observed: verdict === 'unexpected' ? ('pass' as const) : ('block' as const) }];
        return { from, to, verdict, probes };
      }),
  );
  return {
    startedAt: T,
    durationMs: 4200,
    domains,
    cells,
    notVerifiable: Object.entries(verdicts)
      .filter(([, v]) => v === 'not-verifiable')
      .map(([k]) => ({ instance: `${k.split('>')[0] ?? ''}/x`, reason: 'no nc in the instance' })),
    probeCount: cells.reduce((n, c) => n + c.probes.length, 0),
    ok: !Object.values(verdicts).includes('unexpected'),
  };
}
