import { CLOUD_TASKS } from '../schemas/tasks.js';
import type { DesiredDomain, DesiredInfra } from '../schemas/model.js';
import { AnklumeError } from '../shared/errors.js';
import type { Probe } from './collect.js';
import type { Finding, Inventory } from './inventory.js';

/**
 * Levels 2 (the model's part) and 3 of spec/000 §6. Both requests leave from
 * inside the domain — from the probe — to the sanitizing gateway, so the
 * gateway applies that domain's own rules (its ai_provider, exclusive access,
 * sanitizing) exactly as for any of its machines: the host never speaks for a
 * domain. Level 2 asks for a triage on the local route (`x-anklume-task:
 * triage`, Ollama's API, which the gateway never sends to a cloud); level 3
 * sends the structured inventory and the findings — never a raw output, never
 * a payload — to a cloud model on a cloud task type, sanitized on the way out
 * and restored on the way back.
 */

export type CloudTask = (typeof CLOUD_TASKS)[number];
export const ESCALATION_TASKS: readonly CloudTask[] = CLOUD_TASKS;

export type Verdict = 'normal' | 'suspect' | 'critical';

export interface Triage {
  readonly verdict: Verdict;
  readonly summary: string;
  readonly findings: readonly string[];
  readonly model: string;
}

/** What level 2 and 3 send: the inventory and the findings, names of instances infra.yml does not declare replaced by labels. */
export interface ModelInput {
  readonly domain: string;
  readonly subnet: string;
  readonly hosts: readonly { readonly address: string; readonly name: string; readonly kind: string; readonly mac?: string; readonly ports: readonly string[] }[];
  readonly flows: Inventory['flows'];
  readonly findings: readonly { readonly severity: string; readonly rule: string; readonly message: string }[];
  readonly changes: readonly { readonly severity: string; readonly rule: string; readonly message: string }[];
}

/**
 * The gateway knows the names infra.yml declares, but not those of instances
 * started by hand: those are replaced here by `undeclared-<n>` before anything
 * is sent, and put back in the answer. Returns the input and the way back.
 */
export function modelInput(inventory: Inventory, findings: readonly Finding[], changes: readonly Finding[]): { input: ModelInput; restore: (text: string) => string } {
  const labels = new Map<string, string>();
  for (const h of inventory.hosts) if (h.kind === 'instance' && h.name !== undefined) labels.set(h.name, `undeclared-${labels.size + 1}`);
  // Longest first, so a name that contains another is replaced whole.
  const names = [...labels.keys()].sort((a, b) => b.length - a.length);
  const hide = (text: string): string => names.reduce((t, n) => t.split(n).join(labels.get(n) ?? n), text);
  const back = [...labels.entries()].sort((a, b) => b[1].length - a[1].length);
  const restore = (text: string): string => back.reduce((t, [name, label]) => t.split(label).join(name), text);
  const input: ModelInput = {
    domain: inventory.domain,
    subnet: inventory.subnet,
    hosts: inventory.hosts.map((h) => ({ address: h.address, name: hide(h.name ?? 'unknown'), kind: h.kind, ...(h.mac === undefined ? {} : { mac: h.mac }), ports: h.ports.map((p) => `${p.port}/${p.protocol} ${[p.service, p.product, p.version].filter(Boolean).join(' ')}`.trim()) })),
    flows: inventory.flows,
    findings: findings.map((f) => ({ severity: f.severity, rule: f.rule, message: hide(f.message) })),
    changes: changes.map((f) => ({ severity: f.severity, rule: f.rule, message: hide(f.message) })),
  };
  return { input, restore };
}

/** Where the domain's requests to a model go: the sanitizing gateway of infra.yml. */
export function gatewayOf(model: DesiredInfra): { address: string; port: number } | null {
  const machine = model.domains.flatMap((d) => d.machines).find((m) => m.roles.includes('llm_sanitizer'));
  return machine === undefined ? null : { address: machine.ip, port: model.sanitizer.listenPort };
}

