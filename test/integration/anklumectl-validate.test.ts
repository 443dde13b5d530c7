import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runBin } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'anklume-cli-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('anklumectl validate', () => {
  it('accepts the example and exits 0', async () => {
    const run = await runBin('anklumectl', ['validate', '-f', 'infra.example.yml']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^valid infra\.example\.yml: 6 domains/);
    expect(run.stdout).toContain('net-ai-tools');
  });

  it('reads ANKLUME_CONFIG when -f is absent', async () => {
    const run = await runBin('anklumectl', ['validate'], { env: { ANKLUME_CONFIG: join(ROOT, 'infra.example.yml') } });
    expect(run.code).toBe(0);
  });

  it('prints every error with file:line:col, exits 1 and leaves the file untouched', async () => {
    const text = 'domains:\n  pro:\n    ai_provider: clowd\n    machines:\n      pro-dev: { ip: 10.1.2.3, tpye: vm }\n';
    const path = file('bad.yml', text);
    const before = statSync(path).mtimeMs;
    const run = await runBin('anklumectl', ['validate', '-f', path]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain(`${path}:3:18: domains.pro.ai_provider`);
    expect(lines[1]).toContain(`${path}:5:22: domains.pro.machines.pro-dev.ip`);
    expect(lines[2]).toContain(`${path}:5:32: domains.pro.machines.pro-dev.tpye: unknown key "tpye"`);
    expect(lines[3]).toBe(`3 errors in ${path}; nothing was changed`);
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(statSync(path).mtimeMs).toBe(before);
  });

  it('refuses each boundary break of an untrusted domain with its position and reason, and exits 1', async () => {
    const text = [
      'domains:', // 1
      '  lab:', // 2
      '    trust_level: untrusted', // 3
      '    machines:', // 4
      '      lab-1:', // 5
      '        config: { security.privileged: "true", raw.lxc: "lxc.cap.drop=", security.nesting: "true" }', // 6
      '        devices:', // 7
      '          hostroot: { type: disk, source: /, path: /host }', // 8
      '          lan: { type: nic, nictype: macvlan, parent: eth0 }', // 9
      '',
    ].join('\n');
    const path = file('unsafe.yml', text);
    const run = await runBin('anklumectl', ['validate', '-f', path]);
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines.slice(0, -1).map((l) => l.slice(l.indexOf(path) + path.length + 1, l.indexOf(': ', l.indexOf(path))))).toEqual(['6:19', '6:48', '6:74', '8:11', '9:11']);
    expect(lines[0]).toContain('a privileged container: root inside is root on the host; refused in a untrusted domain');
    expect(lines[1]).toContain('raw.lxc hands raw settings to LXC or QEMU');
    expect(lines[2]).toContain('nesting');
    expect(lines[3]).toContain('mounts the host path /, outside global.host_disk_paths');
    expect(lines[4]).toContain('NIC "lan" is attached to "eth0"');
    expect(lines[0]).toContain('add "allow_unsafe: [privileged]" to the machine');
    expect(lines.at(-1)).toBe(`5 errors in ${path}; nothing was changed`);
  });

  it('gives errors as JSON with --json', async () => {
    const path = file('bad-json.yml', 'domains:\n  sandbox: { trust_level: disposable, ai_provider: cloud }\n');
    const run = await runBin('anklumectl', ['validate', '-f', path, '--json']);
    expect(run.code).toBe(1);
    const body = JSON.parse(run.stdout) as { valid: boolean; errors: Record<string, unknown>[] };
    expect(body.valid).toBe(false);
    expect(body.errors).toEqual([
      { file: path, line: 2, column: 52, path: 'domains.sandbox.ai_provider', rule: 'disposable-no-cloud', message: 'a disposable domain never sends prompts to a cloud LLM', expected: 'local', found: '"cloud"' },
    ]);
  });

  it('gives the resolved model as JSON with --json', async () => {
    const run = await runBin('anklumectl', ['validate', '-f', 'infra.example.yml', '--json']);
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout) as { valid: boolean; summary: Record<string, number>; model: { domains: { name: string; network: { gateway: string } }[] } };
    expect(body.valid).toBe(true);
    expect(body.summary).toEqual({ domains: 6, enabledDomains: 6, machines: 8, policies: 3 });
    expect(body.model.domains.find((d) => d.name === 'pro')?.network.gateway).toBe('10.110.0.254');
  });

  it('says clearly when the file does not exist, and exits 1', async () => {
    const run = await runBin('anklumectl', ['validate', '-f', join(dir, 'missing.yml')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: cannot read ${join(dir, 'missing.yml')}: no such file\n`);
  });
});

describe('anklumectl usage', () => {
  it('exits 2 on an unknown command or option', async () => {
    expect((await runBin('anklumectl', ['frobnicate'])).code).toBe(2);
    const run = await runBin('anklumectl', ['validate', '--bogus']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown option '--bogus'");
  });

  it('has --help on every command', async () => {
    const top = await runBin('anklumectl', ['--help']);
    expect(top.code).toBe(0);
    const commands = [...top.stdout.matchAll(/^ {2}(\w[\w-]*)/gm)].map((m) => m[1] ?? '').filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['validate', 'schema']));
    for (const command of commands) {
      const run = await runBin('anklumectl', [command, '--help']);
      expect(run.code, command).toBe(0);
      expect(run.stdout, command).toMatch(/^Usage: anklumectl /);
    }
  });
});

describe('anklumectl schema', () => {
  it('prints the same document as crd-like-schemas/', async () => {
    const run = await runBin('anklumectl', ['schema']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(readFileSync(join(ROOT, 'crd-like-schemas/infra.schema.json'), 'utf8'));
    const machine = await runBin('anklumectl', ['schema', 'machine']);
    expect(JSON.parse(machine.stdout)).toMatchObject({ title: 'Machine' });
  });

  it('exits 2 on an unknown kind', async () => {
    const run = await runBin('anklumectl', ['schema', 'nope']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown schema kind "nope"');
  });
});

describe('anklumectl plan and apply without Incus', () => {
  it('say clearly that Incus is not reachable, exit 1, and change nothing', async () => {
    const socket = join(dir, 'no-incus.socket');
    for (const command of ['plan', 'apply']) {
      const run = await runBin('anklumectl', [command, '-f', 'infra.example.yml', '--incus-socket', socket]);
      expect(run.code, command).toBe(1);
      expect(run.stderr, command).toContain(socket);
      expect(run.stderr, command).toMatch(/not reachable|no Incus/i);
    }
  });

  it('refuse an invalid infra.yml before talking to Incus', async () => {
    const path = file('bad-plan.yml', 'domains:\n  pro: { trust_level: trusty }\n');
    const run = await runBin('anklumectl', ['apply', '-f', path, '--incus-socket', join(dir, 'never-used.socket')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${path}:2:23: domains.pro.trust_level`);
    expect(run.stderr).toContain('1 error in');
    expect(run.stderr).not.toMatch(/reachable/);
  });

  it('want the certificate files with --incus-url (usage error, exit 2)', async () => {
    const run = await runBin('anklumectl', ['plan', '-f', 'infra.example.yml', '--incus-url', 'https://127.0.0.1:8443']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--incus-url needs --incus-cert, --incus-key, --incus-server-cert');
  });
});
