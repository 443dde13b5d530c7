// Benchmark of the firewall: rendering (pure), and against the real nft of
// this host: check + atomic replace + read-back, and the no-op check every
// reconcile makes (list + compare). Needs root and nftables.
import { execFileSync } from 'node:child_process';
import { validateInfraText } from '../src/config/validate.js';
import { applyFirewall, firewallState, observeFirewall, planFirewall } from '../src/controllers/firewall/table.js';
import { Nft } from '../src/firewall/nft.js';
import { renderFirewall } from '../src/firewall/render.js';

function bigInfra(domains: number, policies: number): string {
  const lines = ['project_name: fwbench', 'global:', '  base_subnet: "10.231"', 'domains:'];
  for (let d = 0; d < domains; d++) lines.push(`  d${d}:`, `    subnet_id: ${d + 1}`, '    machines:', `      d${d}-m0: { ip: 10.231.${d + 1}.10 }`);
  lines.push('network_policies:');
  for (let p = 0; p < policies; p++) {
    const from = p % domains;
    const to = (p * 7 + 1) % domains === from ? (from + 1) % domains : (p * 7 + 1) % domains;
    lines.push(`  - { from: ${p % 3 === 0 ? `d${from}-m0` : `d${from}`}, to: d${to}, ports: [${1000 + p}, 443], bidirectional: ${p % 2 === 0} }`);
  }
  return lines.join('\n');
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function timed(runs: number, fn: () => unknown): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

export async function run(): Promise<void> {
  console.log('\n# firewall');
  const r = validateInfraText(bigInfra(50, 200), { file: 'bench.yml', hostNetworks: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.issues.slice(0, 3)));
  const model = r.model;
  const ruleset = renderFirewall(model);
  const rules = ruleset.chains.reduce((n, c) => n + c.rules.length, 0);
  console.log(`render 50 domains, 200 policies (${rules} rules): ${(await timed(50, () => renderFirewall(model))).toFixed(2)} ms median`);

  const nft = new Nft(process.env.ANKLUME_NFT ?? '/usr/sbin/nft');
  const before = await observeFirewall(nft);
  if (!before.ok) {
    console.log(`nft unavailable (${before.error}): apply and check not measured`);
    return;
  }
  // Whatever table was there (a real host's, a test's) is put back at the end, as nft listed it.
  const saved = before.table === null ? null : execFileSync(nft.binary, ['list', 'table', 'inet', 'anklume'], { encoding: 'utf8' });
  const action = planFirewall(ruleset, { ok: true, table: null });
  if (action === null) throw new Error('internal: no action for a missing table');
  try {
    const apply = await timed(10, () => applyFirewall(nft, action.payload));
    console.log(`nft -c + atomic replace + read-back (${rules} rules): ${apply.toFixed(1)} ms median`);
    const check = await timed(20, async () => firewallState(ruleset, await observeFirewall(nft)));
    console.log(`no-op check (nft -j list + compare): ${check.toFixed(1)} ms median`);
  } finally {
    await nft.apply(`table inet anklume\ndelete table inet anklume\n${saved ?? ''}`);
  }
}
