import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// anklumed keeps the host table only: against a remote Incus, where isolation
// is network ACLs, its passes would take them off the bridges. It refuses.
const dir = mkdtempSync(join(tmpdir(), 'anklumed-acl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('anklumed where isolation is network ACLs', () => {
  it('refuses a remote Incus before it connects, takes no lock, opens no socket, and says why', async () => {
    for (const f of ['cert', 'key', 'server']) writeFileSync(join(dir, f), 'not read before the refusal\n');
    const before = readdirSync(dir).sort();
    const run = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'dist/bin/anklumed.js'), '--config', join(dir, 'infra.yml'), '--socket', join(dir, 'anklumed.sock'), '--lock', join(dir, 'writer.lock'), '--incus-url', 'https://127.0.0.1:9', '--incus-cert', join(dir, 'cert'), '--incus-key', join(dir, 'key'), '--incus-server-cert', join(dir, 'server')],
      { env: { ...process.env, ANKLUME_STATE_DIR: join(dir, 'state') }, timeout: 20_000 },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('anklumed: Incus is remote (--incus-url): there isolation is Incus network ACLs, which anklumed does not keep yet');
    expect(run.stderr).toContain('converge with anklumectl apply instead (docs/cluster.md). Nothing was changed');
    expect(readdirSync(dir).sort()).toEqual(before);
  });
});
