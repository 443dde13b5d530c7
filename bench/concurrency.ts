// How many instance launches Incus sustains at once, per storage driver this
// Incus supports: the evidence behind DEFAULT_CONCURRENCY (--parallel). For
// each driver, a pool of its own (loop-backed where the driver needs a
// device), then LAUNCHES `incus launch` of the test image with a NIC on one
// bridge, at most P in flight, for each P, each on a rested machine.
// Everything it creates carries a unique prefix, is removed, and is made under the e2e lock.
import pLimit from 'p-limit';
import { DEFAULT_CONCURRENCY } from '../src/config/incus-endpoint.js';
import { IncusClient } from '../src/incus/index.js';
import { INCUS_SOCKET, TEST_IMAGE, removeByPrefix, shortPrefix } from '../test/helpers/incus.js';
import { withE2eLock } from './e2e-lock.js';
import { incus, load, rested } from './machine.js';

const LAUNCHES = 16;
const PARALLEL = [1, 2, 4, 8, 16];
/** The drivers people use; those this Incus does not support are said and skipped. */
const DRIVERS = ['btrfs', 'dir', 'lvm', 'zfs'];
/** Pools on a loop file need a size; dir lives in a directory. */
const POOL_CONFIG: Readonly<Record<string, readonly string[]>> = { btrfs: ['size=12GiB'], lvm: ['size=12GiB'], zfs: ['size=12GiB'], dir: [] };

async function launchAll(prefix: string, pool: string, bridge: string, parallel: number): Promise<number> {
  const limit = pLimit(parallel);
  const t = performance.now();
  await Promise.all(Array.from({ length: LAUNCHES }, (_, i) => limit(() => incus(['launch', TEST_IMAGE, `${prefix}-${parallel}-${i}`, '--network', bridge, '--storage', pool, '--quiet']))));
  return (performance.now() - t) / 1000;
}

/** A pool keeps the image it unpacked as a volume: delete those, then the pool. */
async function deletePool(client: IncusClient, pool: string): Promise<void> {
  const volumes = await client.get<{ type: string; name: string }[]>(`/1.0/storage-pools/${pool}/volumes?recursion=1`).catch(() => []);
  for (const v of volumes) if (v.type === 'image') await client.delete(`/1.0/storage-pools/${pool}/volumes/image/${v.name}`);
  await incus(['storage', 'delete', pool]);
}

export async function run(): Promise<void> {
  console.log(`\n# instance launches Incus sustains at once, per storage driver (default --parallel ${DEFAULT_CONCURRENCY}; load average at start ${load()})`);
  const client = new IncusClient({ socketPath: INCUS_SOCKET });
  // Incus spells this list's fields `Name`, `Remote`, `Version` (measured on 6.0.4).
  const server = await client.get<{ environment: { storage_supported_drivers?: { Name?: string; name?: string }[] } }>('/1.0');
  const supported = new Set(server.environment.storage_supported_drivers?.map((d) => d.Name ?? d.name) ?? []);
  const drivers = DRIVERS.filter((d) => supported.has(d));
  for (const d of DRIVERS.filter((x) => !supported.has(x))) console.log(`${d}: not supported by this Incus (its tools are not installed): not measured`);
  const rows: string[] = [];
  try {
    await withE2eLock(async () => {
      const prefix = shortPrefix();
      const bridge = `${prefix}br`;
      await incus(['network', 'create', bridge, 'ipv4.address=none', 'ipv6.address=none']);
      try {
        for (const driver of drivers) {
          const pool = `${prefix}-${driver}`;
          try {
            await incus(['storage', 'create', pool, driver, ...(POOL_CONFIG[driver] ?? [])]);
          } catch (err) {
            // Supported by Incus is not usable here: lvm needs the kernel's device-mapper, which a VM may lack.
            const why = ((err as { stderr?: string }).stderr ?? String(err)).trim().split('\n')[0];
            console.log(`${driver}: its pool could not be created, not measured: ${why}`);
            rows.push(`${driver}: not measured (${why})`);
            continue;
          }
          try {
            // The image unpacked on the pool once, outside the times, as on a host that has launched before.
            await incus(['launch', TEST_IMAGE, `${prefix}-warm`, '--network', bridge, '--storage', pool, '--quiet']);
            await removeByPrefix(client, `${prefix}-warm`);
            const times: string[] = [];
            let best = { parallel: 0, s: Infinity };
            for (const parallel of PARALLEL) {
              await rested();
              const s = await launchAll(prefix, pool, bridge, parallel);
              console.log(`${driver}: ${LAUNCHES} launches, at most ${parallel} in flight: ${s.toFixed(1)} s, ${(LAUNCHES / s).toFixed(2)} per s (load ${load()})`);
              times.push(`P=${parallel} ${s.toFixed(1)} s`);
              if (s < best.s) best = { parallel, s };
              await removeByPrefix(client, `${prefix}-${parallel}-`);
            }
            rows.push(`${driver}: ${times.join(', ')}; fastest at P=${best.parallel}`);
          } finally {
            await removeByPrefix(client, `${prefix}-`);
            await deletePool(client, pool);
          }
        }
      } finally {
        await incus(['network', 'delete', bridge]).catch(() => undefined);
      }
    });
  } finally {
    client.close();
  }
  console.log(`\nsummary (${LAUNCHES} launches each; load average at end ${load()}):`);
  for (const r of rows) console.log(`  ${r}`);
}
