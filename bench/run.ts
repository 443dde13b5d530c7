// npm run bench: every benchmark, one after another; each prints its numbers.
// `npm run bench -- reconcile daemon` runs only those.
// reconcile, concurrency and daemon need the real Incus of scripts/incus-setup.sh (run
// `npm test` once, or the script) and take the e2e lock while they create
// instances; firewall needs root and nftables; the sanitizer and the gateway
// need nothing but Node (the gateway's upstream is a fake on loopback).
import { run as concurrency } from './concurrency.js';
import { run as daemon } from './daemon.js';
import { run as firewall } from './firewall.js';
import { run as gateway } from './gateway.js';
import { run as reconcile } from './reconcile.js';
import { run as sanitizerAdversarial } from './sanitizer-adversarial.js';
import { run as sanitizerRestore } from './sanitizer-restore.js';
import { run as sanitizer } from './sanitizer.js';
import { run as validate } from './validate.js';

const benches: Record<string, () => Promise<void>> = { validate, sanitizer, 'sanitizer-adversarial': sanitizerAdversarial, 'sanitizer-restore': sanitizerRestore, gateway, firewall, reconcile, concurrency, daemon };
const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in benches));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')} (known: ${Object.keys(benches).join(', ')})`);
  process.exit(2);
}
for (const [name, bench] of Object.entries(benches)) if (asked.length === 0 || asked.includes(name)) await bench();
