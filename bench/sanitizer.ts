// Benchmark of the sanitizing engine (pure, no network): MB/s on realistic inputs,
// in mask and pseudonymize mode, plus restoring and stream-restoring an answer.
import { readFileSync } from 'node:fs';
import { validateInfraText } from '../src/config/validate.js';
import { buildDictionary, createSanitizer, MemoryMappingStore, type DomainSanitizer, type SanitizeMode } from '../src/sanitizer/index.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/sanitizer/${name}`, import.meta.url), 'utf8');

/** A ~200 KB coding-assistant conversation: the same kind of turn, over and over, as a long session re-sends its history. */
function conversation(bytes: number): string {
  const turn = fixture('conversation-turn.md');
  const parts: string[] = [];
  for (let n = 0, size = 0; size < bytes; n++) {
    const part = turn.replaceAll('Node 20.19.5', `Node 20.19.${n % 10}`).replaceAll('42:27', `${40 + (n % 50)}:27`);
    parts.push(part);
    size += part.length;
  }
  return parts.join('\n');
}

function sanitizer(mode: SanitizeMode): DomainSanitizer {
  const result = validateInfraText(readFileSync(new URL('../infra.example.yml', import.meta.url), 'utf8'), { file: 'infra.example.yml' });
  if (!result.ok) throw new Error('infra.example.yml is invalid');
  return createSanitizer({ domain: 'pro', mode, dictionary: buildDictionary(result.model), secret: new Uint8Array(32).fill(1), mapping: new MemoryMappingStore() });
}

function measure(label: string, text: string, fn: (text: string) => unknown): void {
  const bytes = Buffer.byteLength(text);
  // Warm up (JIT, and in pseudonymize mode the first sight of each value).
  const warmEnd = performance.now() + 200;
  while (performance.now() < warmEnd) fn(text);
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < 1000) {
    fn(text);
    runs++;
    elapsed = performance.now() - start;
  }
  const perRun = elapsed / runs;
  const mbps = bytes / 1e6 / (perRun / 1000);
  console.log(`${label.padEnd(52)} ${(bytes / 1024).toFixed(1).padStart(7)} KB  ${perRun.toFixed(3).padStart(8)} ms  ${mbps.toFixed(1).padStart(7)} MB/s`);
}

export function run(): Promise<void> {
  console.log('\n# sanitizer engine');
  const inputs: [string, string][] = [
    ['Ansible playbook + inventory', fixture('playbook.yml')],
    ['nmap output', fixture('nmap.txt')],
    ['incus list / config show output', fixture('incus-list.txt')],
    ['coding-assistant conversation', conversation(200 * 1024)],
  ];
  for (const mode of ['mask', 'pseudonymize'] as const) {
    const s = sanitizer(mode);
    for (const [label, text] of inputs) measure(`sanitize ${mode}: ${label}`, text, (t) => s.sanitize(t));
  }
  const s = sanitizer('pseudonymize');
  const answer = s.sanitize(conversation(200 * 1024)).text;
  measure('restore: pseudonymized 200 KB answer', answer, (t) => s.restore(t));
  measure('stream-restore: same answer in 20-byte fragments', answer, (t) => {
    const r = s.streamRestorer();
    let out = '';
    for (let i = 0; i < t.length; i += 20) out += r.push(t.slice(i, i + 20));
    return out + r.flush();
  });
  return Promise.resolve();
}
