import type { FirewallTarget } from '../controllers/firewall/check.js';
import { usesAcls } from '../controllers/whole-pass.js';
import type { ClusterView } from '../incus/cluster.js';
import { AnklumeError } from '../shared/errors.js';

/**
 * anklumed keeps the host's `inet anklume` table only. On a cluster or a
 * remote Incus, isolation is the network ACLs that `anklumectl apply` writes
 * (docs/cluster.md), and the daemon's domain reconciler, which knows nothing
 * of them, would take `security.acls` off every bridge it converges: it
 * would undo the isolation. So it refuses to run there, saying why.
 */
export function aclIncusRefusal(cluster: ClusterView, firewall: FirewallTarget): AnklumeError | undefined {
  if (!usesAcls(cluster, firewall)) return undefined;
  const where = cluster.clustered ? `Incus is a cluster (${cluster.members.length} members)` : 'Incus is remote (--incus-url)';
  return new AnklumeError(
    'DAEMON_ACL_INCUS',
    `${where}: there isolation is Incus network ACLs, which anklumed does not keep yet and its passes would remove; converge with anklumectl apply instead (docs/cluster.md). Nothing was changed`,
  );
}
