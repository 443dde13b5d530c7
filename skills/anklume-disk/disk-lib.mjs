// @ts-check
// Pure parts of the anklume-disk skill (tested by anklume's unit tests).

/** File system types that hold no data of this machine. */
const PSEUDO = new Set(['proc', 'sysfs', 'devpts', 'cgroup', 'cgroup2', 'mqueue', 'debugfs', 'tracefs', 'securityfs', 'pstore', 'bpf', 'configfs', 'fusectl', 'hugetlbfs', 'autofs', 'binfmt_misc', 'nsfs', 'ramfs', 'efivarfs', 'devtmpfs', 'fuse.lxcfs']);

/**
 * The mounts worth reporting, from /proc/self/mounts (octal escapes decoded),
 * each mount point once.
 * @param {string} text
 * @returns {{ source: string, mount: string, type: string, readOnly: boolean }[]}
 */
export function parseMounts(text) {
  const seen = new Set();
  const out = [];
  for (const line of text.split('\n')) {
    const [source, mount, type, options] = line.split(' ');
    if (source === undefined || mount === undefined || type === undefined || PSEUDO.has(type)) continue;
    const decoded = mount.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (seen.has(decoded)) continue;
    seen.add(decoded);
    out.push({ source, mount: decoded, type, readOnly: (options ?? '').split(',').includes('ro') });
  }
  return out;
}

/**
 * Findings: a writable file system at 90 % or more is critical, at 80 % suspect;
 * inodes the same. Read-only mounts (the pinned OpenClaw install) cannot fill.
 * @param {{ mount: string, readOnly: boolean, usedPercent: number, inodesUsedPercent: number | null }[]} filesystems
 */
export function diskFindings(filesystems) {
  /** @type {{ kind: string, severity: 'suspect' | 'critical', mount: string, detail: string }[]} */
  const findings = [];
  for (const f of filesystems) {
    if (f.readOnly) continue;
    for (const [what, pct] of /** @type {const} */ ([['space', f.usedPercent], ['inodes', f.inodesUsedPercent]])) {
      if (pct === null || pct < 80) continue;
      findings.push({ kind: `${what}-low`, severity: pct >= 90 ? 'critical' : 'suspect', mount: f.mount, detail: `${f.mount} ${what} ${pct}% used` });
    }
  }
  const verdict = findings.some((x) => x.severity === 'critical') ? 'critical' : findings.length > 0 ? 'suspect' : 'normal';
  return { findings, verdict };
}
