// Restoring as a conversation grows: does the cost of restoring an answer
// depend on how many pseudonyms the domain has handed out? A domain's
// sanitizer remembers every pseudonym; each turn adds some and restores an
// answer. Two measures, with 1 000, 2 000, 4 000 and 8 000 distinct pseudonyms:
// - a conversation of that many turns, each turn one new name sanitized and a
//   short streamed answer restored (total CPU time of the restoring): linear
//   means ~2× per doubling (a matcher rebuilt per new pseudonym gives ~4×);
// - one 10 KB answer restored with that many pseudonyms known: ~1× per doubling.
// `npm run bench` runs it; `tsx bench/sanitizer-restore.ts` alone too.
import { pathToFileURL } from 'node:url';
import type { DomainSanitizer } from '../src/sanitizer/index.js';
import { benchSanitizer } from './sanitizer-setup.js';

const COUNTS = [1000, 2000, 4000, 8000];
/** Growth per doubling of the conversation above this means restoring is not linear. */
const MAX_RATIO = 2.2;
const ROUNDS = Number(process.env['RESTORE_ROUNDS'] ?? 3);

const name = (n: number): string => `perso-m${n.toString(36)}`;

/** CPU time (ms, user + system) of `fn`. */
function cpuMs(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

function streamRestore(s: DomainSanitizer, text: string): string {
  const r = s.streamRestorer();
  let out = '';
  for (let i = 0; i < text.length; i += 24) out += r.push(text.slice(i, i + 24));
  return out + r.flush();
}

/** `turns` turns: a new name sanitized, then an answer naming it and two earlier ones restored from a stream. CPU ms of the restoring only. */
function conversation(turns: number): number {
  const s = benchSanitizer('pseudonymize');
  const pseudonyms: string[] = [];
  let restoring = 0;
  for (let k = 0; k < turns; k++) {
    pseudonyms.push(s.sanitize(`please restart ${name(k)} now`).text.split(' ')[2] ?? '');
    const answer = `I restarted ${pseudonyms[k] ?? ''}; ${pseudonyms[k >> 1] ?? ''} and ${pseudonyms[k >> 2] ?? ''} were already up, their logs say nothing new.`;
    restoring += cpuMs(() => {
      if (!streamRestore(s, answer).includes(name(k))) throw new Error(`turn ${k}: ${name(k)} not restored`);
    });
  }
  return restoring;
}

/** One 10 KB answer restored (whole and streamed) by a sanitizer that knows `known` pseudonyms. CPU ms per restore. */
function oneAnswer(known: number): number {
  const s = benchSanitizer('pseudonymize');
  const all = s.sanitize(Array.from({ length: known }, (_, k) => name(k)).join(' ')).text.split(' ');
  let answer = '';
  for (let k = 0; answer.length < 10 * 1024; k += 37) answer += `The service on ${all[k % all.length] ?? ''} is fine, see its journal. `;
  const runs = 50;
  return cpuMs(() => {
    for (let i = 0; i < runs; i++) {
      s.restore(answer);
      streamRestore(s, answer);
    }
  }) / runs;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? NaN;
}

function row(label: string, measure: (count: number) => number): number {
  const runs: number[][] = COUNTS.map(() => []);
  // Interleaved rounds: a noisy moment of the machine falls on every count alike.
  for (let round = 0; round < ROUNDS; round++) COUNTS.forEach((n, i) => runs[i]?.push(measure(n)));
  const times = runs.map(median);
  const ratios = times.slice(1).map((t, i) => t / Math.max(times[i] ?? 1, 0.01));
  const overall = ((times[times.length - 1] ?? NaN) / Math.max(times[0] ?? 1, 0.01)) ** (1 / (times.length - 1));
  console.log(`${label.padEnd(52)}${times.map((t) => `${t.toFixed(2)} ms`.padStart(12)).join('')}  ${overall.toFixed(2)}× (each: ${ratios.map((r) => r.toFixed(2)).join(' ')})`);
  return overall;
}

export function run(): Promise<void> {
  console.log(`\n# sanitizer engine: restoring with many pseudonyms (median CPU time over ${ROUNDS} interleaved rounds, growth per doubling)`);
  console.log(`${'pseudonyms known'.padEnd(52)}${COUNTS.map((n) => `${n}`.padStart(12)).join('')}`);
  // Warm up the JIT on both measures first: the first thousand turns would otherwise count compiling.
  conversation(2000);
  oneAnswer(1000);
  const growth = row('conversation: one new name and one answer per turn', conversation);
  row('one 10 KB answer (restore + stream-restore)', oneAnswer);
  console.log(`conversation growth per doubling: ${growth.toFixed(2)}× (target ≤ ${MAX_RATIO}×; the answer's cost should stay flat)${growth > MAX_RATIO ? '  ABOVE TARGET' : ''}`);
  return Promise.resolve();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
