import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'anklume-sanitize-'));
const INPUT = 'ssh root@10.110.0.10 then `incus exec pro-dev -- bash`\npassword=hunter22 on net-pro\nthe HTTP client uses 8.8.8.8\n';

describe('anklumectl sanitize', () => {
  it('prints what would leave on stdout and the replacements on stderr', async () => {
    const run = await runBin('anklumectl', ['sanitize', '-f', 'infra.example.yml', '--domain', 'pro', '--mode', 'mask'], { input: INPUT });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('ssh root@10.ZONE.SEQ.HOST then `incus exec DOMAIN-MACHINE -- bash`\npassword=[REDACTED] on net-DOMAIN\nthe HTTP client uses 8.8.8.8\n');
    expect(run.stderr).toContain('4 replacements (domain pro, mode mask)');
    expect(run.stderr).toMatch(/infra\s+infra\.instance\s+pro-dev\s+→ DOMAIN-MACHINE/);
    // A credential is not echoed back whole.
    expect(run.stderr).toContain('hunt… (8 characters)');
    expect(run.stderr).not.toContain('hunter22');
  });

  it('gives {domain, mode, text, replacements} with --json, pseudonymizing by default as infra.example.yml says', async () => {
    const run = await runBin('anklumectl', ['sanitize', '-f', 'infra.example.yml', '--domain', 'pro', '--json'], { input: INPUT });
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout) as { domain: string; mode: string; text: string; replacements: { category: string; pattern: string; original: string; replacement: string }[] };
    expect(body.domain).toBe('pro');
    expect(body.mode).toBe('pseudonymize');
    expect(body.text).not.toContain('pro-dev');
    expect(body.text).not.toContain('10.110.0.10');
    expect(body.text).toMatch(/root@198\.1[89]\.\d+\.10 /);
    expect(body.replacements.map((r) => r.pattern)).toEqual(['infra.address', 'infra.instance', 'credentials.password', 'infra.bridge']);
  });

  it('gives the same pseudonyms as the gateway when given the same secret file, and stable ones without', async () => {
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'a secret of at least sixteen bytes');
    const args = ['sanitize', '-f', 'infra.example.yml', '--domain', 'pro', '--mode', 'pseudonymize'];
    const withSecret = await runBin('anklumectl', [...args, '--secret-file', secret], { input: 'pro-dev' });
    const again = await runBin('anklumectl', [...args, '--secret-file', secret], { input: 'pro-dev' });
    const preview = await runBin('anklumectl', args, { input: 'pro-dev' });
    expect(withSecret.code).toBe(0);
    expect(withSecret.stdout).toBe(again.stdout);
    expect(withSecret.stdout).not.toBe(preview.stdout);
    expect(preview.stdout).toMatch(/^[a-z]+-[a-z]+$/);
  });

  it('uses the first domain of infra.yml when --domain is absent', async () => {
    const run = await runBin('anklumectl', ['sanitize', '-f', 'infra.example.yml', '--mode', 'mask'], { input: 'x' });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('(domain anklume, mode mask)');
  });

  it('exits 1 with a clear error for an unknown domain', async () => {
    const run = await runBin('anklumectl', ['sanitize', '-f', 'infra.example.yml', '--domain', 'prx'], { input: 'x' });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('error: unknown domain "prx" (did you mean "pro"?); infra.example.yml declares anklume, pro, perso, client, ai-tools, sandbox\n');
  });

  it('exits 1 with the validate report for an invalid infra.yml', async () => {
    const path = join(dir, 'bad.yml');
    writeFileSync(path, 'domains:\n  pro:\n    ai_provider: clowd\n');
    const run = await runBin('anklumectl', ['sanitize', '-f', path], { input: 'pro' });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`${path}:3:18: domains.pro.ai_provider`);
    expect(run.stderr).toContain(`1 error in ${path}; nothing was sanitized`);
  });

  it('exits 2 for a bad flag or mode', async () => {
    expect((await runBin('anklumectl', ['sanitize', '--mode', 'hide', '-f', 'infra.example.yml'], { input: 'x' })).code).toBe(2);
    expect((await runBin('anklumectl', ['sanitize', '--nope', '-f', 'infra.example.yml'], { input: 'x' })).code).toBe(2);
  });
});
