import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { validateInfraText } from '../../src/config/validate.js';
import type { HostNetwork } from '../../src/config/rules.js';

/** A small valid infra that each case bends one way. */
function base(): Record<string, any> {
  return {
    project_name: 'corpus',
    global: {},
    domains: {
      pro: { trust_level: 'trusted', subnet_id: 0, machines: { 'pro-dev': { ip: '10.110.0.10' }, 'pro-web': {} } },
      perso: { trust_level: 'trusted', machines: { 'perso-desktop': {} } },
      'ai-tools': { machines: { 'gpu-server': { gpu: true, roles: ['ollama_server'] } } },
    },
    network_policies: [{ from: 'pro', to: 'ai-tools', ports: [11434] }],
  };
}

type Case = {
  rule: string;
  name: string;
  accept: (d: Record<string, any>) => void;
  reject: (d: Record<string, any>) => void;
  /** The rule id expected on the rejecting case, when not `rule`. */
  expectRule?: string;
  /** A fragment the message, expected, found or hint must contain. */
  says?: string;
  hostNetworks?: HostNetwork[];
};

const cases: Case[] = [
  { rule: 'unknown-key', name: 'unknown keys are rejected with a hint', accept: () => {}, reject: (d) => { d.domains.pro.machines['pro-dev'].tpye = 'lxc'; }, says: 'did you mean "type"?' },
  { rule: 'unknown-key', name: 'unknown top-level keys are rejected', accept: () => {}, reject: (d) => { d.network_policy = []; }, says: 'did you mean "network_policies"?' },
  { rule: 'required', name: 'domains is required', accept: () => {}, reject: (d) => { delete d.domains; } },
  { rule: 'required', name: 'a policy needs from', accept: () => {}, reject: (d) => { delete d.network_policies[0].from; } },
  { rule: 'schema', name: 'ai_provider is local, cloud or local-first', accept: (d) => { d.domains.pro.ai_provider = 'local-first'; }, reject: (d) => { d.domains.pro.ai_provider = 'clowd'; }, says: 'did you mean "cloud"?' },
  { rule: 'schema', name: 'ai_sanitize is true, false or always', accept: (d) => { d.domains.perso.ai_sanitize = 'always'; }, reject: (d) => { d.domains.pro.ai_sanitize = 'sometimes'; }, says: '"always"' },
  { rule: 'schema', name: 'trust_level is one of the five levels', accept: (d) => { d.domains.perso.trust_level = 'untrusted'; }, reject: (d) => { d.domains.perso.trust_level = 'trusty'; }, says: 'semi-trusted' },
  { rule: 'schema', name: 'machine type is lxc or vm', accept: (d) => { d.domains.pro.machines['pro-web'].type = 'vm'; }, reject: (d) => { d.domains.pro.machines['pro-web'].type = 'docker'; } },
  { rule: 'schema', name: 'ai_access_policy is open or exclusive', accept: (d) => { d.global.ai_access_policy = 'open'; }, reject: (d) => { d.global.ai_access_policy = 'shared'; }, says: 'exclusive' },
  { rule: 'schema', name: 'ports are 1-65535', accept: (d) => { d.network_policies[0].ports = [1, 65535]; }, reject: (d) => { d.network_policies[0].ports = [0]; }, says: '>= 1' },
  { rule: 'schema', name: 'ports above 65535 are rejected', accept: (d) => { d.network_policies[0].ports = 'all'; }, reject: (d) => { d.network_policies[0].ports = [65536]; }, says: '<= 65535' },
  { rule: 'schema', name: 'ports is a list or all', accept: (d) => { d.network_policies[0].ports = 'all'; }, reject: (d) => { d.network_policies[0].ports = 'any'; }, says: '"all"' },
  { rule: 'schema', name: 'protocol is tcp or udp', accept: (d) => { d.network_policies[0].protocol = 'udp'; }, reject: (d) => { d.network_policies[0].protocol = 'icmp'; } },
  { rule: 'schema', name: 'subnet_id is 0-255', accept: (d) => { d.domains.perso.subnet_id = 255; }, reject: (d) => { d.domains.perso.subnet_id = 256; } },
  { rule: 'schema', name: 'project_name is DNS-safe', accept: (d) => { d.project_name = 'my-infra'; }, reject: (d) => { d.project_name = 'My Infra'; } },
  { rule: 'name-dns-safe', name: 'domain names are DNS-safe', accept: (d) => { d.domains['lab-01'] = {}; }, reject: (d) => { d.domains.Lab_01 = {}; } },
  { rule: 'name-dns-safe', name: 'machine names are DNS-safe', accept: (d) => { d.domains.pro.machines['pro-db2'] = {}; }, reject: (d) => { d.domains.pro.machines['pro-.db'] = {}; } },
  { rule: 'bridge-name-length', name: 'net-<domain> fits the 15-character interface limit', accept: (d) => { d.domains.abcdefghijk = {}; }, reject: (d) => { d.domains.abcdefghijkl = {}; }, says: 'net-abcdefghijkl' },
  { rule: 'name-reserved', name: 'host is not a domain name', accept: (d) => { d.domains.hostx = {}; }, reject: (d) => { d.domains.host = {}; } },
  { rule: 'machine-name-unique', name: 'machine names are unique across domains', accept: (d) => { d.domains.perso.machines['perso-dev'] = {}; }, reject: (d) => { d.domains.perso.machines['pro-dev'] = {}; }, says: 'already declared in domain "pro"' },
  { rule: 'name-ambiguous', name: 'a machine does not share a domain name', accept: () => {}, reject: (d) => { d.domains.perso.machines.pro = {}; } },
  { rule: 'addressing-mode', name: 'legacy and zone addressing exclude each other', accept: (d) => { d.global.addressing = { zone_base: 100 }; }, reject: (d) => { d.global.addressing = { zone_base: 120 }; d.global.base_subnet = '10.100'; setSubnetIds(d); } },
  { rule: 'base-subnet-format', name: 'base_subnet is two octets', accept: (d) => { d.global.base_subnet = '10.100'; setSubnetIds(d); }, reject: (d) => { d.global.base_subnet = '10.300'; setSubnetIds(d); } },
  { rule: 'subnet-id-required', name: 'legacy addressing needs subnet_id on every domain', accept: (d) => { d.global.base_subnet = '10.100'; setSubnetIds(d); }, reject: (d) => { d.global.base_subnet = '10.100'; setSubnetIds(d); delete d.domains.perso.subnet_id; } },
  { rule: 'subnet-id-unique', name: 'subnet_id is unique within a zone', accept: (d) => { d.domains.perso.subnet_id = 3; d.domains['ai-tools'].subnet_id = 3; }, reject: (d) => { d.domains.perso.subnet_id = 0; }, says: 'trusted zone' },
  { rule: 'subnet-id-unique', name: 'legacy subnet_id is unique', accept: (d) => { d.global.base_subnet = '10.100'; setSubnetIds(d); }, reject: (d) => { d.global.base_subnet = '10.100'; setSubnetIds(d); d.domains.perso.subnet_id = d.domains.pro.subnet_id; } },
  { rule: 'subnet-host-overlap', name: 'domain subnets do not overlap the host networks', accept: () => {}, reject: () => {}, hostNetworks: [{ interface: 'eth0', cidr: '10.110.0.0/16' }] },
  { rule: 'ip-valid', name: 'machine addresses are IPv4', accept: () => {}, reject: (d) => { d.domains.pro.machines['pro-dev'].ip = '10.110.0.300'; } },
  { rule: 'ip-in-subnet', name: "machine addresses are in their domain's subnet", accept: () => {}, reject: (d) => { d.domains.pro.machines['pro-dev'].ip = '10.110.1.10'; }, says: '10.110.0.0/24' },
  { rule: 'ip-static-range', name: 'static addresses stay out of the gateway and DHCP range', accept: (d) => { d.domains.pro.machines['pro-dev'].ip = '10.110.0.99'; }, reject: (d) => { d.domains.pro.machines['pro-dev'].ip = '10.110.0.254'; } },
  { rule: 'ip-unique', name: 'machine addresses are unique', accept: (d) => { d.domains.pro.machines['pro-web'].ip = '10.110.0.11'; }, reject: (d) => { d.domains.pro.machines['pro-web'].ip = '10.110.0.10'; }, says: 'pro-dev' },
  { rule: 'ip-pool-exhausted', name: 'at most 99 static addresses per domain', accept: (d) => { addMachines(d, 97); }, reject: (d) => { addMachines(d, 98); } },
  { rule: 'profile-known', name: 'machine profiles are declared in the domain', accept: (d) => { d.domains.pro.profiles = { big: { config: { 'limits.cpu': 4 } } }; d.domains.pro.machines['pro-web'].profiles = ['default', 'big']; }, reject: (d) => { d.domains.pro.profiles = { big: {} }; d.domains.pro.machines['pro-web'].profiles = ['default', 'bigg']; }, says: 'did you mean "big"?' },
  { rule: 'profile-reserved', name: 'the default profile is anklume\'s', accept: () => {}, reject: (d) => { d.domains.pro.profiles = { default: {} }; } },
  { rule: 'config-reserved-key', name: 'volatile and ownership keys are reserved', accept: (d) => { d.domains.pro.machines['pro-web'].config = { 'user.team': 'a' }; }, reject: (d) => { d.domains.pro.machines['pro-web'].config = { 'user.anklume.owner': 'me' }; } },
  { rule: 'device-type-required', name: 'devices have a type', accept: (d) => { d.global.host_disk_paths = ['/srv']; d.domains.pro.machines['pro-web'].devices = { data: { type: 'disk', source: '/srv', path: '/srv' } }; }, reject: (d) => { d.domains.pro.machines['pro-web'].devices = { data: { source: '/srv', path: '/srv' } }; } },
  { rule: 'policy-endpoint-known', name: 'policy endpoints are domains, machines or host', accept: (d) => { d.network_policies.push({ from: 'host', to: 'pro-dev', ports: [22] }); }, reject: (d) => { d.network_policies.push({ from: 'host', to: 'pro-dve', ports: [22] }); }, says: 'did you mean "pro-dev"?' },
  { rule: 'policy-endpoint-known', name: 'policy sources are known', accept: () => {}, reject: (d) => { d.network_policies.push({ from: 'nowhere', to: 'pro', ports: 'all' }); } },
  { rule: 'policy-endpoint-known', name: 'a policy may go to an address or CIDR outside anklume', accept: (d) => { d.network_policies.push({ from: 'pro-dev', to: '192.168.1.0/24', ports: [443] }, { from: 'pro', to: '192.168.7.20', ports: [53], protocol: 'udp' }); }, reject: (d) => { d.network_policies.push({ from: 'pro', to: '192.168.1.0/33', ports: [443] }); }, says: 'IPv4 address or CIDR' },
  { rule: 'policy-network-from', name: 'an address is only ever a destination', accept: () => {}, reject: (d) => { d.network_policies.push({ from: '192.168.1.0/24', to: 'pro', ports: [22] }); }, says: 'proxy device' },
  { rule: 'policy-network-canonical', name: 'a CIDR has no host bits set', accept: (d) => { d.network_policies.push({ from: 'pro', to: '192.168.1.0/24', ports: [443] }); }, reject: (d) => { d.network_policies.push({ from: 'pro', to: '192.168.1.5/24', ports: [443] }); }, says: '192.168.1.0/24' },
  { rule: 'policy-network-from-host', name: "the host's own traffic is not a policy", accept: () => {}, reject: (d) => { d.network_policies.push({ from: 'host', to: '192.168.1.0/24', ports: [443] }); } },
  { rule: 'policy-network-bidirectional', name: 'a policy to an address works one way', accept: () => {}, reject: (d) => { d.network_policies.push({ from: 'pro', to: '192.168.1.0/24', ports: [443], bidirectional: true }); } },
  { rule: 'policy-network-inside-domain', name: "an address inside a domain's subnet names the domain instead", accept: (d) => { d.network_policies.push({ from: 'perso', to: '10.0.0.0/8', ports: [443] }); }, reject: (d) => { d.network_policies.push({ from: 'perso', to: '10.110.0.10', ports: [22] }); }, says: 'name the domain "pro"' },
  { rule: 'ai-sanitize-always-direct', name: 'an always-sanitized domain gets no direct way to Ollama', accept: (d) => { d.global.ai_access_policy = 'open'; d.domains.pro.ai_sanitize = 'always'; d.network_policies[0].ports = [8000]; }, reject: (d) => { d.global.ai_access_policy = 'open'; d.domains.pro.ai_sanitize = 'always'; }, says: 'only through the sanitizer' },
  { rule: 'ai-sanitize-always-direct', name: 'not to the Ollama machine either, on any port list that holds its port', accept: (d) => { d.global.ai_access_policy = 'open'; d.domains.pro.ai_sanitize = 'always'; d.network_policies[0] = { from: 'pro-dev', to: 'gpu-server', ports: [22] }; }, reject: (d) => { d.global.ai_access_policy = 'open'; d.domains.pro.ai_sanitize = 'always'; d.network_policies[0] = { from: 'pro-dev', to: 'gpu-server', ports: 'all' }; }, says: 'without 11434' },
  { rule: 'schema', name: 'a placement names a member or a group, not both', accept: (d) => { d.domains.pro.placement = { member: 'm1' }; }, reject: (d) => { d.domains.pro.placement = { member: 'm1', group: 'gpu' }; }, says: 'exactly one of member or group' },
  { rule: 'placement-one-member', name: "a bridge domain's machines stay on one member", accept: (d) => { d.domains.pro.placement = { member: 'm1' }; d.domains.pro.machines['pro-web'].placement = { member: 'm1' }; }, reject: (d) => { d.domains.pro.placement = { member: 'm1' }; d.domains.pro.machines['pro-web'].placement = { member: 'm2' }; }, says: 'needs an OVN network' },
  { rule: 'placement-group-single-machine', name: 'a group may spread machines: only for a domain of one machine', accept: (d) => { d.domains.perso.placement = { group: 'desk' }; }, reject: (d) => { d.domains.pro.placement = { group: 'desk' }; }, says: 'OVN' },
  { rule: 'placement-policy-one-member', name: 'a policy joins domains on one member', accept: (d) => { d.domains.pro.placement = { member: 'm1' }; d.domains['ai-tools'].placement = { member: 'm1' }; }, reject: (d) => { d.domains.pro.placement = { member: 'm1' }; d.domains['ai-tools'].placement = { member: 'm2' }; }, says: 'no route between bridges of two members' },
  { rule: 'policy-self', name: 'a policy joins two different places', accept: () => {}, reject: (d) => { d.network_policies.push({ from: 'pro', to: 'pro', ports: 'all' }); } },
  { rule: 'disposable-no-cloud', name: 'a disposable domain never uses the cloud', accept: (d) => { d.domains.sandbox = { trust_level: 'disposable', ai_provider: 'local' }; }, reject: (d) => { d.domains.sandbox = { trust_level: 'disposable', ai_provider: 'cloud' }; } },
  { rule: 'disposable-no-cloud', name: 'a disposable domain is not local-first either', accept: (d) => { d.domains.sandbox = { trust_level: 'disposable' }; }, reject: (d) => { d.domains.sandbox = { trust_level: 'disposable', ai_provider: 'local-first' }; } },
  { rule: 'gpu-exclusive', name: 'at most one GPU instance under gpu_policy exclusive', accept: (d) => { d.global.gpu_policy = 'shared'; d.domains.pro.machines['pro-web'].gpu = true; }, reject: (d) => { d.domains.pro.machines['pro-web'].gpu = true; }, says: '"pro-web" already has it' },
  // spec/002 (ai-switch) validation table
  { rule: 'ai-access-default-required', name: 'exclusive needs ai_access_default', accept: (d) => { exclusive(d); }, reject: (d) => { exclusive(d); delete d.global.ai_access_default; } },
  { rule: 'ai-access-default-not-ai-tools', name: 'ai_access_default is not ai-tools', accept: (d) => { exclusive(d); }, reject: (d) => { exclusive(d); d.global.ai_access_default = 'ai-tools'; } },
  { rule: 'ai-access-default-known', name: 'ai_access_default is a known domain', accept: (d) => { exclusive(d); d.global.ai_access_default = 'perso'; }, reject: (d) => { exclusive(d); d.global.ai_access_default = 'persso'; }, says: 'did you mean "perso"?' },
  { rule: 'ai-tools-required', name: 'exclusive needs an ai-tools domain', accept: (d) => { exclusive(d); }, reject: (d) => { exclusive(d); delete d.domains['ai-tools']; d.network_policies = []; } },
  { rule: 'ai-tools-single-policy', name: 'exclusive allows one policy into ai-tools', accept: (d) => { d.network_policies.push({ from: 'perso', to: 'gpu-server', ports: [11434] }); }, reject: (d) => { exclusive(d); d.network_policies.push({ from: 'perso', to: 'gpu-server', ports: [11434] }); } },
  { rule: 'ai-access-default-needs-exclusive', name: 'ai_access_default without exclusive would silently do nothing', accept: () => {}, reject: (d) => { d.global.ai_access_default = 'pro'; } },
  { rule: 'openclaw-server', name: 'OpenClaw needs one openclaw_server machine', accept: (d) => { d.domains.pro.openclaw = { enabled: true }; d.domains.pro.machines['pro-web'].roles = ['openclaw_server']; }, reject: (d) => { d.domains.pro.openclaw = { enabled: true }; } },
  { rule: 'openclaw-server', name: 'an openclaw_server machine needs OpenClaw enabled', accept: () => {}, reject: (d) => { d.domains.pro.machines['pro-web'].roles = ['openclaw_server']; } },
  { rule: 'openclaw-cloud-needs-provider', name: 'a cloud model needs a cloud-capable provider', accept: (d) => { openclaw(d); d.domains.pro.ai_provider = 'local-first'; d.domains.pro.openclaw.cloud_model = 'claude-sonnet-4-5'; }, reject: (d) => { openclaw(d); d.domains.pro.openclaw.cloud_model = 'claude-sonnet-4-5'; } },
  // What breaks a domain's boundary (issue: isolation that fails closed), per trust level, unless allow_unsafe names it.
  { rule: 'boundary-privileged', name: 'no privileged container outside the admin domain', accept: (d) => { d.domains.pro.machines['pro-web'].config = { 'security.privileged': true }; d.domains.pro.machines['pro-web'].allow_unsafe = ['privileged']; }, reject: (d) => { d.domains.pro.machines['pro-web'].config = { 'security.privileged': 'true' }; }, says: 'refused in a trusted domain' },
  { rule: 'boundary-privileged', name: 'the admin domain may run privileged containers', accept: (d) => { d.domains.admin = { trust_level: 'admin', machines: { 'admin-box': { config: { 'security.privileged': 'true' } } } }; }, reject: (d) => { d.domains.perso.machines['perso-desktop'].config = { 'security.privileged': 'yes' }; } },
  { rule: 'boundary-raw-config', name: 'no raw.* keys outside the admin domain', accept: (d) => { d.domains.pro.profiles = { low: { config: { 'raw.lxc': 'lxc.apparmor.profile=unconfined' }, allow_unsafe: ['raw-config'] } }; }, reject: (d) => { d.domains.pro.profiles = { low: { config: { 'raw.lxc': 'lxc.apparmor.profile=unconfined' } } }; }, says: 'add "allow_unsafe: [raw-config]" to the profile' },
  { rule: 'boundary-host-disk', name: 'host paths only from global.host_disk_paths', accept: (d) => { d.global.host_disk_paths = ['/srv/shared']; d.domains.pro.machines['pro-web'].devices = { data: { type: 'disk', source: '/srv/shared/pro', path: '/data' }, vol: { type: 'disk', source: 'pro-data', pool: 'default', path: '/vol' } }; }, reject: (d) => { d.global.host_disk_paths = ['/srv/shared']; d.domains.pro.machines['pro-web'].devices = { root: { type: 'disk', source: '/', path: '/host' } }; }, says: 'mounts the host path /' },
  { rule: 'boundary-host-disk', name: 'a host path cannot climb out of an allowed directory', accept: () => {}, reject: (d) => { d.global.host_disk_paths = ['/srv/shared']; d.domains.pro.machines['pro-web'].devices = { data: { type: 'disk', source: '/srv/shared/../../etc', path: '/data' } }; } },
  { rule: 'boundary-host-disk', name: 'an allowed directory is not a prefix of a sibling', accept: () => {}, reject: (d) => { d.global.host_disk_paths = ['/srv/shared']; d.domains.pro.machines['pro-web'].devices = { data: { type: 'disk', source: '/srv/shared-secrets', path: '/data' } }; } },
  { rule: 'boundary-cross-domain-device', name: 'no proxy into another domain', accept: (d) => { d.domains.pro.machines['pro-web'].devices = { web: { type: 'proxy', listen: 'tcp:0.0.0.0:8080', connect: 'tcp:127.0.0.1:80' } }; }, reject: (d) => { d.domains.pro.machines['pro-web'].devices = { sneak: { type: 'proxy', listen: 'tcp:127.0.0.1:5432', connect: 'tcp:10.110.1.1:5432' } }; }, says: 'an address of domain "perso"' },
  { rule: 'boundary-cross-domain-device', name: 'no NIC outside the domain bridge', accept: (d) => { d.domains.pro.machines['pro-web'].devices = { eth1: { type: 'nic', network: 'net-pro' } }; }, reject: (d) => { d.domains.pro.machines['pro-web'].devices = { eth1: { type: 'nic', network: 'net-perso' } }; }, says: 'goes around the firewall' },
  { rule: 'boundary-cross-domain-device', name: 'no NIC on a host interface', accept: () => {}, reject: (d) => { d.domains.pro.machines['pro-web'].devices = { lan: { type: 'nic', nictype: 'macvlan', parent: 'eth0' } }; } },
  { rule: 'boundary-nesting', name: 'no nesting in untrusted and disposable domains', accept: (d) => { d.domains.pro.machines['pro-web'].config = { 'security.nesting': 'true' }; d.domains.lab = { trust_level: 'disposable', machines: { 'lab-1': { config: { 'security.nesting': 'true' }, allow_unsafe: ['nesting'] } } }; }, reject: (d) => { d.domains.lab = { trust_level: 'untrusted', machines: { 'lab-1': { config: { 'security.nesting': 'true' } } } }; }, says: 'refused in a untrusted domain' },
];

