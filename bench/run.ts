// npm run bench: every benchmark, one after another; each prints its numbers.
// They need the real Incus of scripts/incus-setup.sh (run `npm test` once, or the script).
import { run as daemon } from './daemon.js';
import { run as reconcile } from './reconcile.js';
import { run as validate } from './validate.js';

for (const bench of [validate, reconcile, daemon]) await bench();
