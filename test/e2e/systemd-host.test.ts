import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/controllers/status.js';
import { ROOT } from '../helpers/cli.js';
import { isReady } from '../helpers/daemon.js';
import { INCUS_SOCKET, TEST_IMAGE, freeSecondOctet, incusExec, shortPrefix, waitFor } from '../helpers/incus.js';
import { parseHolderFile } from '../../src/shared/ai-access-file.js';

// deploy/install.sh run as a user would on a fresh Debian 13 host, proven under
// real systemd: the host is a system container (systemd PID 1, nesting on) with
// its own Incus inside, built by scripts/incus-setup.sh (anklume-test/debian-13-host).
// Everything anklume does here happens in that container's Incus and network
// namespace; on the test Incus this file creates one bridge and one container.
const p = shortPrefix();
const octet = freeSecondOctet();
const HOST = `${p}-host`;
const BRIDGE = `${p}br`;
const HOST_IMAGE = 'anklume-test/debian-13-host';
/** The test image without device nodes, which the nested Incus could not create (scripts/incus-setup.sh). */
const NESTED_IMAGE = 'anklume-test/debian-13-nested';
const FIXTURES = join(ROOT, 'test/fixtures/systemd-host');
const SAN_IP = `10.${octet}.1.20`;
const PORT = 8089;

// Inside the nested Incus nothing else exists: short names are safe there.
const INFRA = `project_name: sh
global:
  base_subnet: "10.${octet}"
  default_os_image: ${TEST_IMAGE}
  ai_access_policy: exclusive
  ai_access_default: pro
  ai_tools_domain: ai
  sanitizer:
    listen_port: ${PORT}
domains:
  adm:
    subnet_id: 1
    trust_level: admin
    machines:
      san: { ip: ${SAN_IP}, roles: [llm_sanitizer] }
  pro:
    subnet_id: 2
  perso:
    subnet_id: 3
  ai:
    subnet_id: 4
`;
const BROKEN = INFRA.replace('  pro:\n', '  pro:\n    tpye: nope\n');

const env = { ...process.env, INCUS_SOCKET };
let work: string | undefined;

/** A shell command as root in the host container; never throws on a non-zero exit. */
function sh(command: string, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return incusExec('default', HOST, ['sh', '-c', command], { timeoutMs });
}

