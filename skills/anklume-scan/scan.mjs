#!/usr/bin/env node
// @ts-check
// anklume-scan: scan this domain's own subnet with nmap, compare with the
// inventory anklume declared and the last baseline, print JSON, keep the new
// baseline. Always prints one JSON object, errors included (exit 1 then).
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { compareScan, parseNmapXml, portSpec } from './scan-lib.mjs';

const INVENTORY = process.env.ANKLUME_INVENTORY ?? '/etc/openclaw/anklume-inventory.json';
const BASELINE = process.env.ANKLUME_SCAN_BASELINE ?? `${process.env.OPENCLAW_STATE_DIR ?? '/var/lib/openclaw'}/anklume/scan-baseline.json`;
const NMAP = process.env.ANKLUME_NMAP ?? 'nmap';

/** @param {object} value @param {number} code */
function out(value, code) {
  process.stdout.write(`${JSON.stringify({ probe: 'scan', ...value }, null, 2)}\n`);
  process.exit(code);
}

/** @param {string} path */
function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

let inventory;
try {
  inventory = readJson(INVENTORY);
} catch (err) {
  out({ ok: false, error: `cannot read the inventory anklume declared at ${INVENTORY}: ${/** @type {Error} */ (err).message}` }, 1);
}

// Unprivileged (the assistant runs as its own user): TCP connect scan; a refused
// connection still proves a host is up. --version-light names services cheaply.
const args = ['-oX', '-', '-sT', '-sV', '--version-light', '-T4', '-p', portSpec(inventory), inventory.subnet];
const run = spawnSync(NMAP, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60 * 1000 });
if (run.error !== undefined) {
  const missing = /** @type {NodeJS.ErrnoException} */ (run.error).code === 'ENOENT';
  out({ ok: false, error: missing ? `nmap is not installed on this machine (${NMAP} not found): install it in the assistant's instance to scan` : `nmap failed to start: ${run.error.message}`, missing: missing ? 'nmap' : undefined }, 1);
}
if (run.status !== 0) out({ ok: false, error: `nmap exited ${run.status}: ${run.stderr.trim().slice(-500)}` }, 1);

let baseline = null;
try {
  baseline = readJson(BASELINE);
} catch {
  // First scan: the inventory stands in for a baseline.
}
const scan = parseNmapXml(run.stdout);
const result = compareScan({ scan, inventory, baseline });
const scannedAt = new Date().toISOString();
mkdirSync(dirname(BASELINE), { recursive: true });
writeFileSync(`${BASELINE}.tmp`, JSON.stringify({ scannedAt, hosts: scan }, null, 2));
renameSync(`${BASELINE}.tmp`, BASELINE);
out({ ok: true, domain: inventory.domain, subnet: inventory.subnet, scannedAt, previousScanAt: baseline?.scannedAt ?? null, hosts: scan.length, verdict: result.verdict, findings: result.findings, undeclaredHosts: result.undeclared }, 0);
