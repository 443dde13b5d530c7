import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/render-status.js';
import type { CliIo } from '../../src/cli/io.js';
import { validateInfraText } from '../../src/config/validate.js';
import { CRON_SYNC_KEY, describeCronSync, failedRecord, parseCronSyncRecord, syncedRecord } from '../../src/controllers/cron-sync.js';
import { domainStatus } from '../../src/controllers/domain/status.js';
import type { Observed, ObservedInstance } from '../../src/controllers/observed.js';
import type { StatusDocument } from '../../src/controllers/status.js';

const T = '2026-01-02T03:04:05.000Z';

describe('the record of an assistant\'s last cron sync', () => {
  it('round-trips through the instance config, ok or failed', () => {
    const ok = syncedRecord(T, 2, { add: [1], update: [], remove: [1, 2] });
    expect(ok).toEqual({ at: T, outcome: 'ok', jobs: 2, added: 1, updated: 0, removed: 2 });
    expect(parseCronSyncRecord(JSON.stringify(ok))).toEqual(ok);
    const failed = failedRecord(T, 'openclaw cron list on pro-claw exited 1: gateway not reachable');
    expect(parseCronSyncRecord(JSON.stringify(failed))).toEqual(failed);
  });

  it('cuts a long error short', () => {
    const r = failedRecord(T, 'x'.repeat(2000));
    expect(r.outcome === 'failed' ? r.error.length : 0).toBe(500);
  });

  it('reads nothing from a missing, hand-written or half record', () => {
    for (const v of [undefined, 'ok', '{"at":1}', '{"at":"x","outcome":"ok","jobs":2}', '{"at":"x","outcome":"maybe"}']) expect(parseCronSyncRecord(v)).toBeNull();
  });

  it('says it in one line: declared, never synced, ok with what changed, or failed with why', () => {
    expect(describeCronSync(0, null)).toBe('0 jobs declared, never synced');
    expect(describeCronSync(2, syncedRecord(T, 2, { add: [1, 2], update: [], remove: [] }))).toBe(`2 jobs declared, last sync ok at ${T}: 2 in the assistant (2 added)`);
    expect(describeCronSync(1, syncedRecord(T, 1, { add: [], update: [], remove: [] }))).toBe(`1 job declared, last sync ok at ${T}: 1 in the assistant`);
    expect(describeCronSync(1, failedRecord(T, 'boom'))).toBe(`1 job declared, last sync failed at ${T}: boom`);
  });
});

const INFRA = `
domains:
  ai-tools:
    machines:
      gpu: { ip: 10.120.0.10, roles: [ollama_server] }
  pro:
    ai_provider: local
    openclaw:
      enabled: true
      cron:
        - { name: disk-check, schedule: "*/30 * * * *", prompt: "Run anklume-disk.", task_type: triage }
        - { name: weekly, schedule: "0 7 * * 1", prompt: "Weekly report.", task_type: report, deliver: none }
    machines:
      pro-claw: { ip: 10.120.1.5, roles: [openclaw_server] }
`;

describe('status shows each assistant\'s cron jobs', () => {
  const r = validateInfraText(INFRA, { file: 'infra.yml' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  const model = r.model;
  const pro = model.domains.find((d) => d.name === 'pro');
  if (pro === undefined) throw new Error('no pro');
  const observedWith = (config: Record<string, string>): Observed => ({
    projects: new Map(),
    networks: new Map(),
    profiles: new Map(),
    instances: new Map([[`pro/pro-claw`, { name: 'pro-claw', project: 'pro', status: 'Running', config } as unknown as ObservedInstance]]),
  });
  const cronObject = (config: Record<string, string>) =>
    domainStatus({ model, domain: pro, plan: { actions: [], notes: [] }, outcomes: [], observed: observedWith(config), now: T, lastReconcile: null, retries: 0 }).objects.find((o) => o.kind === 'cron');

  it('the count infra.yml declares and the outcome the instance records, in the document (--json)', () => {
    expect(cronObject({})?.cron).toEqual({ declared: 2, lastSync: null, summary: '2 jobs declared, never synced' });
    const failed = failedRecord(T, 'openclaw cron add on pro-claw exited 1: invalid cron');
    expect(cronObject({ [CRON_SYNC_KEY]: JSON.stringify(failed) })?.cron).toMatchObject({ declared: 2, lastSync: failed });
  });

  it('a line under the domain in the text', () => {
    const ok = syncedRecord(T, 2, { add: [1], update: [1], remove: [] });
    const object = cronObject({ [CRON_SYNC_KEY]: JSON.stringify(ok) });
    if (object === undefined) throw new Error('no cron object');
    const doc = {
      generatedAt: T,
      daemon: { running: false, message: 'offline' },
      config: { file: 'infra.yml', valid: true, errors: [], specHash: null, loadedAt: T },
      incus: { endpoint: '/x', reachable: true },
      events: null,
      queue: null,
      firewall: { managed: true, state: 'InSync', message: 'ok' },
      aiAccess: { policy: 'open', holder: null, since: null, source: '', wanted: null, phase: null, lastSwitches: [] },
      domains: [{ name: 'pro', enabled: true, trustLevel: 'trusted', subnet: '10.110.0.0/24', bridge: 'net-pro', aiProvider: 'local', aiSanitize: false, conditions: object.conditions, observedSpecHash: 'x', lastReconcile: null, retries: 0, objects: [object], notes: [] }],
    } as unknown as StatusDocument;
    const io: CliIo = { stdout: () => undefined, stderr: () => undefined, color: false, env: {} };
    const line = renderStatus(doc, io).split('\n').find((l) => l.includes('cron jobs of openclaw'));
    expect(line?.replace(/ +/g, ' ').trim()).toBe(`cron cron jobs of openclaw on pro-claw - - Ready UpToDate: 2 jobs declared, last sync ok at ${T}: 2 in the assistant (1 added, 1 updated)`);
  });
});
