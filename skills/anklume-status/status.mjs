#!/usr/bin/env node
// @ts-check
// anklume-status: this domain's state from anklume's domain view, as JSON.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { statusFindings } from './status-lib.mjs';

const INVENTORY = process.env.ANKLUME_INVENTORY ?? '/etc/openclaw/anklume-inventory.json';

/** @param {object} value @param {number} code */
function out(value, code) {
  process.stdout.write(`${JSON.stringify({ probe: 'status', ...value }, null, 2)}\n`);
  process.exit(code);
}

let base;
try {
  base = JSON.parse(readFileSync(INVENTORY, 'utf8')).domainView;
} catch (err) {
  out({ ok: false, error: `cannot read the inventory anklume declared at ${INVENTORY}: ${/** @type {Error} */ (err).message}` }, 1);
}
if (typeof base !== 'string') out({ ok: false, error: 'the domain view is turned off in infra.yml (global.domain_view.enabled)' }, 1);

/** @param {string} path */
async function get(path) {
  const res = await globalThis.fetch(`${base}${path}`, { signal: globalThis.AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${path} answered ${res.status}`);
  return res.json();
}

try {
  // Each answer is the view's envelope (apiVersion, domain, generatedAt) around its read: `summary`, `instances`, `conditions`.
  const [domain, instances, conditions] = await Promise.all([get('/v1/domain'), get('/v1/instances'), get('/v1/conditions')]);
  if (!Array.isArray(instances?.instances) || typeof conditions?.conditions !== 'object' || conditions.conditions === null) throw new Error('its answers are not the domain view\'s (no instances list or conditions)');
  const { findings, verdict } = statusFindings(instances.instances, conditions.conditions);
  out({ ok: true, checkedAt: new Date().toISOString(), domain: domain?.summary ?? domain, verdict, findings, instances: instances.instances }, 0);
} catch (err) {
  out({ ok: false, error: `the domain view at ${base} did not answer: ${/** @type {Error} */ (err).message}` }, 1);
}
