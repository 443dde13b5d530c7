import { setTimeout as sleep } from 'node:timers/promises';
import { TurnLock } from '../../reconcile/turn-lock.js';
import { describeError } from '../../shared/errors.js';
import { backoffDelay, backoffPolicy } from '../../shared/backoff.js';

/**
 * What Incus 6.0 answers when a host interface vanished while it set a bridge
 * up (the host end of a container's veth, as the container starts or stops):
 * "Failed to delete bridge children interfaces: Failed to run: ip -d -j link
 * show vethb50cc5f1: exit status 1 (Device "vethb50cc5f1" does not exist.)".
 */
const INTERFACE_VANISHED = /Failed to delete bridge children interfaces:[^]*does not exist/;

/** A bridge create tripped by a vanished interface is sent again this many times at most. */
const CREATE_ATTEMPTS = 6;
const CREATE_RETRY = backoffPolicy(undefined, { baseMs: 100, capMs: 1000, jitter: 'equal' });

/**
 * The host's network interfaces, as Incus writes may change them.
 *
 * Why: Incus 6.0 lists the host's interfaces while it sets a bridge up (create
 * or update) and fails when one vanishes meanwhile, as the host end of a
 * container's veth does when the container starts or stops (INTERFACE_VANISHED).
 * Measured on Incus 6.0.4 (btrfs), 4 bridges created while 3 containers with
 * a NIC on another bridge started: 2 rounds of 5 failed so. Measured the same
 * way, with no error: 10 bridges created at once (3 rounds: bridges together
 * are safe) and 4 bridges created while 3 containers were created stopped
 * (5 rounds: a create may overlap a bridge).
 *
 * - A bridge create overlaps everything and is sent again when it trips so:
 *   a failed create is undone whole by Incus (the network and its record are
 *   deleted), so sending it again is safe. Waiting instead would cost more:
 *   Incus sets bridges up one after another whatever is sent together, ~0.75 s
 *   each with an address (0.19 s without; three sent at once were done at
 *   0.93, 1.68 and 2.48 s, bench/reconcile.ts), and every instance start of
 *   every domain would wait for the last one.
 * - Bridge updates and deletes, whose failure Incus does not undo whole, and
 *   instance starts, stops, updates and deletes take turns (each group
 *   together, never both at once). A waiting turn goes before later arrivals
 *   of the group holding the lock: the bridges are not starved by a stream of
 *   starts. An instance create (stopped: storage only) takes no turn.
 */
export class InterfaceLock {
  private readonly turns = new TurnLock<'bridges' | 'instances'>();

  /** Create a bridge on one Incus (a cluster's takes the turn: apply.ts): at once, sent again while Incus trips on a vanished interface. */
  async bridgeCreate<T>(fn: () => Promise<T>, pause: (ms: number) => Promise<unknown> = sleep): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt + 1 >= CREATE_ATTEMPTS || !INTERFACE_VANISHED.test(describeError(err))) throw err;
        await pause(backoffDelay(attempt, CREATE_RETRY));
      }
    }
  }

  /** Update or delete a bridge: together with other bridge writes, never while an instance starts or stops. */
  bridgeWrite<T>(fn: () => Promise<T>): Promise<T> {
    return this.turns.with('bridges', fn);
  }

  /** Start, stop, update or delete an instance: together with other instances, never during a bridge write. */
  instanceWrite<T>(fn: () => Promise<T>): Promise<T> {
    return this.turns.with('instances', fn);
  }
}