/** The same, but the command must succeed: its output, or an error with both streams. */
async function must(command: string, timeoutMs?: number): Promise<string> {
  const r = await sh(command, timeoutMs);
  if (r.code !== 0) throw new Error(`in ${HOST}: ${command}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function incus(args: readonly string[], timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('incus', args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else reject(new Error(`incus ${args.join(' ')}: ${err.message}\n${stderr}`, { cause: err }));
    });
    // `incus network create` and friends read YAML from a stdin that is not a terminal.
    child.stdin?.end();
  });
}

/** `anklumectl status --json` through the daemon's control socket, as a user of the host runs it. */
async function status(): Promise<StatusDocument | undefined> {
  const r = await sh('anklumectl status --json');
  if (r.code !== 0 && r.stdout.trim() === '') return undefined;
  try {
    return JSON.parse(r.stdout) as StatusDocument;
  } catch {
    return undefined;
  }
}

function converged(): Promise<StatusDocument> {
  return waitFor('anklumed in the host to converge', async () => {
    const s = await status();
    const ready = s !== undefined && s.domains.length === 4 && s.domains.every((d) => isReady(d) && d.objects.every(isReady)) && s.firewall.managed && s.firewall.state === 'InSync';
    return ready ? s : undefined;
  }, { timeoutMs: 240_000, intervalMs: 1000 });
}

/** A systemd property of a unit in the host, e.g. ExecMainExitTimestampMonotonic. */
async function unitProperty(unit: string, property: string): Promise<string> {
  return (await must(`systemctl show -P ${property} ${unit}`)).trim();
}

/**
 * The boot-order proof: the firewall unit finished loading the table before
 * incusd was started, and the instance's last start came after the table was
 * loaded. Monotonic microseconds for the units, wall clock (ms) for Incus.
 */
async function expectTableBeforeInstances(): Promise<void> {
  expect(await unitProperty('anklume-firewall.service', 'ActiveState')).toBe('active');
  const loaded = Number(await unitProperty('anklume-firewall.service', 'ExecMainExitTimestampMonotonic'));
  const incusStarted = Number(await unitProperty('incus.service', 'ExecMainStartTimestampMonotonic'));
  expect(loaded).toBeGreaterThan(0);
  expect(incusStarted).toBeGreaterThan(loaded);
  const loadedWall = Date.parse((await must(`date -u -d "$(systemctl show -P ExecMainExitTimestamp --timestamp=us+utc anklume-firewall.service)" +%Y-%m-%dT%H:%M:%S.%6NZ`)).trim());
  const san = JSON.parse(await must('incus query "/1.0/instances/san?project=adm"')) as { status: string; last_used_at: string };
  expect(san.status).toBe('Running');
  expect(Date.parse(san.last_used_at)).toBeGreaterThanOrEqual(Math.floor(loadedWall));
  const table = await must('nft list table inet anklume');
  expect(table).toContain('iifname "net-adm" oifname "net-adm" accept');
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/bin/anklumed.js'))) throw new Error('dist/ is missing: npm run build first');
  const images = (await incus(['image', 'alias', 'list', '--format', 'csv'])).split('\n');
  for (const alias of [HOST_IMAGE, NESTED_IMAGE]) {
    if (!images.some((l) => l.startsWith(`${alias},`))) throw new Error(`no image ${alias}: run scripts/incus-setup.sh (as root)`);
  }
  // The sanitizer's instance runs the daemon's Node (see below): it must not need shared libraries beyond libc's.
  if (execFileSync('ldd', [process.execPath]).toString().includes('libnode')) throw new Error(`${process.execPath} is linked to libnode: run the tests with a self-contained Node (nodejs.org or NodeSource build)`);
  work = mkdtempSync(join(tmpdir(), 'anklume-systemd-host-'));

  // Unprivileged, with nesting for the Incus inside (its own containers are
  // unprivileged too: see the idmap below).
  await incus(['network', 'create', BRIDGE, `ipv4.address=10.${octet}.0.1/24`, 'ipv4.nat=true', 'ipv6.address=none']);
  await incus(['init', HOST_IMAGE, HOST, '--network', BRIDGE, '-c', 'security.nesting=true']);
  await incus(['start', HOST]);
  await waitFor(`${HOST} to boot`, async () => ((await sh('systemctl is-system-running --wait', 90_000).catch(() => ({ stdout: '' }))).stdout.trim() !== '' ? true : undefined), { timeoutMs: 120_000 });
  await waitFor(`${HOST} to reach the network`, async () => ((await sh('ip -4 route show default')).stdout.includes('default') ? true : undefined), { timeoutMs: 60_000 });

  // What nesting on this machine needs, before the inner Incus first starts
  // (all of it test plumbing, none of it anklume's):
  // - the split cgroup v1 hierarchies, mounted at every boot (see the unit);
  await incus(['file', 'push', join(FIXTURES, 'split-cgroup-v1.service'), `${HOST}/etc/systemd/system/split-cgroup-v1.service`]);
  await must('systemctl enable --now split-cgroup-v1.service');
  // - an id range for the inner containers that fits in the container's own
  //   map (Debian's incus gives root 1000000:1000000000, the whole outer range);
  await must('echo root:1000000:100000000 > /etc/subuid && echo root:1000000:100000000 > /etc/subgid');
  // - the host's CA bundle, so npm inside trusts what the host trusts (this
  //   machine reaches the registry through TLS inspection);
  await incus(['file', 'push', '/etc/ssl/certs/ca-certificates.crt', `${HOST}/etc/ssl/certs/ca-certificates.crt`]);
  await must('echo cafile=/etc/ssl/certs/ca-certificates.crt > /etc/npmrc');
  // - a self-contained Node first in PATH: anklume bind-mounts the daemon's
  //   own Node into the sanitizer's instance, and Debian 13's /usr/bin/node is
  //   a stub linked to libnode.so.115 that cannot run there (exit 127). The
  //   runner's Node (official or NodeSource build) is one.
  await incus(['file', 'push', '--mode', '0755', process.execPath, `${HOST}/usr/local/bin/node`]);

  // What a user brings: the package (npm pack of this checkout's built dist/),
  // an infra.yml, an initialised Incus, and the image infra.yml names.
  const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT }).toString().trim().split('\n').at(-1) ?? '';
  await incus(['file', 'push', join(work, tgz), `${HOST}/root/anklume.tgz`]);
  await must('mkdir -p /root/anklume && tar -xzf /root/anklume.tgz -C /root/anklume --strip-components=1');
  writeFileSync(join(work, 'preseed.yml'), 'storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root: { path: /, pool: default, type: disk }\n');
  await incus(['file', 'push', join(work, 'preseed.yml'), `${HOST}/root/preseed.yml`]);
  await must('incus admin init --preseed < /root/preseed.yml');
  await incus(['image', 'export', NESTED_IMAGE, join(work, 'image')]);
  await incus(['file', 'push', join(work, 'image'), `${HOST}/root/image`]);
  await incus(['file', 'push', join(work, 'image.root'), `${HOST}/root/image.root`]);
  await must(`incus image import -q /root/image /root/image.root --alias ${TEST_IMAGE} && rm /root/image /root/image.root`, 300_000);
  writeFileSync(join(work, 'infra.yml'), INFRA);
  await incus(['file', 'push', join(work, 'infra.yml'), `${HOST}/root/infra.yml`]);
}, 600_000);

afterAll(async () => {
  await incus(['delete', '--force', HOST]).catch(() => undefined);
  await incus(['network', 'delete', BRIDGE]).catch(() => undefined);
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the shipped systemd units on a fresh Debian 13 host (systemd PID 1, Incus inside)', () => {
  it('install.sh installs and starts anklumed under the shipped unit, which converges the infra', async () => {
    const install = await sh('/root/anklume/deploy/install.sh --no-build --infra /root/infra.yml', 600_000);
    expect(install.code, install.stdout + install.stderr).toBe(0);
    expect(install.stdout).toContain('anklumed is running under systemd');

    const verify = await sh('systemd-analyze verify /etc/systemd/system/anklumed.service /etc/systemd/system/anklume-firewall.service');
    expect(verify.code, verify.stderr).toBe(0);
    expect((await sh('systemctl is-active anklumed.service anklume-firewall.service')).stdout.split('\n').filter(Boolean)).toEqual(['active', 'active']);
    expect((await sh('systemctl is-enabled anklumed.service anklume-firewall.service')).stdout.split('\n').filter(Boolean)).toEqual(['enabled', 'enabled']);

    const s = await converged();
    expect(s.config.valid).toBe(true);
    expect((await must('incus list --all-projects --format csv --columns ns')).trim()).toBe('san,RUNNING');
    // Every successful apply saved the table the boot unit loads.
    expect(await must('stat -c "%a %U" /var/lib/anklume/firewall.nft')).toBe('600 root\n');
  });

  it('the sanitizer is deployed by the daemon and answers', async () => {
    const s = await converged();
    const service = s.domains.find((d) => d.name === 'adm')?.objects.find((o) => o.kind === 'service');
    expect(service === undefined ? false : isReady(service)).toBe(true);
    const health = await sh(`node -e 'fetch("http://${SAN_IP}:${PORT}/health").then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(2))'`);
    expect(health.code, health.stderr).toBe(0);
  });

  it('switch-ai through the daemon writes its record and log where the unit lets it', async () => {
    const run = await sh('anklumectl switch-ai perso');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('AI access switched: pro -> perso');
    expect(parseHolderFile(await must('cat /opt/anklume/ai-access-current'))).toEqual({ holder: 'perso' });
    expect(await must('cat /var/log/anklume/ai-switch.log')).toMatch(/ pro -> perso flush=true\n$/);
    expect(await must('nft list set inet anklume ai_access')).toContain('"net-perso"');
    // Nothing the daemon did was refused by the unit's sandbox.
    expect(await must('journalctl -u anklumed.service -o cat --no-pager')).not.toMatch(/EROFS|EACCES|read-only file system|permission denied/i);
    // The sanitizer's service reads the holder through its read-only mount, where host root is nobody.
    const seen = await sh('incus exec --project adm san -- setpriv --reuid=65534 --regid=65534 --clear-groups cat /mnt/anklume-ai/ai-access-current');
    expect(parseHolderFile(seen.stdout), seen.stderr).toEqual({ holder: 'perso' });
  });

  it("nft's monitor runs inside the unit's sandbox: a table flushed by hand is repaired on its notice", async () => {
    // The unit's processes, by their command lines: anklumed and the nft monitor it keeps.
    const inUnit = (): Promise<string> => must('systemd-cgls --no-pager --unit anklumed.service');
    await waitFor('the monitor running in the unit', async () => ((await inUnit()).includes('nft -j monitor ruleset') ? true : undefined), { timeoutMs: 30_000, intervalMs: 500 }).catch(async (e: unknown) => {
      // Why not: the unit's processes, and what anklumed said of nft.
      throw new Error(`${String(e)}\nthe unit's processes:\n${await inUnit()}\nanklumed on nft:\n${await must('journalctl -u anklumed.service -o cat --no-pager | grep -i nft | tail -20')}`);
    });
    await must('nft flush table inet anklume');
    await waitFor('the table repaired', async () => ((await must('nft list table inet anklume')).includes('iifname "net-adm" oifname "net-adm" accept') ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
    // The same monitor all along: it never ended (the sandbox let it subscribe and stay).
    expect(await inUnit()).toContain('nft -j monitor ruleset');
    expect(await must('journalctl -u anklumed.service -o cat --no-pager')).not.toContain('nft monitor ended');
  });

  it('after systemctl restart incus, the table was there before incusd started', async () => {
    await must('systemctl restart incus.service');
    await waitFor('the instance to run again', async () => ((await sh('incus list --all-projects --format csv --columns ns')).stdout.trim() === 'san,RUNNING' ? true : undefined), { timeoutMs: 120_000 });
    await expectTableBeforeInstances();
    expect((await sh('systemctl is-active anklumed.service')).stdout.trim()).toBe('active');
  });

  it('after a restart of the whole host, the table is loaded before Incus starts the instance, and anklumed comes back', async () => {
    await incus(['restart', HOST, '--timeout', '120']);
    await waitFor(`${HOST} to boot again`, async () => ((await sh('systemctl is-system-running --wait', 120_000).catch(() => ({ stdout: '' }))).stdout.trim() !== '' ? true : undefined), { timeoutMs: 180_000 });
    await waitFor('the instance to run again', async () => ((await sh('incus list --all-projects --format csv --columns ns')).stdout.trim() === 'san,RUNNING' ? true : undefined), { timeoutMs: 120_000 });
    await expectTableBeforeInstances();
    expect(await must('nft list set inet anklume ai_access')).toContain('"net-perso"');
    const s = await converged();
    expect(s.aiAccess).toMatchObject({ holder: 'perso', source: 'switch-ai' });
  });

  it('with incusd stopped, the table flushed and infra.yml invalid, the firewall unit then Incus bring back the last valid table before the instance starts', async () => {
    // Everything down, the instance included (incus-startup stops instances on the way).
    await must('systemctl stop anklumed.service incus-startup.service incus.service incus.socket anklume-firewall.service');
    await must('nft flush table inet anklume');
    expect(await must('nft list table inet anklume')).not.toContain('net-adm');
    await must(`cat > /etc/anklume/infra.yml <<'EOF'\n${BROKEN}EOF`);
    expect((await sh('anklumectl validate')).code).toBe(1);

    await must('systemctl start anklume-firewall.service');
    expect(await must('nft list table inet anklume')).toContain('iifname "net-adm" oifname "net-adm" accept');
    await must('systemctl start incus.socket incus.service incus-startup.service');
    await waitFor('the instance to run again', async () => ((await sh('incus list --all-projects --format csv --columns ns')).stdout.trim() === 'san,RUNNING' ? true : undefined), { timeoutMs: 120_000 });
    await expectTableBeforeInstances();

    // anklumed on the broken file: running on the last valid version, saying where the error is.
    await must('systemctl start anklumed.service');
    const s = await waitFor('anklumed to report the invalid infra.yml', async () => {
      const st = await status();
      return st !== undefined && !st.config.valid && st.firewall.managed ? st : undefined;
    }, { timeoutMs: 120_000, intervalMs: 1000 });
    expect(s.config.errors[0]).toContain('/etc/anklume/infra.yml:');
    expect(s.config.errors[0]).toContain('unknown key "tpye"');
    expect(await must('nft list table inet anklume')).toContain('iifname "net-adm" oifname "net-adm" accept');
  });
});