function setSubnetIds(d: Record<string, any>): void {
  // Legacy subnets differ from the zones: let addresses be assigned.
  Object.values(d.domains).forEach((domain: any, i) => { domain.subnet_id = i + 1; });
  delete d.domains.pro.machines['pro-dev'].ip;
}
function exclusive(d: Record<string, any>): void {
  d.global.ai_access_policy = 'exclusive';
  d.global.ai_access_default = 'pro';
}
function openclaw(d: Record<string, any>): void {
  d.domains.pro.openclaw = { enabled: true };
  d.domains.pro.machines['pro-web'].roles = ['openclaw_server'];
}
function addMachines(d: Record<string, any>, n: number): void {
  for (let i = 0; i < n; i++) d.domains.pro.machines[`pro-m${i}`] = {};
}

function run(data: Record<string, any>, hostNetworks?: HostNetwork[]) {
  return validateInfraText(stringify(data), { file: 'infra.yml', ...(hostNetworks === undefined ? {} : { hostNetworks }) });
}

describe('infra.yml rules: each has an accepting and a rejecting case', () => {
  it('accepts the base file', () => {
    expect(run(base()).issues).toEqual([]);
  });

  for (const c of cases) {
    it(`${c.rule}: ${c.name}`, () => {
      const good = base();
      c.accept(good);
      const accepted = run(good, c.rule === 'subnet-host-overlap' ? [{ interface: 'eth0', cidr: '192.168.1.0/24' }] : undefined);
      expect(accepted.issues, 'accepting case').toEqual([]);

      const bad = base();
      c.reject(bad);
      const rejected = run(bad, c.hostNetworks);
      expect(rejected.ok).toBe(false);
      const matching = rejected.issues.filter((i) => i.rule === (c.expectRule ?? c.rule));
      expect(matching.length, JSON.stringify(rejected.issues, null, 1)).toBeGreaterThan(0);
      for (const issue of rejected.issues) {
        expect(issue.line).toBeGreaterThan(0);
        expect(issue.column).toBeGreaterThan(0);
      }
      if (c.says !== undefined) {
        const text = matching.map((i) => [i.message, i.expected, i.found, i.hint].join(' ')).join('\n');
        expect(text).toContain(c.says);
      }
    });
  }
});
