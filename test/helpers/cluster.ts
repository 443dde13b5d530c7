import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IncusClient } from '../../src/incus/index.js';
import { TEST_IMAGE, waitFor } from './incus.js';

/**
 * A real three-member Incus cluster on this machine, for the cluster e2e tests
 * (upstream's recipe, lxc/incus test/includes/clustering.sh, redone here):
 * a host bridge holding 100.64.1.1/16, one network namespace per member (a
 * holder process made by `unshare -m -n`, with its own /sys and /proc), a veth
 * from the bridge into it, and an incusd with its own INCUS_DIR started inside
 * through `nsenter`. The first member bootstraps the cluster from a preseed
 * (a `dir` pool `data`, the root disk in the default profile), the others join
 * with a token. The test image is imported once (images are cluster-wide).
 *
 * Everything carries `prefix` (bridge, veths, directories), and
 * {@link teardownCluster} removes whatever exists under it — also what a
 * crashed earlier run left — so a run always starts clean and ends clean.
 * The host's incusd is never touched: members have their own sockets
 * (`<INCUS_DIR>/unix.socket`), and every incus CLI call here names its
 * INCUS_DIR explicitly.
 *
 * 100.64.0.0/16 (shared address space) is used by nothing else on these
 * machines: neither the host's Incus bridges (10.x) nor the other tests.
 */

export const CLUSTER_SUBNET_PREFIX = '100.64';
const HOST_ADDRESS = '100.64.1.1/16';
const STATE_ROOT = '/var/lib/anklume-test-cluster';
const IMAGE_CACHE = process.env['ANKLUME_IMAGE_CACHE'] || '/var/cache/anklume-test-image';
const PATH_ENV = '/usr/libexec/incus:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ClusterMember {
  /** Member name in the cluster: `m1`, `m2`, `m3`. */
  readonly name: string;
  readonly index: number;
  /** The member's INCUS_DIR. */
  readonly dir: string;
  /** Its own unix socket (never the host's). */
  readonly socket: string;
  /** Its address on the cluster bridge. */
  readonly address: string;
}

export interface TestCluster {
  readonly prefix: string;
  readonly bridge: string;
  readonly members: readonly ClusterMember[];
  member(name: string): ClusterMember;
  /** A client on a member's socket (default: the first); the caller closes it. */
  client(name?: string): IncusClient;
  /** Run a command inside a member's network and mount namespaces (nft, ip...); throws on a non-zero exit. */
  nsExec(name: string, command: readonly string[]): string;
  /** Stop a member's incusd (its instances go on running): the cluster sees it go offline. */
  stopMember(name: string): void;
  /** Start a stopped member's incusd again and wait until the cluster sees it online. */
  startMember(name: string): Promise<void>;
}

interface Layout {
  readonly bridge: string;
  readonly root: string;
}

function layout(prefix: string): Layout {
  if (!/^[a-z][a-z0-9]{1,7}$/.test(prefix)) throw new Error(`cluster prefix ${JSON.stringify(prefix)}: 2-8 lowercase letters or digits, a letter first`);
  return { bridge: `${prefix}br`, root: join(STATE_ROOT, prefix) };
}

function memberOf(root: string, index: number): ClusterMember {
  const dir = join(root, `m${index}`);
  return { name: `m${index}`, index, dir, socket: join(dir, 'unix.socket'), address: `100.64.1.${100 + index}` };
}

