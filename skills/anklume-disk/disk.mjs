#!/usr/bin/env node
// @ts-check
// anklume-disk: disk use of this machine's file systems, as JSON.
import { readFileSync, statfsSync } from 'node:fs';
import process from 'node:process';
import { diskFindings, parseMounts } from './disk-lib.mjs';

/** @param {object} value @param {number} code */
function out(value, code) {
  process.stdout.write(`${JSON.stringify({ probe: 'disk', ...value }, null, 2)}\n`);
  process.exit(code);
}

let mounts;
try {
  mounts = parseMounts(readFileSync('/proc/self/mounts', 'utf8'));
} catch (err) {
  out({ ok: false, error: `cannot read the mount table: ${/** @type {Error} */ (err).message}` }, 1);
}
const filesystems = [];
for (const m of mounts) {
  try {
    const s = statfsSync(m.mount);
    const size = s.blocks * s.bsize;
    if (size === 0) continue;
    const avail = s.bavail * s.bsize;
    const used = size - s.bfree * s.bsize;
    filesystems.push({ mount: m.mount, type: m.type, source: m.source, readOnly: m.readOnly, sizeBytes: size, usedBytes: used, availableBytes: avail, usedPercent: Math.round((used / (used + avail)) * 1000) / 10, inodesUsedPercent: s.files > 0 ? Math.round(((s.files - s.ffree) / s.files) * 1000) / 10 : null });
  } catch {
    // A mount this user cannot stat is not one it can fill either.
  }
}
const { findings, verdict } = diskFindings(filesystems);
out({ ok: true, checkedAt: new Date().toISOString(), verdict, findings, filesystems }, 0);
