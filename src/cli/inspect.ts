import { join } from 'node:path';
import type { IncusEndpointFlags } from '../config/incus-endpoint.js';
import { resolveStateDir } from '../config/paths.js';
import { askEscalation, askTriage, escalationRefusal, modelInput, type CloudTask, type Triage } from '../inspect/ask-model.js';
import { collect, openProbe, toolsFor, type Collected } from '../inspect/collect.js';
import { buildInventory, changesSince, findingsOf, type Finding, type Inventory } from '../inspect/inventory.js';
import { parseNeighbours } from '../inspect/neighbours.js';
import { parseNmapXml } from '../inspect/nmap.js';
import { applyRetention, baselineId, inspectDir, readInventory, recordBaseline, runId, writeRun } from '../inspect/store.js';
import { mermaidTopology } from '../inspect/topology.js';
import { parseTcpdump } from '../inspect/traffic.js';
import { parseDuration } from '../shared/duration.js';
import { AnklumeError, UsageError, describeError } from '../shared/errors.js';
import { wholeNumberFlag } from '../shared/number-flags.js';
import { connectIncus, loadModelOrFail } from './incus.js';
import { EXIT, paint, progress, type CliIo } from './io.js';

export interface InspectCommandOptions extends IncusEndpointFlags {
  readonly config?: string;
  readonly scan?: boolean;
  readonly capture?: string;
  readonly maxPackets?: string;
  readonly since?: string;
  readonly keep?: string;
  readonly json?: boolean;
  /** commander turns --no-triage into triage: false. */
  readonly triage?: boolean;
  readonly model?: string;
  readonly escalate?: string;
}

/** What `inspect` prints with --json, and keeps as report.json in the run's folder. */
export interface InspectReport {
  readonly domain: string;
  readonly run: string;
  readonly folder: string;
  /** The run compared with: the domain's baseline (this run itself on the first run). */
  readonly baseline: string;
  readonly inventory: Inventory;
  /** What infra.yml does not explain, found by code. */
  readonly findings: readonly Finding[];
  /** What differs from the baseline; empty on the baseline run itself. */
  readonly changes: readonly Finding[];
  /** The local model's triage (level 2), or why there is none. */
  readonly triage: Triage | { readonly unavailable: string } | null;
  /** The cloud model's answer (level 3, --escalate), names restored. */
  readonly escalation: { readonly task: string; readonly model: string; readonly text: string } | null;
}

const MAX_CAPTURE_S = 300;

/** `--capture`: `30s`, `2m` or a number of seconds, from one second to five minutes. */
export function captureSeconds(text: string): number {
  const ms = parseDuration(text);
  if (ms === null || ms < 1000 || ms > MAX_CAPTURE_S * 1000) throw new UsageError(`--capture must be a duration from 1s to ${MAX_CAPTURE_S / 60}m, such as 30s or 2m (got "${text}")`);
  return Math.round(ms / 1000);
}

/**
 * `anklumectl inspect <domain>`: level 1 collects inside the domain (nmap,
 * tcpdump headers, neighbours, sockets), level 2 builds the inventory and
 * finds by code what infra.yml does not explain and what changed since the
 * baseline. Exit 1 when a finding or a change is critical or suspect.
 */
export async function runInspect(domainName: string, options: InspectCommandOptions, io: CliIo): Promise<number> {
  const capture = options.capture === undefined ? null : captureSeconds(options.capture);
  const maxPackets = wholeNumberFlag('--max-packets', options.maxPackets, 10_000, 1, 1_000_000);
  const keep = wholeNumberFlag('--keep', options.keep, 20, 1, 10_000);
  const json = options.json === true;
  const { model } = await loadModelOrFail(options.config, io);
  const domain = model.domains.find((d) => d.name === domainName);
  if (domain === undefined) throw new UsageError(`no domain "${domainName}" in infra.yml (domains: ${model.domains.map((d) => d.name).join(', ')})`);
  if (!domain.enabled) throw new UsageError(`domain "${domainName}" is disabled: nothing runs there to inspect`);
  const dir = inspectDir(resolveStateDir(io.env), domain.name);
  // Checked before anything runs: a bad --since must change nothing.
  const since = options.since === undefined ? undefined : await baselineId(dir, options.since).catch((err: unknown) => {
    throw new UsageError(`--since: ${(err as Error).message}`);
  });
  const escalate = options.escalate;
  if (escalate !== undefined) {
    const refusal = escalationRefusal(domain, escalate, model);
    if (refusal !== null) throw new AnklumeError('INSPECT_ESCALATE', refusal);
  }
  const step = progress(json ? { ...io, stdout: () => undefined } : io);

  const client = await connectIncus(options, io);
  const started = new Date();
  let collected: Collected;
  let report: InspectReport;
  try {
    const collectOptions = { scan: options.scan === true, captureSeconds: capture, maxPackets, progress: step };
    const probe = await openProbe(client, model, domain, toolsFor(collectOptions), step);
    try {
      collected = await collect(client, probe, domain, collectOptions);
      step('building the inventory');
      const inventory = buildInventory({
        model,
        domain,
        probe: collected.probe,
        probeIsTemporary: collected.temporary,
        instances: collected.instances,
        scan: collected.raw['nmap.xml'] === undefined ? null : parseNmapXml(collected.raw['nmap.xml']),
        neighbours: parseNeighbours(collected.raw['neigh.json']),
        flows: collected.raw['tcpdump.txt'] === undefined ? null : parseTcpdump(collected.raw['tcpdump.txt']).flows,
        takenAt: started.toISOString(),
      });
      const id = runId(started);
      const baseline = since ?? (await baselineId(dir, undefined));
      const before = baseline === null ? null : await readInventory(dir, baseline);
      const findings = findingsOf(model, domain, inventory);
      const changes = before === null ? [] : changesSince(before, inventory);
      const { input, restore } = modelInput(inventory, findings, changes);

      let triage: InspectReport['triage'] = null;
      if (options.triage !== false) {
        step('asking the local model for a triage (through the gateway, local route)');
        triage = await askTriage(probe, model, domain, input, { ...(options.model === undefined ? {} : { modelName: options.model }), timeoutSeconds: 300 }).then(
          (t) => ({ ...t, summary: restore(t.summary), findings: t.findings.map(restore) }),
          (err: unknown) => ({ unavailable: describeError(err) }),
        );
      }
      let escalation: InspectReport['escalation'] = null;
      if (escalate !== undefined) {
        step(`escalating to the cloud model as task "${escalate}" (through the sanitizer)`);
        const answer = await askEscalation(probe, model, domain, escalate as CloudTask, input, triage !== null && 'verdict' in triage ? triage : null, { timeoutSeconds: 300 });
        escalation = { ...answer, text: restore(answer.text) };
      }
      report = { domain: domain.name, run: id, folder: join(dir, id), baseline: baseline ?? id, inventory, findings, changes, triage, escalation };
    } finally {
      await probe.close();
    }
  } finally {
    client.close();
  }

  await writeRun(dir, report.run, { ...collected.raw, 'inventory.json': `${JSON.stringify(report.inventory, null, 2)}\n`, 'report.json': `${JSON.stringify(report, null, 2)}\n`, 'topology.mmd': mermaidTopology(report.inventory) });
  if (report.baseline === report.run || options.since !== undefined) await recordBaseline(dir, report.baseline);
  await applyRetention(dir, keep, report.baseline);
  const { findings, changes } = report;

  io.stdout(json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report, io));
  const alarming = [...findings, ...changes].some((f) => f.severity !== 'info');
  return alarming ? EXIT.failure : EXIT.ok;
}

