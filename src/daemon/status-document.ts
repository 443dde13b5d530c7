import { withObjects, type AiAccessStatus, type ConfigStatus, type DomainStatus, type FirewallStatus, type ObjectStatus, type StatusDocument } from '../controllers/status.js';
import type { DesiredDomain, DesiredInfra } from '../schemas/model.js';
import type { VerifyReport } from '../shared/verify-report.js';

export interface StatusParts {
  readonly model: DesiredInfra;
  readonly startedAt: string;
  readonly now: string;
  /** Each controller's last word: the domain's objects, each deployed service. */
  readonly domain: (name: string) => DomainStatus | undefined;
  readonly service: (id: string) => ObjectStatus | undefined;
  readonly retries: (domain: string) => number;
  readonly config: ConfigStatus;
  readonly incus: StatusDocument['incus'];
  readonly events: StatusDocument['events'];
  readonly queue: StatusDocument['queue'];
  readonly firewall: FirewallStatus;
  readonly aiAccess: AiAccessStatus;
  /** The last verify report, when the daemon shows one (absent: it does not verify). */
  readonly verify?: VerifyReport | null;
}

/**
 * The daemon's status document, put together from what each controller last
 * reported (pure): a domain's services are reconciled on their own queue,
 * and their statuses replace the domain's view of them.
 */
export function statusDocument(parts: StatusParts): StatusDocument {
  const domains = parts.model.domains.map((d) => {
    const own = parts.domain(d.name) ?? pending(d, parts);
    const objects = own.objects.map((o) => (o.kind === 'service' ? (parts.service(o.id) ?? o) : o));
    return objects.some((o, i) => o !== own.objects[i]) ? withObjects(d, own, objects, parts.now) : own;
  });
  return {
    generatedAt: parts.now,
    daemon: { running: true, pid: process.pid, startedAt: parts.startedAt },
    config: parts.config,
    incus: parts.incus,
    events: parts.events,
    queue: parts.queue,
    firewall: parts.firewall,
    aiAccess: parts.aiAccess,
    domains,
    ...(parts.verify === undefined ? {} : { verify: parts.verify }),
  };
}

/** A domain the domain controller has not reconciled yet. */
function pending(d: DesiredDomain, parts: StatusParts): DomainStatus {
  const condition = (type: 'Ready' | 'Progressing' | 'Degraded', status: boolean) => ({ type, status, reason: 'Pending', message: 'not reconciled yet', lastTransitionTime: parts.startedAt });
  return {
    name: d.name,
    enabled: d.enabled,
    trustLevel: d.trustLevel,
    subnet: d.network.subnet,
    bridge: d.bridge,
    aiProvider: d.aiProvider,
    aiSanitize: d.aiSanitize,
    conditions: [condition('Ready', false), condition('Progressing', true), condition('Degraded', false)],
    observedSpecHash: '',
    lastReconcile: null,
    retries: parts.retries(d.name),
    objects: [],
    notes: [],
  };
}