/** Why a domain cannot escalate (level 3), or null when it may. Checked before anything runs. */
export function escalationRefusal(domain: DesiredDomain, task: string, model: DesiredInfra): string | null {
  if (!(ESCALATION_TASKS as readonly string[]).includes(task)) return `--escalate takes a cloud task type of spec/000 §4: ${ESCALATION_TASKS.join(', ')} (got "${task}")`;
  if (domain.aiProvider === 'local' || domain.trustLevel === 'disposable') return `domain ${domain.name} is ${domain.trustLevel === 'disposable' ? 'disposable' : 'ai_provider: local'}: nothing of it leaves for a cloud model, so --escalate is refused and nothing was sent`;
  if (gatewayOf(model) === null) return 'no sanitizing gateway in infra.yml (no machine with role llm_sanitizer): level 3 only ever goes through it, so nothing was sent';
  return null;
}

const TRIAGE_SHAPE = {
  type: 'object',
  properties: { verdict: { type: 'string', enum: ['normal', 'suspect', 'critical'] }, summary: { type: 'string' }, findings: { type: 'array', items: { type: 'string' } } },
  required: ['verdict', 'summary', 'findings'],
};

const TRIAGE_SYSTEM = [
  'You triage the network inventory of one isolated domain for its owner.',
  'You receive the hosts seen (address, name, kind, MAC, open ports), who talks to whom, the findings that rules already established against the declared infrastructure, and the changes since the baseline.',
  'The findings are facts: do not dismiss them. Say whether the domain looks normal, suspect or critical, in one or two sentences, and list what the owner should look at first.',
  'Answer with JSON only: {"verdict": "normal"|"suspect"|"critical", "summary": "...", "findings": ["..."]}.',
].join(' ');

const ESCALATION_SYSTEM: Readonly<Record<CloudTask, string>> = {
  correlation: 'Correlate the hosts, open ports, traffic, findings and changes of this network inventory: what belongs together, what an attacker would chain.',
  forensics: 'Read this network inventory as a forensic analyst: what the findings and changes suggest happened, in which order, and what evidence to collect next.',
  'incident-analysis': 'Analyse this network inventory as an incident: scope, likely cause, immediate containment steps.',
  architecture: 'Review the architecture this network inventory shows: exposure, segmentation, services that should not be reachable, improvements.',
  report: 'Write a short report of this network inventory for its owner: what is there, what is wrong, what to do, by priority.',
};

/** Level 2's model part: a triage in a fixed JSON shape, on the local route through the gateway. */
export async function askTriage(probe: Probe, model: DesiredInfra, domain: DesiredDomain, input: ModelInput, options: { readonly modelName?: string; readonly timeoutSeconds: number }): Promise<Triage> {
  const gateway = gatewayOf(model);
  if (gateway === null) throw new AnklumeError('INSPECT_TRIAGE', 'no sanitizing gateway in infra.yml (no machine with role llm_sanitizer): the triage is by code only');
  if (domain.aiProvider === 'cloud') throw new AnklumeError('INSPECT_TRIAGE', `domain ${domain.name} is ai_provider: cloud: it has no local model route, and level 2 never leaves for the cloud; the triage is by code only`);
  const modelName = options.modelName ?? domain.openclaw?.localModel ?? 'qwen2.5-coder:32b';
  const body = { model: modelName, stream: false, format: TRIAGE_SHAPE, messages: [{ role: 'system', content: TRIAGE_SYSTEM }, { role: 'user', content: JSON.stringify(input) }] };
  const answer = await postFromProbe(probe, gateway, '/api/chat', body, { 'x-anklume-task': 'triage' }, options.timeoutSeconds);
  const content = (answer as { message?: { content?: unknown } }).message?.content;
  if (typeof content !== 'string') throw new AnklumeError('INSPECT_TRIAGE', 'the local model answered without a message');
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    throw new AnklumeError('INSPECT_TRIAGE', `the local model's answer is not the JSON asked for: ${content.slice(0, 200)}`);
  }
  const { verdict, summary, findings } = parsed as { verdict?: unknown; summary?: unknown; findings?: unknown };
  if ((verdict !== 'normal' && verdict !== 'suspect' && verdict !== 'critical') || typeof summary !== 'string' || !Array.isArray(findings) || !findings.every((f) => typeof f === 'string')) {
    throw new AnklumeError('INSPECT_TRIAGE', `the local model's answer does not have the triage shape: ${content.slice(0, 200)}`);
  }
  return { verdict, summary, findings, model: modelName };
}

