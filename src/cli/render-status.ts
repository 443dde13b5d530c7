import type { Condition, DomainStatus, ObjectStatus, StatusDocument } from '../controllers/status.js';
import { paint, type CliIo, type Style } from './io.js';
import { verifyStatusLine } from './render-verify.js';

/** What one line of the table says of a domain or an object, from its conditions. */
export type StatusLabel = 'Ready' | 'Progressing' | 'Degraded' | 'Unknown' | 'Disabled';

const LABEL_STYLE: Record<StatusLabel, Style> = { Ready: 'green', Progressing: 'yellow', Degraded: 'red', Unknown: 'yellow', Disabled: 'dim' };

function condition(conditions: readonly Condition[], type: Condition['type']): Condition | undefined {
  return conditions.find((c) => c.type === type);
}

/**
 * The worst true condition wins: Degraded, then Progressing, then Ready. With
 * none true the state is Unknown (Incus could not be read, for instance).
 */
export function statusLabel(conditions: readonly Condition[]): Exclude<StatusLabel, 'Disabled'> {
  if (condition(conditions, 'Degraded')?.status === true) return 'Degraded';
  if (condition(conditions, 'Progressing')?.status === true) return 'Progressing';
  if (condition(conditions, 'Ready')?.status === true) return 'Ready';
  return 'Unknown';
}

/** The reason of the condition that decided the label (every condition carries the same verdict today). */
function reasonOf(conditions: readonly Condition[], label: StatusLabel): { reason: string; message: string } {
  const type = label === 'Degraded' || label === 'Progressing' ? label : 'Ready';
  const c = condition(conditions, type) ?? conditions[0];
  return { reason: c?.reason ?? '', message: c?.message ?? '' };
}

/** A table whose cells are padded on their plain text, then painted: colour codes never break alignment. */
type Cell = { readonly text: string; readonly style?: Style };

function table(rows: readonly (readonly Cell[])[], io: CliIo, indent: string): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.text.length)));
  return rows.map((row) => {
    const cells = row.map((cell, i) => {
      const painted = cell.style === undefined ? cell.text : paint(io, cell.style, cell.text);
      // The last cell is not padded: no trailing blanks.
      return i === row.length - 1 ? painted : painted + ' '.repeat((widths[i] ?? 0) - cell.text.length);
    });
    return indent + cells.join('  ');
  });
}

function headerLines(doc: StatusDocument, io: CliIo): string[] {
  const lines: [string, string][] = [];
  const { daemon, config, incus, events, queue, firewall, aiAccess } = doc;

  if (daemon.running) {
    const details = [daemon.pid === undefined ? undefined : `pid ${daemon.pid}`, daemon.startedAt === undefined ? undefined : `since ${daemon.startedAt}`].filter((s) => s !== undefined);
    lines.push(['daemon', `${paint(io, 'green', 'running')}${details.length > 0 ? ` (${details.join(', ')})` : ''}`]);
  } else {
    lines.push(['daemon', paint(io, 'yellow', daemon.message ?? 'anklumed is not running')]);
  }

  if (config.valid) {
    lines.push(['config', `${config.file}: ${paint(io, 'green', 'valid')}`]);
  } else {
    const n = config.errors.length;
    const kept = daemon.running && doc.domains.length > 0 ? '; anklumed still applies the last valid version' : '';
    lines.push(['config', `${config.file}: ${paint(io, 'red', `INVALID (${n} error${n === 1 ? '' : 's'})`)}${kept}`]);
  }

  if (events === null) lines.push(['events', paint(io, 'dim', 'not watched (no daemon)')]);
  else {
    const detail = `${events.reconnects} reconnect${events.reconnects === 1 ? '' : 's'}, last event ${events.lastEventAt ?? 'never'}`;
    lines.push(['events', `${events.connected ? paint(io, 'green', 'connected') : paint(io, 'yellow', 'disconnected')} (${detail})`]);
  }

  lines.push(['queue', queue === null ? paint(io, 'dim', 'none (no daemon)') : `${queue.depth} queued, ${queue.inFlight} in flight`]);

  if (incus.reachable && incus.error === undefined) lines.push(['incus', `${incus.endpoint}: ${paint(io, 'green', 'reachable')}`]);
  else if (incus.reachable) lines.push(['incus', `${incus.endpoint}: ${paint(io, 'red', incus.error ?? '')}`]);
  else lines.push(['incus', `${incus.endpoint}: ${paint(io, 'red', `NOT reachable${incus.error === undefined ? '' : `: ${incus.error}`}`)}`]);

  const checked = firewall.checkedAt === null ? '' : paint(io, 'dim', ` (checked ${firewall.checkedAt})`);
  if (doc.cluster?.clustered === true) {
    const members = doc.cluster.members.map((m) => `${m.name} ${m.status === 'Online' ? paint(io, 'green', m.status) : paint(io, 'red', m.status)}${m.message === '' || m.status === 'Online' ? '' : ` (${m.message})`}`);
    lines.push(['cluster', `${doc.cluster.members.length} members: ${members.join(', ')}`]);
  }
  lines.push(['firewall', `${firewall.managed ? paint(io, 'green', 'in sync') : paint(io, 'red', firewall.state)}: ${firewall.message}${checked}`]);

  const since = aiAccess.since === undefined || aiAccess.since === null ? '' : ` since ${aiAccess.since}`;
  lines.push(['AI access', aiAccess.policy === 'open' ? aiAccess.source : `exclusive, held by ${aiAccess.holder ?? 'nobody'}${since}, from ${aiAccess.source}`]);
  if (aiAccess.phase !== undefined && aiAccess.phase !== null) lines.push(['AI switch', paint(io, 'yellow', `to ${aiAccess.wanted ?? 'nobody'}: in phase ${aiAccess.phase}`)]);
  else if (aiAccess.wanted !== undefined && aiAccess.wanted !== aiAccess.holder) lines.push(['AI switch', paint(io, 'yellow', `${aiAccess.wanted ?? 'nobody'} wanted, not granted yet`)]);
  if (aiAccess.lastFailure !== undefined) lines.push(['AI switch', paint(io, 'red', `last switch failed: ${aiAccess.lastFailure}`)]);
  for (const v of aiAccess.vram ?? []) lines.push(['VRAM', `${v.instance} GPU ${v.gpu}: ${v.usedMiB} / ${v.totalMiB} MiB used`]);
  if (aiAccess.vramError !== undefined) lines.push(['VRAM', paint(io, 'red', aiAccess.vramError)]);
  for (const line of aiAccess.lastSwitches ?? []) lines.push(['switched', paint(io, 'dim', line)]);
  // Only a daemon with --verify-every has one; null until its first run ends.
  if (doc.verify !== undefined) lines.push(['verify', verifyStatusLine(doc.verify, io)]);

  const width = Math.max(...lines.map(([label]) => label.length));
  const out = lines.map(([label, value]) => `${label.padEnd(width)}  ${value}`);
  // Config errors are file:line:col lines: one each, under the config line.
  if (!config.valid) {
    const at = out.findIndex((l) => l.startsWith('config'));
    out.splice(at + 1, 0, ...config.errors.map((e) => `${' '.repeat(width + 2)}${paint(io, 'red', e)}`));
  }
  return out;
}

