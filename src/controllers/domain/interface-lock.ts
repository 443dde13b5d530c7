import { SharedExclusiveLock } from '../../reconcile/shared-exclusive-lock.js';

/**
 * The host's network interfaces, as Incus writes may change them: a bridge
 * write takes them alone, instance writes share them, and an instance create
 * (stopped: storage only) does not take them at all; only its start does.
 *
 * Why: Incus 6.0 lists the host's interfaces while it sets a bridge up (create
 * or update) and fails when one vanishes meanwhile, as the host end of a
 * container's veth does when the container starts or stops: "Failed to delete
 * bridge children interfaces: Failed to run: ip -d -j link show vethb50cc5f1:
 * exit status 1 (Device "vethb50cc5f1" does not exist.)". Measured on Incus
 * 6.0.4 (btrfs), 4 bridges created while 3 containers with a NIC on another
 * bridge started: 2 rounds of 5 failed so. Measured the same way, with no
 * error: 10 bridges created at once (3 rounds) and 4 bridges created while 3
 * containers were created stopped (5 rounds). Bridges created at once are no
 * faster than one after another (10 in 10.3 s, one in 1.1 s: Incus sets them
 * up one at a time), so a bridge write simply takes the lock alone; what
 * overlaps the bridges of other domains is everything else: projects,
 * profiles, and the creates of instances whose own bridge exists.
 * A waiting bridge write goes before later instance writes (no starvation):
 * bridges unblock whole domains.
 */
export class InterfaceLock {
  private readonly lock = new SharedExclusiveLock();

  /** Create, update or delete a bridge: nothing else changes host interfaces meanwhile. */
  bridgeWrite<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.withExclusive(fn);
  }

  /** Start, stop, update or delete an instance: together with other instances, never during a bridge write. */
  instanceWrite<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.withShared(fn);
  }
}
