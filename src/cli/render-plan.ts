import type { Action, KeyChange, Plan } from '../reconcile/action.js';
import { paint, type CliIo, type Style } from './io.js';

const SIGNS: Record<Action['verb'], { sign: string; style: Style }> = {
  create: { sign: '+', style: 'green' },
  update: { sign: '~', style: 'yellow' },
  start: { sign: '>', style: 'blue' },
  delete: { sign: '-', style: 'red' },
  replace: { sign: '!', style: 'red' },
};

function renderChange(c: KeyChange): string {
  // Firewall rules are whole lines: added, or removed from the live table.
  if (c.key === 'rule') return c.to !== undefined ? `+ ${c.to}` : `- ${c.from ?? ''}`;
  if (c.from === undefined) return `${c.key}: + ${c.to ?? ''}`;
  if (c.to === undefined) return `${c.key}: - ${c.from} (unset)`;
  return `${c.key}: ${c.from} → ${c.to}`;
}

/** Every action with its reason, grouped by domain; creations list no keys (all are new). */
export function renderPlan(plan: Plan, io: CliIo): string {
  const groups = [...new Set([...plan.actions.map((a) => a.group), ...plan.notes.map((n) => n.group)])];
  const lines: string[] = [];
  for (const group of groups) {
    lines.push(paint(io, 'bold', group));
    for (const a of plan.actions.filter((x) => x.group === group)) {
      const { sign, style } = SIGNS[a.verb];
      const head = `  ${paint(io, style, `${sign} ${a.verb}`)} ${a.kind} ${a.name}`;
      lines.push(`${head.padEnd(io.color ? 60 : 50)} ${paint(io, 'dim', a.reason)}`);
      if (a.blocked !== undefined) lines.push(`      ${paint(io, 'red', 'blocked:')} ${a.blocked}`);
      // Creations list no keys (all are new), except the firewall: its rules are the point.
      if (a.verb !== 'create' || a.kind === 'firewall') for (const c of a.changes) lines.push(`      ${renderChange(c)}`);
    }
    for (const n of plan.notes.filter((x) => x.group === group)) lines.push(`  ${paint(io, 'dim', '·')} ${n.kind} ${n.name}: ${n.message}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export function planCounts(plan: Plan): Record<Action['verb'] | 'blocked', number> {
  const counts = { create: 0, update: 0, start: 0, delete: 0, replace: 0, blocked: 0 };
  for (const a of plan.actions) {
    if (a.blocked !== undefined) counts.blocked++;
    else counts[a.verb]++;
  }
  return counts;
}

export function planJson(plan: Plan): Record<string, unknown> {
  return {
    actions: plan.actions.map((a) => ({ id: a.id, domain: a.group, kind: a.kind, name: a.name, verb: a.verb, reason: a.reason, changes: a.changes, after: a.after, ...(a.blocked === undefined ? {} : { blocked: a.blocked }) })),
    notes: plan.notes.map((n) => ({ domain: n.group, kind: n.kind, name: n.name, message: n.message })),
    summary: planCounts(plan),
  };
}