function domainLabel(d: DomainStatus): StatusLabel {
  return d.enabled ? statusLabel(d.conditions) : 'Disabled';
}

/**
 * Instances always; other objects only when they have something to say
 * (Degraded or Progressing): a healthy bridge is noise, and so is "unknown"
 * repeated under a domain whose line already says it.
 */
function shownObjects(d: DomainStatus): ObjectStatus[] {
  // An assistant's cron jobs too, when it has any (or had): how many, and how the last sync went.
  return d.objects.filter((o) => o.kind === 'instance' || (o.cron !== undefined && (o.cron.declared > 0 || o.cron.lastSync !== null)) || ['Degraded', 'Progressing'].includes(statusLabel(o.conditions)));
}

function objectRow(o: ObjectStatus): Cell[] {
  const label = statusLabel(o.conditions);
  const { reason, message } = reasonOf(o.conditions, label);
  return [
    { text: o.kind === 'instance' ? o.name : `${o.kind} ${o.name}` },
    { text: o.ip ?? '-' },
    { text: o.state ?? '-' },
    { text: label, style: LABEL_STYLE[label] },
    // The message says what is wrong or pending; for Ready and Unknown the reason says it all.
    { text: (label === 'Degraded' || label === 'Progressing') && message !== '' ? `${reason}: ${message}` : o.cron !== undefined ? `${reason}: ${o.cron.summary}` : reason },
  ];
}

/**
 * `anklumectl status` as text (pure): a header (daemon, config, events, queue,
 * Incus, firewall, AI access), then a line per domain and, under it, a line per
 * instance and per object that is not Ready; notes dimmed. Colour only when
 * `io.color`. An assistant's cron jobs get a line of their own (count and last sync).
 */
export function renderStatus(doc: StatusDocument, io: CliIo): string {
  const lines = headerLines(doc, io);
  lines.push('');
  if (doc.domains.length === 0) {
    lines.push(doc.config.valid ? `No domains in ${doc.config.file}.` : `No domains: ${doc.config.file} is invalid, so there is no model to show.`);
    return `${lines.join('\n')}\n`;
  }

  const domainRows: Cell[][] = [
    ['DOMAIN', 'TRUST', 'SUBNET', 'BRIDGE', 'STATUS', 'REASON'].map((text) => ({ text, style: 'bold' as const })),
    ...doc.domains.map((d): Cell[] => {
      const label = domainLabel(d);
      const { reason } = reasonOf(d.conditions, label);
      const retries = d.retries > 0 ? ` (${d.retries} retr${d.retries === 1 ? 'y' : 'ies'})` : '';
      return [{ text: d.name, style: 'bold' }, { text: d.trustLevel }, { text: d.subnet }, { text: d.bridge }, { text: label, style: LABEL_STYLE[label] }, { text: `${reason}${retries}` }];
    }),
  ];
  const [head = '', ...domainLines] = table(domainRows, io, '');
  // One alignment for the object lines of every domain, so the columns line up down the screen.
  const objectLines = table(doc.domains.flatMap((d) => shownObjects(d).map(objectRow)), io, '  ');

  lines.push(head);
  let next = 0;
  doc.domains.forEach((d, i) => {
    lines.push(domainLines[i] ?? '');
    for (let k = 0; k < shownObjects(d).length; k++) lines.push(objectLines[next++] ?? '');
    for (const note of d.notes) lines.push(`  ${paint(io, 'dim', `· ${note}`)}`);
  });
  return `${lines.join('\n')}\n`;
}
