/** `ip -j neigh`: the addresses the probe machine has seen on its link, with their MAC. */
export interface Neighbour {
  readonly address: string;
  readonly mac?: string;
  readonly state: string;
}

export function parseNeighbours(json: string): Neighbour[] {
  const data = JSON.parse(json === '' ? '[]' : json) as unknown;
  if (!Array.isArray(data)) throw new Error('ip -j neigh did not print a JSON array');
  return data.flatMap((e: unknown): Neighbour[] => {
    if (typeof e !== 'object' || e === null) return [];
    const { dst, lladdr, state } = e as { dst?: unknown; lladdr?: unknown; state?: unknown };
    if (typeof dst !== 'string') return [];
    return [{ address: dst, ...(typeof lladdr === 'string' ? { mac: lladdr.toLowerCase() } : {}), state: Array.isArray(state) ? state.join(',') : typeof state === 'string' ? state : '' }];
  });
}
