import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import type { Observed } from '../../src/controllers/observed.js';
import { cronObjectId, planCron } from '../../src/controllers/service/cron-plan.js';
import { CRON_HASH_KEY } from '../../src/controllers/service/deployment.js';
import { openclawDeployment } from '../../src/controllers/service/openclaw-deployment.js';
import { cronAddArgs, cronHash, cronJobSpec, desiredCronJobs, diffCron, parseCronList, type ObservedCronJob } from '../../src/controllers/service/openclaw-cron.js';
import type { DesiredInfra } from '../../src/schemas/model.js';
import { OPENCLAW_INFRA, domainOf, openclawModel } from '../helpers/openclaw-infra.js';

const JOBS = `
  openclaw:
    cloud_model: claude-sonnet-4-5
    cron:
      - { name: disk-check, schedule: "*/30 * * * *", prompt: Check the disks., task_type: triage }
      - { name: weekly-report, schedule: "0 7 * * 1", prompt: Write the weekly report., task_type: report }
`;
const withJobs = (text: string = OPENCLAW_INFRA): string => text.replace('\n  openclaw:\n    cloud_model: claude-sonnet-4-5\n', JOBS);
const model = (text: string = withJobs()): DesiredInfra => openclawModel(text);

function issuesOf(text: string): { rule: string; path: string; message: string; line: number }[] {
  const r = validateInfraText(text, { file: 'infra.yml' });
  if (r.ok) return [];
  return r.issues.map((i) => ({ rule: i.rule, path: i.path.join('.'), message: i.message, line: i.line }));
}

describe('openclaw.cron in infra.yml', () => {
  it('gives every assistant the global jobs, a domain job of the same name replacing the global one in place', () => {
    const m = model(withJobs().replace("    openclaw: { enabled: true }\n    machines:\n      perso-openclaw", `    openclaw:\n      enabled: true\n      cron:\n        - { name: weekly-report, schedule: "0 8 * * 5", prompt: Friday instead., task_type: summary, deliver: none }\n        - { name: backup, schedule: "0 2 * * *", prompt: Check the backups., task_type: inventory }\n    machines:\n      perso-openclaw`));
    expect(domainOf(m, 'perso').openclaw?.cron.map((j) => [j.name, j.schedule, j.taskType, j.deliver])).toEqual([
      ['disk-check', '*/30 * * * *', 'triage', 'owners'],
      ['weekly-report', '0 8 * * 5', 'summary', 'none'],
      ['backup', '0 2 * * *', 'inventory', 'owners'],
    ]);
    expect(domainOf(m, 'pro').openclaw?.cron.map((j) => j.name)).toEqual(['disk-check', 'weekly-report']);
  });

  it('refuses a bad schedule, naming the job, the line and what a schedule is', () => {
    const text = withJobs().replace('"0 7 * * 1"', '"0 25 * * 1"');
    expect(issuesOf(text)).toEqual([{ rule: 'cron-schedule', path: 'global.openclaw.cron.1.schedule', message: '"0 25 * * 1" is not a five-field cron expression', line: 7 }]);
    // Six fields (seconds) would be read differently by OpenClaw: refused too.
    expect(issuesOf(withJobs().replace('"0 7 * * 1"', '"0 0 7 * * 1"')).map((i) => i.rule)).toEqual(['cron-schedule']);
  });

  it('reads a schedule in its tz (an IANA zone), and refuses what is not one', () => {
    const m = model(withJobs().replace('"0 7 * * 1"', '"0 7 * * 1", tz: Europe/Paris'));
    expect(domainOf(m, 'pro').openclaw?.cron.map((j) => [j.name, j.tz])).toEqual([['disk-check', null], ['weekly-report', 'Europe/Paris']]);
    for (const bad of ['Mars/Olympus', '+01:00', 'Europe/Paris; rm -rf /']) {
      expect(issuesOf(withJobs().replace('"0 7 * * 1"', `"0 7 * * 1", tz: "${bad}"`))).toEqual([{ rule: 'cron-tz', path: 'global.openclaw.cron.1.tz', message: `"${bad}" is not an IANA time zone`, line: 7 }]);
    }
  });

  it('refuses two jobs of one name in a list, and an unknown task type with the known ones', () => {
    const dup = withJobs().replace('name: weekly-report', 'name: disk-check');
    expect(issuesOf(dup)).toEqual([{ rule: 'cron-name-unique', path: 'global.openclaw.cron.1.name', message: 'cron job "disk-check" is already declared at position 1 of this list', line: 7 }]);
    const unknown = validateInfraText(withJobs().replace('task_type: report', 'task_type: reporting'), { file: 'infra.yml' });
    expect(unknown.ok).toBe(false);
    if (unknown.ok) return;
    expect(unknown.issues.map((i) => i.path.join('.'))).toEqual(['global.openclaw.cron.1.task_type']);
    expect(JSON.stringify(unknown.issues[0])).toContain('incident-analysis');
  });
});

