import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSkills } from '../../src/controllers/service/inputs.js';
import { renderInventory } from '../../src/controllers/service/openclaw-inventory.js';
import { diskFindings, parseMounts } from '../../skills/anklume-disk/disk-lib.mjs';
import { compareScan, parseNmapXml, portSpec, type Inventory } from '../../skills/anklume-scan/scan-lib.mjs';
import { domainOf, openclawModel } from '../helpers/openclaw-infra.js';

// Real nmap 7 output (`nmap -oX - -sT -sV --version-light -p 18181-18183 127.0.0.1`) captured on
// loopback: before, an SSH banner on 18183; after, two HTTP servers on 18181-18182 and 18183
// closed; then 18181 answering as SSH instead of HTTP.
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/nmap/${name}.xml`, import.meta.url), 'utf8');
const [before, after, changed] = ['before', 'after', 'service-changed'].map((n) => parseNmapXml(fixture(n))) as [ReturnType<typeof parseNmapXml>, ReturnType<typeof parseNmapXml>, ReturnType<typeof parseNmapXml>];

const inventory = (ports: number[] | 'all' = [18183]): Inventory => ({
  domain: 'pro',
  subnet: '127.0.0.1/32',
  gateway: '127.0.0.254',
  scanner: '127.0.0.1',
  hosts: [{ ip: '127.0.0.1', name: 'pro-claw', roles: ['openclaw_server'], ports }],
});

describe('anklume-scan on real nmap output', () => {
  it('reads the hosts that are up and only their open ports, with the services nmap named', () => {
    expect(before).toEqual([{ ip: '127.0.0.1', hostnames: ['localhost'], ports: [{ port: 18183, protocol: 'tcp', service: 'ssh', product: 'OpenSSH', version: '9.6p1 Debian 3' }] }]);
    expect(after[0]?.ports.map((p) => `${p.port} ${p.service} ${p.product}`)).toEqual(['18181 http SimpleHTTPServer', '18182 http SimpleHTTPServer']);
    expect(() => parseNmapXml('<html>not nmap</html>')).toThrow(/not nmap XML/);
  });

  it('reports new ports and a closed one since the baseline, suspect when no policy opens them', () => {
    const r = compareScan({ scan: after, inventory: inventory([18183, 18182]), baseline: { scannedAt: 't0', hosts: before } });
    expect(r.findings.map((f) => `${f.kind} ${f.port ?? ''} ${f.severity}`)).toEqual(['new-port 18181 suspect', 'new-port 18182 info', 'closed-port 18183 suspect']);
    expect(r.verdict).toBe('suspect');
  });

  it('reports a changed service on a port that stayed open', () => {
    const r = compareScan({ scan: changed, inventory: inventory('all'), baseline: { scannedAt: 't1', hosts: after } });
    expect(r.findings).toEqual([{ kind: 'service-changed', severity: 'suspect', ip: '127.0.0.1', port: 18181, detail: '18181/tcp was "http SimpleHTTPServer 0.6", now "ssh OpenSSH 9.6p1 Debian 3"' }]);
  });

  it('says nothing when nothing changed: the same scan against itself is normal', () => {
    expect(compareScan({ scan: after, inventory: inventory(), baseline: { scannedAt: 't1', hosts: after } })).toEqual({ findings: [], verdict: 'normal', undeclared: [] });
  });

  it('without a baseline, judges against the inventory: an undeclared host is suspect, a declared machine that is gone too', () => {
    const undeclared: Inventory = { ...inventory(), hosts: [{ ip: '127.0.0.9', name: 'pro-db', roles: [], ports: [5432] }] };
    const r = compareScan({ scan: before, inventory: undeclared, baseline: null });
    expect(r.findings.map((f) => `${f.kind} ${f.ip} ${f.severity}`)).toEqual(['new-host 127.0.0.1 suspect', 'host-gone 127.0.0.9 suspect']);
    expect(r.undeclared).toEqual(['127.0.0.1']);
    // The first scan of a domain as declared is quiet.
    expect(compareScan({ scan: before, inventory: inventory(), baseline: null }).verdict).toBe('normal');
  });

  it("scans the well-known ports and every port the inventory expects; the bridge's host side may stay silent", () => {
    expect(portSpec(inventory([18183, 80]))).toMatch(/^1-1024,.*,18183,18789,27017$/);
    const withGateway: Inventory = { ...inventory(), hosts: [...inventory().hosts, { ip: '127.0.0.254', name: 'gateway', roles: ['host'], ports: 'all' }] };
    expect(compareScan({ scan: before, inventory: withGateway, baseline: null }).findings).toEqual([]);
  });

  it('prints a JSON error, not a crash, when nmap is missing, and keeps no baseline then', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anklume-scan-'));
    writeFileSync(join(dir, 'inventory.json'), JSON.stringify(inventory()));
    const r = spawnSync(process.execPath, [new URL('../../skills/anklume-scan/scan.mjs', import.meta.url).pathname], {
      env: { PATH: '/nonexistent', ANKLUME_INVENTORY: join(dir, 'inventory.json'), ANKLUME_SCAN_BASELINE: join(dir, 'baseline.json') },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ probe: 'scan', ok: false, missing: 'nmap', error: "nmap is not installed on this machine (nmap not found): install it in the assistant's instance to scan" });
    expect(() => readFileSync(join(dir, 'baseline.json'))).toThrow();
  });
});

describe('anklume-disk', () => {
  it('keeps real file systems once each, decoding escaped mount points', () => {
    const mounts = parseMounts(['/dev/vda / ext4 rw,relatime 0 0', 'proc /proc proc rw 0 0', 'tmpfs /run tmpfs rw 0 0', '/dev/vdb /mnt/my\\040data xfs ro 0 0', '/dev/vda / ext4 rw 0 0', ''].join('\n'));
    expect(mounts).toEqual([
      { source: '/dev/vda', mount: '/', type: 'ext4', readOnly: false },
      { source: 'tmpfs', mount: '/run', type: 'tmpfs', readOnly: false },
      { source: '/dev/vdb', mount: '/mnt/my data', type: 'xfs', readOnly: true },
    ]);
  });

  it('is suspect from 80 %, critical from 90 %, for space or inodes, and ignores read-only mounts', () => {
    expect(diskFindings([{ mount: '/', readOnly: false, usedPercent: 79.9, inodesUsedPercent: 10 }]).verdict).toBe('normal');
    expect(diskFindings([{ mount: '/', readOnly: false, usedPercent: 85, inodesUsedPercent: 10 }]).findings).toEqual([{ kind: 'space-low', severity: 'suspect', mount: '/', detail: '/ space 85% used' }]);
    expect(diskFindings([{ mount: '/var', readOnly: false, usedPercent: 20, inodesUsedPercent: 95 }]).verdict).toBe('critical');
    expect(diskFindings([{ mount: '/opt/openclaw', readOnly: true, usedPercent: 100, inodesUsedPercent: 100 }]).verdict).toBe('normal');
  });

  it('runs on this machine and prints one JSON object', () => {
    const r = spawnSync(process.execPath, [new URL('../../skills/anklume-disk/disk.mjs', import.meta.url).pathname], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { probe: string; ok: boolean; filesystems: { mount: string }[] };
    expect(out).toMatchObject({ probe: 'disk', ok: true });
    expect(out.filesystems.map((f) => f.mount)).toContain('/');
  });
});

describe('what anklume pushes for the skills', () => {
  it('reads every skill of the repository, each with its SKILL.md', async () => {
    const files = (await readSkills()).map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['anklume-scan/SKILL.md', 'anklume-scan/scan.mjs', 'anklume-scan/scan-lib.mjs', 'anklume-disk/SKILL.md', 'anklume-disk/disk.mjs']));
    await expect(readSkills('/nonexistent/skills')).rejects.toThrow(/skills folder \/nonexistent\/skills cannot be read/);
  });

  it("declares the domain's machines with the ports expected open, and nothing of other domains", () => {
    const m = openclawModel();
    const inv = renderInventory(m, domainOf(m, 'pro'));
    expect(inv).toEqual({
      domain: 'pro',
      subnet: '10.110.1.0/24',
      gateway: '10.110.1.254',
      domainView: 'http://10.110.1.254:8187',
      scanner: '10.110.1.5',
      hosts: [
        { ip: '10.110.1.5', name: 'pro-openclaw', roles: ['openclaw_server'], ports: [18789] },
        { ip: '10.110.1.254', name: 'gateway', roles: ['host'], ports: 'all' },
      ],
    });
  });
});
