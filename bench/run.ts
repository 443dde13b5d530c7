// npm run bench: every benchmark, one after another; each prints its numbers.
// reconcile and daemon need the real Incus of scripts/incus-setup.sh (run
// `npm test` once, or the script); firewall needs root and nftables; the
// sanitizer and the gateway need nothing but Node (the gateway's upstream is a fake on loopback).
import { run as daemon } from './daemon.js';
import { run as firewall } from './firewall.js';
import { run as gateway } from './gateway.js';
import { run as reconcile } from './reconcile.js';
import { run as sanitizerAdversarial } from './sanitizer-adversarial.js';
import { run as sanitizerRestore } from './sanitizer-restore.js';
import { run as sanitizer } from './sanitizer.js';
import { run as validate } from './validate.js';

for (const bench of [validate, sanitizer, sanitizerAdversarial, sanitizerRestore, gateway, firewall, reconcile, daemon]) await bench();