describe('cron jobs as OpenClaw jobs', () => {
  const m = model();

  it('routes by the task type table only where ai_provider allows it, and always through the sanitizer', () => {
    const route = (domain: string): string[] => desiredCronJobs(domainOf(m, domain)).map((j) => `${j.name}: ${j.model} ${JSON.stringify(j.fallbacks)}`);
    // local: nothing leaves, whatever the task type; no fallback.
    expect(route('perso')).toEqual(['disk-check: ollama/qwen2.5-coder:32b []', 'weekly-report: ollama/qwen2.5-coder:32b []']);
    // local-first: triage stays local, a report goes to the provider that marks it as a report.
    expect(route('pro')).toEqual(['disk-check: ollama/qwen2.5-coder:32b []', 'weekly-report: anklume-task-report/claude-sonnet-4-5 null']);
    // cloud: everything to the sanitizer, each marked with its task type.
    expect(route('client')).toEqual(['disk-check: anklume-task-triage/claude-opus-4-8 null', 'weekly-report: anklume-task-report/claude-opus-4-8 null']);
    // disposable: never the cloud.
    expect(route('sandbox')).toEqual(['disk-check: ollama/qwen2.5-coder:32b []', 'weekly-report: ollama/qwen2.5-coder:32b []']);
  });

  it("defines the task providers the jobs name in the domain's config, with the task header", () => {
    const d = openclawDeployment(m, domainOf(m, 'pro'), { gatewayToken: 'tok', telegramToken: 't' });
    const config = JSON.parse(d?.files.find((f) => f.path === '/etc/openclaw/openclaw.json')?.content ?? '{}') as { models: { providers: Record<string, { baseUrl: string; headers: Record<string, string> }> } };
    expect(config.models.providers['anklume-task-report']).toMatchObject({ baseUrl: 'http://10.100.0.20:8089', headers: { 'x-anklume-task': 'report' } });
    expect(config.models.providers['anklume-task-triage']).toBeUndefined();
  });

  it('delivers to the first Telegram owner, or keeps the answer in the run history', () => {
    const pro = cronJobSpec(domainOf(m, 'pro'), { name: 'x', schedule: '0 7 * * *', tz: null, prompt: 'p', taskType: 'summary', deliver: 'owners' });
    expect(cronAddArgs(pro, 18789)).toEqual([
      'cron', 'add', '--json', '--port', '18789', '--declaration-key', 'anklume:pro:x', '--name', 'x', '--description', 'anklume task_type=summary route=local',
      '--cron', '0 7 * * *', '--session', 'isolated', '--message', 'p', '--model', 'ollama/qwen2.5-coder:32b', '--fallbacks', '', '--announce', '--channel', 'telegram', '--to', '123456789',
    ]);
    const perso = cronJobSpec(domainOf(m, 'perso'), { name: 'x', schedule: '0 7 * * *', tz: null, prompt: 'p', taskType: 'summary', deliver: 'owners' });
    expect(perso.delivery).toEqual({ mode: 'none' });
  });
});

/** A job as `openclaw cron list --json` printed it for `spec` (shape observed on 2026.9.6). */
function listed(spec: ReturnType<typeof cronJobSpec>, id: string, over: Partial<ObservedCronJob> = {}): ObservedCronJob {
  return {
    id,
    declarationKey: spec.key,
    name: spec.name,
    description: spec.description,
    schedule: { kind: 'cron', expr: spec.schedule, ...(spec.tz === null ? {} : { tz: spec.tz }) },
    payload: { kind: 'agentTurn', message: spec.message, model: spec.model, ...(spec.fallbacks === null ? {} : { fallbacks: spec.fallbacks }) },
    delivery: spec.delivery.mode === 'none' ? { mode: 'none', channel: 'last' } : { ...spec.delivery },
    ...over,
  };
}

