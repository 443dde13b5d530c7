// Benchmark of infra.yml validation (pure, no Incus): the example, and a large file.
import { readFileSync } from 'node:fs';
import { validateInfraText } from '../src/config/validate.js';

function time(label: string, text: string, runs: number): void {
  for (let i = 0; i < 20; i++) validateInfraText(text, { file: 'bench.yml' });
  const t = performance.now();
  for (let i = 0; i < runs; i++) validateInfraText(text, { file: 'bench.yml' });
  console.log(`${label}: ${((performance.now() - t) / runs).toFixed(2)} ms per validation (${runs} runs)`);
}

export function run(): Promise<void> {
  console.log('\n# validate');
  time('infra.example.yml (6 domains, 8 machines)', readFileSync(new URL('../infra.example.yml', import.meta.url), 'utf8'), 300);
  const lines = ['domains:'];
  for (let d = 0; d < 50; d++) {
    lines.push(`  d${d}:`, '    trust_level: trusted', '    machines:');
    for (let m = 0; m < 20; m++) lines.push(`      d${d}-m${m}: { roles: [base], config: { limits.cpu: 2 } }`);
  }
  time('50 domains, 1000 machines', lines.join('\n'), 20);
  return Promise.resolve();
}
