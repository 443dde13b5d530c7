import { describe, expect, it } from 'vitest';
import { aclIncusRefusal } from '../../src/daemon/acl-refusal.js';
import { SINGLE_SERVER } from '../../src/incus/cluster.js';
import type { FirewallTarget } from '../../src/controllers/firewall/check.js';

const host = { nft: {} } as unknown as FirewallTarget;
const remote: FirewallTarget = { unavailable: 'remote' };
const cluster = { clustered: true, serverName: 'm1', members: ['m1', 'm2', 'm3'].map((name) => ({ name, status: 'Online', message: '', groups: [] })) };

describe('aclIncusRefusal', () => {
  it('lets anklumed run on a single Incus whose nftables it writes', () => {
    expect(aclIncusRefusal(SINGLE_SERVER, host)).toBeUndefined();
  });

  it('refuses a cluster and a remote Incus, naming which and what to do instead', () => {
    expect(aclIncusRefusal(cluster, host)?.message).toMatch(/^Incus is a cluster \(3 members\): there isolation is Incus network ACLs, which anklumed does not keep yet .* anklumectl apply instead/);
    expect(aclIncusRefusal(SINGLE_SERVER, remote)?.message).toMatch(/^Incus is remote \(--incus-url\)/);
    expect(aclIncusRefusal(cluster, remote)?.code).toBe('DAEMON_ACL_INCUS');
  });
});
