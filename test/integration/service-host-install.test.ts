import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installOnHost } from '../../src/controllers/service/apply.js';
import type { ServiceDeployment } from '../../src/controllers/service/deployment.js';

// The host install of a service (OpenClaw's npm install takes minutes): real
// commands in a temporary folder, each step said as it starts, once.
const dir = mkdtempSync(join(tmpdir(), 'anklume-install-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const install = {
  steps: [
    { argv: ['sh', '-c', `echo one >> ${dir}/log`, 'node@24.21.0'], env: {} },
    { argv: ['sh', '-c', `echo two >> ${dir}/log`, 'openclaw@2026.9.6'], env: {} },
  ],
  stampFile: join(dir, '.complete'),
  stamp: 'openclaw@2026.9.6 node@24.21.0',
};
const deployment = { name: 'openclaw' } as ServiceDeployment;

describe('a service\'s host install', () => {
  it('says each step as it starts, runs them in order and writes its stamp last', async () => {
    const said: string[] = [];
    await installOnHost(deployment, install, new AbortController().signal, (m) => said.push(m));
    expect(said).toEqual(['openclaw: host install step 1/2: node@24.21.0', 'openclaw: host install step 2/2: openclaw@2026.9.6']);
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('one\ntwo\n');
    expect(readFileSync(install.stampFile, 'utf8')).toBe(`${install.stamp}\n`);
  });

  it('does nothing and says nothing once its stamp is there', async () => {
    const said: string[] = [];
    await installOnHost(deployment, install, new AbortController().signal, (m) => said.push(m));
    expect(said).toEqual([]);
    expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('one\ntwo\n');
  });

  it('fails naming the step, and writes no stamp', async () => {
    const broken = { ...install, steps: [{ argv: ['sh', '-c', 'echo no registry >&2; exit 3', 'x'], env: {} }], stampFile: join(dir, 'broken.complete') };
    await expect(installOnHost(deployment, broken, new AbortController().signal, () => undefined)).rejects.toThrow(/openclaw: host install step "sh -c echo no registry >&2; exit 3 x" failed: no registry/);
    expect(() => readFileSync(broken.stampFile)).toThrow();
  });
});
