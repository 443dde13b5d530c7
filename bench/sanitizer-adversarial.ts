// Adversarial inputs for the sanitizing engine: does the time grow linearly
// with the input? Each input is built at 1, 2, 4 and 8 MB; the time of each
// size and the ratio to the size before it are printed. Linear time means a
// ratio near 2 per doubling (target ≤ 2.2); a quadratic detector shows ~4.
// `npm run bench` runs it; `tsx bench/sanitizer-adversarial.ts` alone too.
import { pathToFileURL } from 'node:url';
import { adversarialInputs, type AdversarialInput } from './adversarial-inputs.js';
import { benchSanitizer } from './sanitizer-setup.js';

const SIZES_MB = (process.env['ADVERSARIAL_SIZES_MB'] ?? '1,2,4,8').split(',').map(Number);
/** Growth above this per doubling is reported as a failure of the linear-time target. */
const MAX_RATIO = 2.2;

function timeOnce(input: AdversarialInput, bytes: number): number {
  const texts = input.build(bytes);
  // Best of three: the ratio is about the algorithm, not about a GC pause in one run.
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    // A new sanitizer each time: every value is new to it, as in a first request.
    const s = benchSanitizer('pseudonymize');
    const start = performance.now();
    for (const text of texts) s.sanitize(text);
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

export function run(): Promise<void> {
  console.log('\n# sanitizer engine: adversarial inputs (time per size, growth per doubling; target ≤ 2.2×)');
  const header = ['input'.padEnd(44), ...SIZES_MB.map((mb) => `${mb} MB`.padStart(10)), '  growth per doubling'];
  console.log(header.join(''));
  let worst = 0;
  for (const input of adversarialInputs()) {
    // Warm up the JIT on a small one.
    timeOnce(input, 64 * 1024);
    const times = SIZES_MB.map((mb) => timeOnce(input, mb * 1024 * 1024));
    const ratios = times.slice(1).map((t, i) => t / Math.max(times[i] ?? 1, 0.5));
    worst = Math.max(worst, ...ratios);
    const cells = times.map((t) => `${t.toFixed(0)} ms`.padStart(10));
    const flag = ratios.some((r) => r > MAX_RATIO) ? '  ABOVE TARGET' : '';
    console.log(`${input.name.padEnd(44)}${cells.join('')}  ${ratios.map((r) => `${r.toFixed(2)}×`).join(' ')}${flag}`);
  }
  console.log(`worst growth per doubling: ${worst.toFixed(2)}× (target ≤ ${MAX_RATIO}×)`);
  return Promise.resolve();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
