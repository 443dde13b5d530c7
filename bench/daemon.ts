// Benchmark of anklumed against the real Incus:
// - from saving infra.yml with one more machine to that machine Ready, minus the
//   instance's own create-and-start time (as the daemon's action log measures it);
// - idle RSS and CPU once converged.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IncusClient } from '../src/incus/index.js';
import { fetchStatus, startDaemon, stopDaemon, waitAllReady } from '../test/helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, removeTestInfra, shortPrefix, waitFor, writeTemp } from '../test/helpers/incus.js';
import { withE2eLock } from './e2e-lock.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function infra(name: string, octet: number, domain: string, machines: number): string {
  const lines = [`project_name: ${name}`, 'global:', `  base_subnet: "10.${octet}"`, `  default_os_image: ${TEST_IMAGE}`, 'domains:', `  ${domain}:`, '    subnet_id: 1', '    ephemeral: true', '    machines:'];
  for (let i = 0; i < machines; i++) lines.push(`      ${domain}-m${i}: {}`);
  return `${lines.join('\n')}\n`;
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(line.replace(/\D+/g, '')) / 1024;
}

export function run(): Promise<void> {
  return withE2eLock(measure);
}

async function measure(): Promise<void> {
  const p = shortPrefix();
  const domain = `${p}-a`;
  const name = `${p}-bench`;
  const octet = freeSecondOctet();
  const file = writeTemp('infra.yml', infra(name, octet, domain, 1));
  const socket = join(dirname(file), 'anklumed.sock');
  const client = new IncusClient({ socketPath: INCUS_SOCKET });
  const daemon = startDaemon(['--config', file, '--resync', '0 0 1 1 *', '--debounce-ms', '50'], socket, { INCUS_SOCKET });
  console.log(`\n# anklumed (Incus at ${INCUS_SOCKET})`);
  try {
    await waitAllReady(socket);
    const overheads: number[] = [];
    const totals: number[] = [];
    for (let n = 2; n <= 6; n++) {
      const machine = `${domain}-m${n - 1}`;
      const tmp = join(dirname(file), '.swap');
      writeFileSync(tmp, infra(name, octet, domain, n));
      const t0 = performance.now();
      renameSync(tmp, file);
      await waitFor('the new machine Ready', async () => {
        const s = await fetchStatus(socket);
        const o = s?.domains[0]?.objects.find((x) => x.name === machine);
        return o !== undefined && o.state === 'Running' && o.conditions.some((c) => c.type === 'Ready' && c.status) ? true : undefined;
      }, { intervalMs: 5 });
      const total = performance.now() - t0;
      const line = daemon.log().split('\n').find((l) => l.includes(`"create instance ${machine}"`));
      const own = Number((JSON.parse(line ?? '{}') as { ms?: number }).ms ?? NaN);
      totals.push(total);
      overheads.push(total - own);
    }
    console.log(`save → Ready: median ${median(totals).toFixed(0)} ms; minus the instance's own create+start: median ${median(overheads).toFixed(0)} ms, max ${Math.max(...overheads).toFixed(0)} ms over ${overheads.length} saves (target < 1000 ms; includes the ${50} ms debounce)`);

    const pid = daemon.child.pid ?? 0;
    await new Promise((r) => setTimeout(r, 3000));
    const ticks0 = cpuTicks(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 10_000));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = ((cpuTicks(pid) - ticks0) / 100 / seconds) * 100; // 100 ticks per second (USER_HZ)
    console.log(`idle: RSS ${rssMiB(pid).toFixed(1)} MiB (target < 100 MB), CPU ${cpu.toFixed(2)} % of one core over ${seconds.toFixed(0)} s`);
  } finally {
    await stopDaemon(daemon);
    await removeTestInfra(client, { infraName: name, prefix: p });
    client.close();
  }
}
