import type { Inventory } from './inventory.js';

/**
 * Who talks to whom, as a Mermaid flowchart (renders on most forges and in
 * editors): one node per address seen, one edge per flow with its port,
 * packets and bytes. Names come from infra.yml and Incus, so they are quoted.
 */
export function mermaidTopology(inventory: Inventory): string {
  const id = (address: string): string => `a${address.replace(/[^0-9a-f]/gi, '_')}`;
  const label = (text: string): string => text.replace(/["\\<>]/g, '');
  const lines = ['flowchart LR'];
  const named = new Map(inventory.hosts.map((h) => [h.address, h]));
  const nodes = new Set<string>();
  const node = (address: string): void => {
    if (nodes.has(address)) return;
    nodes.add(address);
    const h = named.get(address);
    const text = h?.name === undefined ? address : `${label(h.name)}<br/>${address}`;
    // What infra.yml does not declare stands out as a hexagon.
    const [open, close] = h?.kind === 'unknown' || h?.kind === 'instance' ? ['{{"', '"}}'] : ['["', '"]'];
    lines.push(`  ${id(address)}${open}${text}${close}`);
  };
  for (const h of inventory.hosts) node(h.address);
  for (const f of inventory.flows) {
    node(f.from);
    node(f.to);
    lines.push(`  ${id(f.from)} -->|"${f.protocol}${f.port === undefined ? '' : `/${f.port}`} · ${f.packets} pkts · ${f.bytes} B"| ${id(f.to)}`);
  }
  return `${lines.join('\n')}\n`;
}