/** Level 3: the cloud model's text, sanitized on the way out and restored on the way back by the gateway. */
export async function askEscalation(probe: Probe, model: DesiredInfra, domain: DesiredDomain, task: CloudTask, input: ModelInput, triage: Triage | null, options: { readonly timeoutSeconds: number }): Promise<{ readonly task: CloudTask; readonly model: string; readonly text: string }> {
  const gateway = gatewayOf(model);
  if (gateway === null) throw new AnklumeError('INSPECT_ESCALATE', 'no sanitizing gateway in infra.yml');
  const modelName = domain.openclaw?.cloudModel ?? 'claude-sonnet-4-5';
  const content = JSON.stringify({ ...input, ...(triage === null ? {} : { localTriage: { verdict: triage.verdict, summary: triage.summary, findings: triage.findings } }) });
  const body = { model: modelName, max_tokens: 2048, system: ESCALATION_SYSTEM[task], messages: [{ role: 'user', content }] };
  const answer = await postFromProbe(probe, gateway, '/v1/messages', body, { 'x-anklume-task': task, 'x-anklume-escalate': 'true', 'anthropic-version': '2023-06-01' }, options.timeoutSeconds);
  const blocks = (answer as { content?: { type?: string; text?: string }[] }).content ?? [];
  const text = blocks.filter((b) => b.type === 'text' && typeof b.text === 'string').map((b) => b.text).join('\n');
  if (text === '') throw new AnklumeError('INSPECT_ESCALATE', 'the cloud model answered without text');
  return { task, model: modelName, text };
}

/**
 * An HTTP POST sent from the probe with `nc` (every test image has it; curl
 * is not everywhere): the request is pushed as a file, `nc` sends it and
 * prints the answer, which is parsed here. Errors of the gateway come back
 * with its message.
 */
async function postFromProbe(probe: Probe, to: { address: string; port: number }, path: string, body: unknown, headers: Readonly<Record<string, string>>, timeoutSeconds: number): Promise<unknown> {
  const json = JSON.stringify(body);
  const head = [`POST ${path} HTTP/1.1`, `Host: ${to.address}:${to.port}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(json)}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  const file = `/run/anklume-inspect-${process.pid}.http`;
  await probe.pushFile(file, `${head.join('\r\n')}\r\n\r\n${json}`);
  let raw: string;
  try {
    raw = await probe.run('the model request', ['sh', '-c', `nc -w ${timeoutSeconds} ${to.address} ${to.port} < ${file}`], timeoutSeconds + 10);
  } finally {
    await probe.run('removing the request file', ['rm', '-f', file], 30).catch(() => undefined);
  }
  const { status, body: text } = parseHttpResponse(raw);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AnklumeError('INSPECT_MODEL', `${to.address}:${to.port}${path} answered ${status === 0 ? 'nothing' : status} with no JSON${text === '' ? ' (is the gateway reachable from the domain?)' : `: ${text.slice(0, 200)}`}`);
  }
  if (status !== 200) {
    const message = (parsed as { error?: { message?: string } | string }).error;
    throw new AnklumeError('INSPECT_MODEL', `the gateway answered ${status}: ${typeof message === 'string' ? message : (message?.message ?? text.slice(0, 200))}`);
  }
  return parsed;
}

/** Status and body of an HTTP/1.1 answer, chunked or not. */
export function parseHttpResponse(raw: string): { status: number; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  if (!raw.startsWith('HTTP/') || split === -1) return { status: 0, body: '' };
  const head = raw.slice(0, split);
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head)?.[1] ?? 0);
  let body = raw.slice(split + 4);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    let out = '';
    let rest = body;
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, eol), 16);
      if (eol === -1 || !(size > 0)) break;
      // Sizes count bytes: cut on the UTF-8 bytes, not the characters.
      const bytes = Buffer.from(rest.slice(eol + 2), 'utf8');
      out += bytes.subarray(0, size).toString('utf8');
      rest = bytes.subarray(size + 2).toString('utf8');
    }
    body = out;
  }
  return { status, body };
}
