import { TurnLock } from '../../reconcile/turn-lock.js';

/**
 * The host's network interfaces, as Incus writes may change them: bridge
 * writes and instance writes take turns (each group together, never both at
 * once); an instance create (stopped: storage only) takes no turn, only its
 * start does.
 *
 * Why: Incus 6.0 lists the host's interfaces while it sets a bridge up (create
 * or update) and fails when one vanishes meanwhile, as the host end of a
 * container's veth does when the container starts or stops: "Failed to delete
 * bridge children interfaces: Failed to run: ip -d -j link show vethb50cc5f1:
 * exit status 1 (Device "vethb50cc5f1" does not exist.)". Measured on Incus
 * 6.0.4 (btrfs), 4 bridges created while 3 containers with a NIC on another
 * bridge started: 2 rounds of 5 failed so. Measured the same way, with no
 * error: 10 bridges created at once (3 rounds: bridges together are safe) and
 * 4 bridges created while 3 containers were created stopped (5 rounds: a
 * create may overlap a bridge). Sent together, bridges still come up one
 * after another inside Incus, ~0.75 s each with an address (0.19 s without):
 * three sent at once were done at 0.93, 1.68 and 2.48 s (Incus 6.0.4, btrfs,
 * bench/reconcile.ts). So the bridges of all domains go together,
 * and what overlaps them is everything else: projects, profiles, and the
 * creates of instances whose own bridge exists. A waiting turn goes before
 * later arrivals of the group holding the lock: the bridges, which unblock
 * whole domains, are not starved by a stream of starts.
 */
export class InterfaceLock {
  private readonly turns = new TurnLock<'bridges' | 'instances'>();

  /** Create, update or delete a bridge: together with other bridge writes, never while an instance starts or stops. */
  bridgeWrite<T>(fn: () => Promise<T>): Promise<T> {
    return this.turns.with('bridges', fn);
  }

  /** Start, stop, update or delete an instance: together with other instances, never during a bridge write. */
  instanceWrite<T>(fn: () => Promise<T>): Promise<T> {
    return this.turns.with('instances', fn);
  }
}
