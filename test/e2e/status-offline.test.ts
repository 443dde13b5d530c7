import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/controllers/status.js';
import type { IncusClient } from '../../src/incus/index.js';
import { runBin } from '../helpers/cli.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, removeTestInfra, shortPrefix, testClient, writeTemp } from '../helpers/incus.js';

// `anklumectl status` with no daemon: the view is computed from infra.yml and the real Incus.
const p = shortPrefix();
const octet = freeSecondOctet();
const domain = `${p}-s`;
const machine = `${p}-s1`;
const infraName = `${p}-infra`;
const env = { INCUS_SOCKET };
// No daemon listens here: status must compute the document itself.
const noDaemon = join(mkdtempSync(join(tmpdir(), 'anklume-e2e-')), 'anklumed.sock');

const infraFile = writeTemp(
  'infra.yml',
  `
project_name: ${infraName}
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
domains:
  ${domain}:
    subnet_id: 1
    trust_level: trusted
    ephemeral: true
    machines:
      ${machine}: { ip: 10.${octet}.1.10 }
`,
);

let client: IncusClient;

async function status(args: string[] = []): Promise<{ code: number | null; doc: StatusDocument; stderr: string }> {
  const run = await runBin('anklumectl', ['status', '--json', '-f', infraFile, '--socket', noDaemon, ...args], { env });
  return { code: run.code, doc: JSON.parse(run.stdout) as StatusDocument, stderr: run.stderr };
}

const ready = (conditions: StatusDocument['domains'][number]['conditions']): boolean | undefined => conditions.find((c) => c.type === 'Ready')?.status;

beforeAll(() => {
  client = testClient();
});

afterAll(async () => {
  try {
    await removeTestInfra(client, { infraName, prefix: p });
  } finally {
    client.close();
  }
});

describe('anklumectl status without a daemon, against a real Incus', () => {
  it('computes Ready for every object once apply converged, and exits 0', async () => {
    const apply = await runBin('anklumectl', ['apply', '-f', infraFile], { env });
    expect(apply.code, apply.stdout).toBe(0);

    const { code, doc, stderr } = await status();
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(doc.daemon.running).toBe(false);
    expect(doc.daemon.message).toBe(`anklumed is not running (no daemon at ${noDaemon}): computed from ${infraFile} and Incus`);
    expect(doc.config.valid).toBe(true);
    expect(doc.incus).toEqual({ endpoint: INCUS_SOCKET, reachable: true });
    expect([doc.events, doc.queue]).toEqual([null, null]);
    expect(doc.domains.map((d) => d.name)).toEqual([domain]);
    const [d] = doc.domains;
    expect(ready(d?.conditions ?? [])).toBe(true);
    expect(d?.conditions.find((c) => c.type === 'Ready')?.reason).toBe('Converged');
    for (const o of d?.objects ?? []) expect([o.kind, o.name, ready(o.conditions)]).toEqual([o.kind, o.name, true]);
    expect(d?.objects.find((o) => o.kind === 'instance')).toMatchObject({ name: machine, ip: `10.${octet}.1.10`, state: 'Running' });
  });

  it('shows an instance stopped by hand as not Ready (Stopped, Pending) and exits 1', async () => {
    await client.put(`/1.0/instances/${machine}/state`, { action: 'stop', force: true, timeout: 30 }, { project: domain });

    const { code, doc } = await status();
    expect(code).toBe(1);
    const [d] = doc.domains;
    expect(ready(d?.conditions ?? [])).toBe(false);
    const instance = d?.objects.find((o) => o.kind === 'instance');
    expect(instance?.state).toBe('Stopped');
    expect(ready(instance?.conditions ?? [])).toBe(false);
    expect(instance?.conditions.find((c) => c.type === 'Progressing')).toMatchObject({ status: true, reason: 'Pending' });

    const text = await runBin('anklumectl', ['status', '-f', infraFile, '--socket', noDaemon], { env });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^ {2}${machine}\\s+10\\.${octet}\\.1\\.10\\s+Stopped\\s+Progressing\\s+Pending: start pending`, 'm'));
  });
});