describe('diffCron', () => {
  const m = model();
  const pro = domainOf(m, 'pro');
  const [disk, report] = desiredCronJobs(pro) as [ReturnType<typeof cronJobSpec>, ReturnType<typeof cronJobSpec>];
  const heartbeat: ObservedCronJob = { id: 'hb', declarationKey: 'heartbeat:main', name: 'heartbeat-main', payload: { kind: 'heartbeat' } };
  const otherDomain: ObservedCronJob = { id: 'o1', declarationKey: 'anklume:perso:disk-check', name: 'disk-check' };

  it('changes nothing when the gateway holds exactly the wanted jobs', () => {
    expect(diffCron('pro', [disk, report], [listed(disk, 'a'), listed(report, 'b'), heartbeat, otherDomain])).toEqual({ add: [], update: [], remove: [], unchanged: 2 });
  });

  it("adds the missing, updates the different field by field, removes the domain's others and never touches other keys", () => {
    const user: ObservedCronJob = { id: 'u', name: 'mine' };
    const diff = diffCron('pro', [disk, report], [listed(disk, 'a', { schedule: { kind: 'cron', expr: '0 * * * *' } }), { id: 'z', declarationKey: 'anklume:pro:gone', name: 'gone' }, heartbeat, otherDomain, user]);
    expect(diff.add.map((s) => s.name)).toEqual(['weekly-report']);
    expect(diff.update).toEqual([{ spec: disk, id: 'a', recreate: false, changes: [{ key: 'schedule', from: '0 * * * *', to: '*/30 * * * *' }] }]);
    expect(diff.remove).toEqual([{ id: 'z', key: 'anklume:pro:gone', name: 'gone' }]);
  });

  it('passes the zone to cron add, sees a zone set, changed or dropped as a change, and keeps the old hash without one', () => {
    const paris = { ...disk, tz: 'Europe/Paris' };
    expect(cronAddArgs(paris, 18789).join(' ')).toContain(`--cron */30 * * * * --tz Europe/Paris --session`);
    expect(cronAddArgs(disk, 18789)).not.toContain('--tz');
    expect(diffCron('pro', [paris], [listed(paris, 'a')]).unchanged).toBe(1);
    expect(diffCron('pro', [paris], [listed(disk, 'a')]).update[0]?.changes).toEqual([{ key: 'tz', from: '(none)', to: 'Europe/Paris' }]);
    expect(diffCron('pro', [disk], [listed(paris, 'a')]).update[0]?.changes).toEqual([{ key: 'tz', from: 'Europe/Paris', to: '(none)' }]);
    expect(cronHash([paris])).not.toBe(cronHash([disk]));
  });

  it('recreates a job whose name or description changed (cron add with the key keeps those)', () => {
    const diff = diffCron('pro', [disk], [listed(disk, 'a', { description: 'edited by hand' })]);
    expect(diff.update[0]).toMatchObject({ id: 'a', recreate: true });
  });

  it('sees a changed model, fallbacks or delivery as a change', () => {
    const changed = diffCron('pro', [report], [listed(report, 'b', { payload: { kind: 'agentTurn', message: report.message, model: 'ollama/other' }, delivery: { mode: 'none' } })]);
    expect(changed.update[0]?.changes.map((c) => c.key)).toEqual(['model', 'delivery']);
  });

  it('refuses a list it cannot read rather than deleting what it did not see', () => {
    expect(() => parseCronList('gateway not reachable')).toThrow(/did not print JSON/);
    expect(() => parseCronList('{"error":"unauthorized"}')).toThrow(/without a jobs list/);
    expect(() => parseCronList('{"jobs":[{"id":"a"}],"hasMore":true}')).toThrow(/more jobs than one page/);
    expect(parseCronList('{"jobs":[{"id":"a","declarationKey":"k"}],"hasMore":false}')).toEqual([{ id: 'a', declarationKey: 'k' }]);
  });
});

describe('planCron', () => {
  const m = model();
  const d = openclawDeployment(m, domainOf(m, 'perso'), { gatewayToken: 'tok' });
  if (d?.cron === undefined) throw new Error('no cron');
  const EMPTY: Observed = { projects: new Map(), networks: new Map(), profiles: new Map(), instances: new Map() };
  const running = (hash?: string): Observed => ({
    ...EMPTY,
    instances: new Map([['perso/perso-openclaw', { name: 'perso-openclaw', project: 'perso', type: 'container', status: 'Running', description: '', profiles: [], config: hash === undefined ? {} : { [CRON_HASH_KEY]: hash }, devices: {} }]]),
  });

  it('does nothing when the instance carries the hash of the wanted jobs, and nothing when no job was ever wanted', () => {
    expect(planCron(d, running(d.cron?.hash), [], undefined)).toBeNull();
    const none = openclawDeployment(openclawModel(), domainOf(openclawModel(), 'perso'), { gatewayToken: 'tok' });
    if (none === null) throw new Error('no deployment');
    expect(planCron(none, running(), [], undefined)).toBeNull();
    // Jobs were synced once and infra.yml now has none: they must be removed.
    expect(planCron(none, running('synced-before'), [], undefined)).toMatchObject({ id: cronObjectId('perso', 'perso-openclaw'), verb: 'update' });
  });

  it("names each job to add from the gateway's list, after the service's own deploy action", () => {
    const [disk] = desiredCronJobs(domainOf(m, 'perso'));
    if (disk === undefined) throw new Error('no job');
    const action = planCron(d, running(), [], { jobs: [listed(disk, 'a')] });
    expect(action).toMatchObject({ kind: 'cron', verb: 'create', reason: '1 to add, 0 to update, 0 to remove', changes: [{ key: 'cron weekly-report', to: '0 7 * * 1 (report, local)' }] });
    const deploy = { id: 'service/perso/perso-openclaw', group: 'perso', kind: 'service', name: 'openclaw', verb: 'create' as const, reason: '', changes: [], after: [], payload: null };
    expect(planCron(d, EMPTY, [deploy], undefined)).toMatchObject({ after: ['service/perso/perso-openclaw'], reason: '2 declared; compared once openclaw is deployed' });
    expect(planCron(d, running('old'), [], { error: 'exit 1' })?.reason).toMatch(/could not be listed \(exit 1\)/);
  });
});
