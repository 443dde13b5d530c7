import { TABLE_FAMILY, TABLE_NAME, type Chain, type Match, type NamedSet, type Rule, type Ruleset } from './ruleset.js';

/** One match in nft syntax. Ports are sorted: nft lists set elements in order. */
export function matchText(m: Match): string {
  switch (m.kind) {
    case 'iifname':
    case 'oifname':
      return `${m.kind} ${m.op === '!=' ? '!= ' : ''}"${m.value}"`;
    case 'iifname-set':
    case 'oifname-set':
      return `${m.kind === 'iifname-set' ? 'iifname' : 'oifname'} ${m.op === '!=' ? '!= ' : ''}@${m.set}`;
    case 'saddr':
    case 'daddr':
      return `ip ${m.kind} ${m.op === '!=' ? '!= ' : ''}${m.value}`;
    case 'ct-state':
      return `ct state ${m.states.join(',')}`;
    case 'ct-mark':
      return `ct mark ${m.value}`;
    case 'ct-mark-set':
      return `ct mark @${m.set}`;
    case 'dport': {
      const ports = [...m.ports].sort((a, b) => a - b);
      return `${m.protocol} dport ${ports.length === 1 ? String(ports[0]) : `{ ${ports.join(', ')} }`}`;
    }
  }
}

export function ruleText(rule: Rule): string {
  const parts = [...rule.matches.map(matchText), ...(rule.mark === undefined ? [] : [`ct mark set ${rule.mark}`]), rule.verdict === 'keep-source' ? 'snat ip to ip saddr' : rule.verdict];
  if (rule.comment !== undefined && rule.comment !== '') parts.push(`comment "${rule.comment}"`);
  return parts.join(' ');
}

function priorityText(chain: Pick<Chain, 'type' | 'priority'>): string {
  const name = chain.type === 'nat' ? 'srcnat' : 'filter';
  if (chain.priority === 0) return name;
  return chain.priority < 0 ? `${name} - ${-chain.priority}` : `${name} + ${chain.priority}`;
}

export function chainHeader(chain: Pick<Chain, 'type' | 'hook' | 'priority' | 'policy'>): string {
  return `type ${chain.type} hook ${chain.hook} priority ${priorityText(chain)}; policy ${chain.policy};`;
}

export function setLines(set: NamedSet): string[] {
  const lines = [`set ${set.name} {`, `\ttype ${set.type}`];
  if (set.elements.length > 0) lines.push(`\telements = { ${setElements(set).join(', ')} }`);
  lines.push('}');
  return lines;
}

/** A set's elements as nft writes them, sorted as nft lists them: quoted names, or marks as numbers. */
export function setElements(set: NamedSet): string[] {
  if (set.type === 'mark') return [...set.elements].map(Number).sort((a, b) => a - b).map(String);
  return [...set.elements].sort().map((e) => `"${e}"`);
}

/** The table body, one construct per line: what `plan` diffs and what the script embeds. */
export function tableLines(ruleset: Ruleset): string[] {
  const lines: string[] = [];
  for (const set of ruleset.sets) lines.push(...setLines(set));
  for (const chain of ruleset.chains) {
    lines.push(`chain ${chain.name} {`, `\t${chainHeader(chain)}`, ...chain.rules.map((r) => `\t${ruleText(r)}`), '}');
  }
  return lines;
}

/**
 * The script `nft -f` loads: the whole table replaced in one transaction.
 * Declaring the table first makes the delete valid when it does not exist
 * yet; nothing outside `inet anklume` is named, so nothing else is touched.
 */
export function nftScript(ruleset: Ruleset): string {
  const body = tableLines(ruleset).map((l) => `\t${l}`);
  return [
    `table ${TABLE_FAMILY} ${TABLE_NAME}`,
    `delete table ${TABLE_FAMILY} ${TABLE_NAME}`,
    `table ${TABLE_FAMILY} ${TABLE_NAME} {`,
    ...body,
    '}',
    '',
  ].join('\n');
}
