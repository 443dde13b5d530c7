import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSanitizer, MemoryMappingStore, type DomainSanitizer, type IdentifierDictionary, type SanitizeMode } from '../../src/sanitizer/index.js';
import { SECRET } from './sanitizer-helpers.js';

// Real output of real tools, run in Incus test containers (see
// test/fixtures/sanitizer/README.md): a project s7d2pro, a bridge net-s7d2pro
// (10.187.93.0/24, fd42:5a17:d2c0:7e1b::/64), instances s7d2pro-web and
// s7d2pro-db; an Ansible inventory naming domains pro, perso and client.

const DIR = new URL('../fixtures/sanitizer/', import.meta.url);
const FILES = readdirSync(DIR).filter((f) => f !== 'README.md').sort();
const read = (name: string): string => readFileSync(new URL(name, DIR), 'utf8');

const DICTIONARY: IdentifierDictionary = {
  domains: ['s7d2pro', 'pro', 'perso', 'client'],
  projects: ['s7d2pro'],
  bridges: ['net-s7d2pro'],
  instances: ['s7d2pro-web', 's7d2pro-db'],
  addresses: ['10.187.93.1', '10.187.93.88', '10.187.93.162'],
  subnets: ['10.187.93.0/24', 'fd42:5a17:d2c0:7e1b::/64'],
  fqdns: [],
};

function sanitizer(mode: SanitizeMode): DomainSanitizer {
  return createSanitizer({ domain: 's7d2pro', mode, dictionary: DICTIONARY, secret: SECRET, mapping: new MemoryMappingStore() });
}

/** What must never leave, whatever the file. */
const NEVER = [
  /s7d2pro/, // project, bridge, instances, volumes, .incus names
  /10\.187\.93\./, // the bridge's IPv4 subnet, tcpdump's addr.port included
  /fd42:5a17/i, // Incus's ULA prefix
  /fe70:de4|fe67:8a8f|fe31:546d/i, // EUI-64 interface identifiers carry the MAC (its vendor part, 1266:6aff, is kept)
  /10:66:6a:(?:70:0d:e4|67:8a:8f|31:54:6d)/i, // the MACs (Incus's 10:66:6a)
  /Sup3r-s7d2/, // a password in the inventory
  /10\.0p2|deb13u4/, // exact service versions
  /secret roadmap/, // an HTTP body, in captures
  /0abb 5d/, // the addresses again, in hex, inside a dump
];

describe('real tool output', () => {
  for (const mode of ['mask', 'pseudonymize'] as const) {
    it.each(FILES)(`${mode}: nothing sensitive of %s leaves`, (file) => {
      const out = sanitizer(mode).sanitize(read(file)).text;
      for (const re of NEVER) expect(out, `${file} still matches ${re}`).not.toMatch(re);
    });
  }

  it('restores every file without credentials, packet contents or versions exactly', () => {
    const s = sanitizer('pseudonymize');
    const oneWay = new Set(['tcpdump-X.txt', 'tcpdump-A.txt', 'tshark-x.txt', 'tshark-V.txt', 'nmap-sV.txt', 'nmap-6-sV.txt', 'nmap-sV.xml', 'ansible-inventory.txt', 'ansible-playbook.txt', 'ansible-playbook-v.txt', 'journalctl-ssh.txt']);
    for (const file of FILES.filter((f) => !oneWay.has(f))) {
      const text = read(file);
      expect(s.restore(s.sanitize(text).text), file).toBe(text);
    }
  });

  it('gives one address the same fake in every file of a conversation, and keeps subnets subnets', () => {
    const s = sanitizer('pseudonymize');
    const outs = FILES.map((f) => s.sanitize(read(f)).text);
    const fake = (original: string): string => s.sanitize(original).text;
    const db4 = fake('10.187.93.88');
    const web4 = fake('10.187.93.162');
    expect(db4.split('.').slice(0, 3)).toEqual(web4.split('.').slice(0, 3));
    const db6 = fake('fd42:5a17:d2c0:7e1b:1266:6aff:fe67:8a8f');
    const web6 = fake('fd42:5a17:d2c0:7e1b:1266:6aff:fe70:de4');
    expect(db6.split(':').slice(0, 4)).toEqual(web6.split(':').slice(0, 4));
    expect(db6.startsWith('2001:db8:')).toBe(true);
    // nmap, ss, tcpdump and the Incus list all name the database host: all with one fake.
    for (const [file, out] of FILES.map((f, i) => [f, outs[i] ?? ''] as const)) {
      if (read(file).includes('10.187.93.88')) expect(out, file).toContain(db4);
    }
    // Its MAC in `ip neigh` and in its link-local and ULA addresses' EUI-64 stay one host's.
    const mac = fake('10:66:6a:67:8a:8f');
    const [, , , m3, m4, m5] = mac.split(':');
    expect(db6.endsWith(`:fe${m3}:${m4}${m5}`.replace(/:0+([0-9a-f])/g, ':$1'))).toBe(true);
  });

  it('lets timestamps, ports, protocols, flags and byte counts through', () => {
    const s = sanitizer('pseudonymize');
    const tcpdump = s.sanitize(read('tcpdump-X.txt')).text;
    const fake = s.sanitize('10.187.93.88').text;
    expect(tcpdump).toContain(`01:22:23.851990 IP ${s.sanitize('10.187.93.162').text}.56224 > ${fake}.80: Flags [P.], seq 1:77, ack 1, win 63, options [nop,nop,TS val 3964083869 ecr 2173910309], length 76: HTTP: GET / HTTP/1.1\n\t[packet contents: 128 bytes]`);
    const nmap = s.sanitize(read('nmap-sV.txt')).text;
    expect(nmap).toContain('22/tcp   open  ssh     OpenSSH 10.x (protocol 2.0)');
    expect(nmap).toContain('6379/tcp open  redis   Redis key-value store');
    const tshark = s.sanitize(read('tshark-V.txt')).text;
    expect(tshark).toMatch(/Line-based text data: text\/html \(1 lines\)\n {4}\[message body: \d+ bytes\]\n/);
    expect(tshark).toContain('Frame 6: 366 bytes on wire (2928 bits), 366 bytes captured (2928 bits) on interface eth0, id 0');
  });

  it('finds ordinary-word domains where the structure names them, and leaves the prose alone', () => {
    const s = sanitizer('mask');
    expect(s.sanitize(read('ansible-playbook.txt')).text).toContain('PLAY [configure the pro domain]');
    expect(s.sanitize(read('ansible-playbook.txt')).text).toContain('PLAY [DOMAIN] ***');
    const inventory = s.sanitize(read('ansible-inventory.txt')).text;
    expect(inventory).not.toMatch(/"(?:pro|perso|client)"|@(?:pro|perso|client):|^ {4}(?:pro|client):/m);
    expect(inventory).toContain('"children": [\n            "ungrouped",\n            "DOMAIN",');
  });
});