/** Tables first (hosts, traffic), then the findings by severity, then where everything is kept. */
export function renderReport(report: InspectReport, io: CliIo): string {
  const { inventory } = report;
  const out: string[] = [];
  const modes = [inventory.scanned ? 'scan' : null, inventory.captured ? 'capture' : null].filter((m) => m !== null).join(' + ') || 'neighbours only';
  out.push(`${paint(io, 'bold', `Inspection of ${report.domain}`)}, run ${report.run} from ${inventory.probe} (${modes}); baseline ${report.baseline === report.run ? 'is this run' : report.baseline}`);
  out.push('');
  out.push(paint(io, 'bold', 'HOSTS'));
  out.push(...table(['ADDRESS', 'NAME', 'KIND', 'MAC', 'OPEN PORTS'], inventory.hosts.map((h) => [h.address, h.name ?? '-', h.kind, h.mac ?? '-', h.ports.map((p) => `${p.port}/${p.protocol} ${[p.service, p.product, p.version].filter(Boolean).join(' ')}`.trim()).join(', ') || (inventory.scanned ? 'none' : 'not scanned')])));
  if (inventory.captured) {
    out.push('');
    out.push(paint(io, 'bold', 'TRAFFIC'));
    out.push(...(inventory.flows.length === 0 ? ['  none captured'] : table(['FROM', 'TO', 'PROTO/PORT', 'PACKETS', 'BYTES'], inventory.flows.map((f) => [f.from, f.to, `${f.protocol}${f.port === undefined ? '' : `/${f.port}`}`, String(f.packets), String(f.bytes)]))));
  }
  const section = (title: string, list: readonly Finding[], none: string): void => {
    out.push('');
    out.push(paint(io, 'bold', title));
    if (list.length === 0) out.push(`  ${none}`);
    for (const f of list) out.push(`  ${paint(io, f.severity === 'critical' ? 'red' : f.severity === 'suspect' ? 'yellow' : 'dim', f.severity.padEnd(8))} ${f.rule.padEnd(22)} ${f.message}`);
  };
  section('FINDINGS (against infra.yml)', report.findings, 'none: every host and open port is one infra.yml declares');
  section(`CHANGES SINCE THE BASELINE${report.baseline === report.run ? '' : ` ${report.baseline}`}`, report.changes, report.baseline === report.run ? 'none: this run is the baseline' : 'none');
  if (report.triage !== null) {
    out.push('');
    out.push(paint(io, 'bold', 'LOCAL TRIAGE (level 2, local model)'));
    if ('unavailable' in report.triage) out.push(`  unavailable: ${report.triage.unavailable}`);
    else {
      const t = report.triage;
      out.push(`  ${paint(io, t.verdict === 'critical' ? 'red' : t.verdict === 'suspect' ? 'yellow' : 'green', t.verdict)} (${t.model}): ${t.summary}`);
      for (const f of t.findings) out.push(`  - ${f}`);
    }
  }
  if (report.escalation !== null) {
    out.push('');
    out.push(paint(io, 'bold', `CLOUD ANALYSIS (level 3, ${report.escalation.task}, ${report.escalation.model}, through the sanitizer)`));
    out.push(...report.escalation.text.split('\n').map((l) => `  ${l}`));
  }
  out.push('');
  out.push(paint(io, 'dim', `Raw outputs, inventory, report and topology (topology.mmd, Mermaid): ${report.folder}`));
  return `${out.join('\n')}\n`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`;
  return [line(head), ...rows.map(line)];
}
