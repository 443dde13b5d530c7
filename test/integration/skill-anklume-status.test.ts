import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusFindings } from '../../skills/anklume-status/status-lib.mjs';

// skills/anklume-status: its script run as the assistant runs it, against a
// real HTTP server on loopback answering the domain view's paths.
const dir = mkdtempSync(join(tmpdir(), 'anklume-skill-status-'));
const ready = (status: boolean, reason = 'Converged') => [{ type: 'Ready', status, reason, message: '' }, { type: 'Degraded', status: false, reason: 'Converged', message: '' }];
let answers: Record<string, unknown> = {};
const envelope = { apiVersion: 'v1', domain: 'pro', generatedAt: '2026-12-05T08:00:00.000Z' };
let server: http.Server;
let base = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const body = answers[req.url ?? ''];
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? { error: 'no such path' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function run(inventory: unknown): Promise<{ code: number | null; out: { ok: boolean; verdict?: string; error?: string; findings?: { kind: string; subject: string }[] } }> {
  const file = join(dir, `inventory-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(inventory));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [new URL('../../skills/anklume-status/status.mjs', import.meta.url).pathname], { env: { ANKLUME_INVENTORY: file } });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('close', (code) => resolve({ code, out: JSON.parse(stdout) as never }));
  });
}

describe('the anklume-status skill', () => {
  it('reads the domain view and reports a stopped machine and an undeclared instance as suspect', async () => {
    answers = {
      // The view's envelope around each read (src/daemon/domain-view/server.ts).
      '/v1/domain': { ...envelope, summary: { name: 'pro' } },
      '/v1/instances': { ...envelope, instances: [{ name: 'pro-dev', status: 'Running', declared: true }, { name: 'pro-db', status: 'Stopped', declared: true }, { name: 'byhand', status: 'Running', declared: false }] },
      '/v1/conditions': { ...envelope, conditions: { domain: ready(true), objects: [{ kind: 'instance', name: 'pro-dev', conditions: ready(true) }] } },
    };
    const { code, out } = await run({ domainView: base });
    expect(code).toBe(0);
    expect(out).toMatchObject({ ok: true, verdict: 'suspect' });
    expect(out.findings?.map((f) => `${f.kind} ${f.subject}`)).toEqual(['instance-stopped pro-db', 'undeclared-instance byhand']);
  });

  it('refuses answers that are not the view\'s envelope rather than reading nothing as normal', async () => {
    answers = { '/v1/domain': { name: 'pro' }, '/v1/instances': [{ name: 'pro-dev', status: 'Running', declared: true }], '/v1/conditions': { domain: ready(true) } };
    const { code, out } = await run({ domainView: base });
    expect(code).toBe(1);
    expect(out.error).toMatch(/did not answer: its answers are not the domain view's \(no instances list or conditions\)/);
  });

  it('says the view did not answer, and that a view turned off is off, rather than guessing', async () => {
    answers = {};
    const down = await run({ domainView: base });
    expect(down.code).toBe(1);
    expect(down.out.error).toMatch(/the domain view at http:\/\/127\.0\.0\.1:\d+ did not answer: \/v1\/domain answered 404/);
    const off = await run({ domainView: null });
    expect(off.out).toMatchObject({ ok: false, error: 'the domain view is turned off in infra.yml (global.domain_view.enabled)' });
  });

  it('a Degraded condition is critical, a not-Ready one suspect', () => {
    const { verdict, findings } = statusFindings([], { domain: [{ type: 'Degraded', status: true, reason: 'IsolationMismatch', message: 'pro>perso differs' }], objects: [{ kind: 'service', name: 'openclaw', conditions: ready(false, 'Unhealthy') }] });
    expect(verdict).toBe('critical');
    expect(findings.map((f) => `${f.severity} ${f.detail}`)).toEqual(['critical the domain is Degraded (IsolationMismatch: pro>perso differs)', 'suspect service openclaw is not Ready (Unhealthy)']);
  });
});