function sh(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): string {
  return execFileSync(command, args, {
    encoding: 'utf8',
    input: options.input,
    timeout: options.timeoutMs ?? 60_000,
    env: { PATH: PATH_ENV, HOME: process.env['HOME'] ?? '/root', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function quiet(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): boolean {
  try {
    sh(command, args, options);
    return true;
  } catch {
    return false;
  }
}

/** The incus CLI aimed at one member (INCUS_DIR names its socket). */
function incusOn(m: ClusterMember, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): string {
  return sh('incus', args, { ...options, env: { INCUS_DIR: m.dir } });
}

function holderPidFile(m: ClusterMember): string {
  return `${m.dir}.holder`;
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function netnsOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

/** The holder's pid if it is still the holder we made (a recycled pid is not ours). */
function liveHolder(m: ClusterMember): number | undefined {
  const pid = readPid(holderPidFile(m));
  if (pid === undefined || !alive(pid)) return undefined;
  return cmdlineOf(pid).includes(`anklume-cluster-holder ${m.dir}`) ? pid : undefined;
}

/** The member's incusd: the one process started with its log file (unique to its INCUS_DIR). */
function incusdPids(m: ClusterMember): number[] {
  const marker = `--logfile ${join(m.dir, 'incusd.log')}`;
  return allPids().filter((pid) => cmdlineOf(pid).includes(marker));
}

function socketAnswers(m: ClusterMember): boolean {
  return existsSync(m.socket) && quiet('incus', ['query', 'local:/1.0'], { env: { INCUS_DIR: m.dir }, timeoutMs: 10_000 });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Remove every trace of the cluster under `prefix`, whatever state it is in:
 * members shut down (their instances with them), then anything left in their
 * namespaces killed, holders ended, the veths and the bridge deleted, the
 * directories removed. Idempotent; never touches the host's incusd.
 */
export async function teardownCluster(prefix: string): Promise<void> {
  const { bridge, root } = layout(prefix);
  const members = existsSync(root)
    ? readdirSync(root).filter((d) => /^m\d+$/.test(d)).map((d) => memberOf(root, Number(d.slice(1))))
    : [];
  // The test's instances are disposable: killed first (their cgroups), so the
  // members' shutdown does not wait for each container's clean stop (~50 s measured).
  killContainerCgroups(prefix);
  // Then a clean shutdown, all members at once: it stops their dnsmasq and
  // releases their mounts. A member alone cannot always leave quorum quickly, so bounded.
  await Promise.all(members.map(async (m) => {
    if (socketAnswers(m)) await new Promise<void>((resolve) => {
      const child = spawn('incus', ['admin', 'shutdown', '--timeout', '20'], { env: { PATH: PATH_ENV, INCUS_DIR: m.dir }, stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      child.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.on('error', () => resolve());
    });
  }));
  for (const m of members) {
    const holder = liveHolder(m);
    const netns = holder === undefined ? undefined : netnsOf(holder);
    // What is left: the incusd, its dnsmasq and forkdns (in the member's
    // netns), LXC monitors and container processes (their command lines or
    // cgroups name the member's directory or the test's instances).
    const victims = allPids().filter((pid) => pid !== process.pid && pid !== holder && (
      cmdlineOf(pid).includes(m.dir) || (netns !== undefined && netnsOf(pid) === netns)));
    for (const pid of victims) killQuietly(pid);
    if (holder !== undefined) killQuietly(holder);
    for (const pid of [...victims, ...(holder === undefined ? [] : [holder])]) await waitGone(pid);
  }
  killContainerCgroups(prefix);
  for (const m of members) quiet('ip', ['link', 'del', `${prefix}v${m.index}`]);
  if (existsSync(`/sys/class/net/${bridge}`)) sh('ip', ['link', 'del', bridge]);
  if (existsSync(root)) {
    unmountUnder(root);
    rmSync(root, { recursive: true, force: true });
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 100 && alive(pid) && readZombie(pid) === false; i++) await sleep(50);
}

function readZombie(pid: number): boolean {
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Container payload cgroups of the test's instances (members share the host's cgroup tree). */
function killContainerCgroups(prefix: string): void {
  const cgroupRoot = '/sys/fs/cgroup';
  for (const entry of readdirSync(cgroupRoot)) {
    if (!entry.startsWith(`lxc.payload.${prefix}`) && !entry.startsWith(`lxc.monitor.${prefix}`)) continue;
    const dir = join(cgroupRoot, entry);
    try {
      writeFileSync(join(dir, 'cgroup.kill'), '1');
    } catch {
      // Empty or gone.
    }
  }
}

/** Host mounts under the state root (none expected: members' mounts live in their own mount namespace). */
function unmountUnder(root: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(`${root}/`));
  for (const p of mounts.sort((a, b) => b.length - a.length)) quiet('umount', ['-l', p]);
}

/** The holder: a new mount and network namespace with its own /sys and /proc, kept alive by a sleep. */
async function startHolder(m: ClusterMember): Promise<number> {
  const script = [
    'set -e',
    'mount --make-rprivate /',
    // /sys shows the network devices of the namespace that mounted it: remount it (keeping cgroups).
    'mount --move /sys /mnt',
    'mount -t sysfs sysfs /sys',
    'mount --move /mnt/fs/cgroup /sys/fs/cgroup',
    'umount -l /mnt',
    'umount -l /proc',
    'mount -t proc proc /proc',
    // The marker names the holder for teardown; exec keeps one process.
    `exec -a "anklume-cluster-holder ${m.dir}" sleep infinity`,
  ].join('\n');
  const child = spawn('unshare', ['-m', '-n', '--propagation', 'private', 'bash', '-c', script], { detached: true, stdio: 'ignore', env: { PATH: PATH_ENV } });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start the namespace holder of ${m.name}`);
  writeFileSync(holderPidFile(m), `${pid}\n`);
  // Ready once the exec happened (the marker is in its command line) in a netns of its own.
  await waitFor(`the namespace holder of ${m.name}`, () => Promise.resolve(liveHolder(m) !== undefined && netnsOf(pid) !== netnsOf(process.pid) ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
  return pid;
}

function plugMember(prefix: string, bridge: string, m: ClusterMember, holder: number): void {
  const hostSide = `${prefix}v${m.index}`;
  const inside = `${prefix}p${m.index}`;
  sh('ip', ['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', inside]);
  sh('ip', ['link', 'set', inside, 'netns', String(holder)]);
  sh('ip', ['link', 'set', hostSide, 'master', bridge, 'up']);
  const ns = (args: string[]): string => sh('nsenter', ['-n', '-m', '-t', String(holder), '--', ...args]);
  ns(['ip', 'link', 'set', 'lo', 'up']);
  ns(['ip', 'link', 'set', inside, 'name', 'eth0']);
  ns(['ip', 'link', 'set', 'eth0', 'up']);
  ns(['ip', 'addr', 'add', `${m.address}/16`, 'dev', 'eth0']);
  ns(['ip', 'route', 'add', 'default', 'via', HOST_ADDRESS.split('/')[0] ?? '']);
}

/** incusd in the member's namespaces, its own INCUS_DIR, detached (what incus-setup.sh does for the host's). */
function startIncusd(m: ClusterMember, holder: number): void {
  // The caller's environment minus anything that names another Incus; stderr kept for a crash.
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: PATH_ENV, INCUS_DIR: m.dir };
  delete env['INCUS_SOCKET'];
  delete env['INCUS_REMOTE'];
  // setsid -f: a daemon in a session of its own, not a child of this test process.
  execFileSync('bash', ['-c', 'exec setsid -f nsenter -n -m -t "$1" -- /usr/libexec/incus/incusd --group incus-admin --logfile "$2/incusd.log" </dev/null >>"$2/incusd.stderr" 2>&1', 'start-incusd', String(holder), m.dir], { env, stdio: 'ignore' });
  sh('incus', ['admin', 'waitready', '--timeout', '60'], { env: { INCUS_DIR: m.dir }, timeoutMs: 70_000 });
}

function testImageFiles(): { metadata: string; rootfs: string } {
  const dirs = existsSync(IMAGE_CACHE) ? readdirSync(IMAGE_CACHE).filter((d) => /^debian-13-[a-z0-9]+-v\d+$/.test(d)).sort() : [];
  for (const d of dirs.reverse()) {
    const metadata = join(IMAGE_CACHE, d, 'metadata.tar.xz');
    const rootfs = join(IMAGE_CACHE, d, 'rootfs.squashfs');
    if (existsSync(metadata) && existsSync(rootfs)) return { metadata, rootfs };
  }
  throw new Error(`no built test image in ${IMAGE_CACHE}: run scripts/incus-setup.sh first`);
}

/** Start a three-member cluster under `prefix` (after clearing what an earlier run left under it). */
export async function startCluster(options: { prefix?: string; size?: number } = {}): Promise<TestCluster> {
  const prefix = options.prefix ?? 'ankc';
  const size = options.size ?? 3;
  const { bridge, root } = layout(prefix);
  await teardownCluster(prefix);
  mkdirSync(root, { recursive: true, mode: 0o711 });
  const members = Array.from({ length: size }, (_, i) => memberOf(root, i + 1));

  sh('ip', ['link', 'add', bridge, 'up', 'type', 'bridge']);
  sh('ip', ['addr', 'add', HOST_ADDRESS, 'dev', bridge]);
  const holders = new Map<string, number>();
  for (const m of members) {
    mkdirSync(m.dir, { mode: 0o711 });
    const holder = await startHolder(m);
    holders.set(m.name, holder);
    plugMember(prefix, bridge, m, holder);
  }

  const [first, ...others] = members;
  if (first === undefined) throw new Error('a cluster needs a member');
  startIncusd(first, holders.get(first.name) ?? 0);
  incusOn(first, ['admin', 'init', '--preseed'], {
    input: [
      'config:',
      `  core.https_address: ${first.address}:8443`,
      // No images.auto_update_interval nor cluster.offline_threshold here: on a
      // fresh, not yet clustered incusd 6.0.4 either panics in the handler (a
      // nil task reset, api_1.0.go:811; measured). The threshold is set below.
      'storage_pools:',
      '- name: data',
      '  driver: dir',
      'profiles:',
      '- name: default',
      '  devices:',
      '    root: { path: /, pool: data, type: disk }',
      'cluster:',
      `  server_name: ${first.name}`,
      '  enabled: true',
      '',
    ].join('\n'),
  });
  // A member is seen offline after this many seconds without a heartbeat (Incus wants more than 10).
  incusOn(first, ['config', 'set', 'cluster.offline_threshold', '11']);
  const clusterCert = readFileSync(join(first.dir, 'cluster.crt'), 'utf8');
  for (const m of others) {
    startIncusd(m, holders.get(m.name) ?? 0);
    const token = incusOn(first, ['cluster', 'add', m.name, '--quiet']).trim();
    incusOn(m, ['admin', 'init', '--preseed'], {
      timeoutMs: 120_000,
      input: JSON.stringify({
        cluster: {
          enabled: true,
          server_name: m.name,
          server_address: `${m.address}:8443`,
          cluster_address: `${first.address}:8443`,
          cluster_certificate: clusterCert,
          cluster_token: token,
          member_config: [{ entity: 'storage-pool', name: 'data', key: 'source', value: '' }],
        },
      }),
    });
  }
  const image = testImageFiles();
  incusOn(first, ['image', 'import', image.metadata, image.rootfs, '--alias', TEST_IMAGE], { timeoutMs: 180_000 });

  const member = (name: string): ClusterMember => {
    const m = members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  };
  return {
    prefix,
    bridge,
    members,
    member,
    client(name = first.name) {
      return new IncusClient({ socketPath: member(name).socket });
    },
    nsExec(name, command) {
      const holder = liveHolder(member(name));
      if (holder === undefined) throw new Error(`member ${name} has no namespace holder`);
      return sh('nsenter', ['-n', '-m', '-t', String(holder), '--', ...command]);
    },
    stopMember(name) {
      const m = member(name);
      // SIGKILL: a member that dies, not one that leaves (a clean shutdown would stop its instances too).
      for (const pid of incusdPids(m)) killQuietly(pid);
    },
    async startMember(name) {
      const m = member(name);
      const holder = liveHolder(m);
      if (holder === undefined) throw new Error(`member ${name} has no namespace holder`);
      startIncusd(m, holder);
      const c = new IncusClient({ socketPath: first.socket === m.socket ? (others[0] ?? first).socket : first.socket });
      try {
        await waitFor(`${name} to be online`, async () => {
          const list = await c.get<{ server_name: string; status: string }[]>('/1.0/cluster/members', { query: { recursion: 1 } }).catch(() => []);
          return list.find((x) => x.server_name === name)?.status === 'Online' ? true : undefined;
        }, { timeoutMs: 60_000, intervalMs: 500 });
      } finally {
        c.close();
      }
    },
  };
}

/** Run `fn` on a fresh cluster; the cluster is removed afterwards, whether `fn` passed or threw. */
export async function withCluster<T>(fn: (cluster: TestCluster) => Promise<T>, options: { prefix?: string } = {}): Promise<T> {
  const prefix = options.prefix ?? 'ankc';
  try {
    return await fn(await startCluster({ prefix }));
  } finally {
    await teardownCluster(prefix);
  }
}
