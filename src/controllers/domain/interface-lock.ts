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

/** A bridge create step tripped by a vanished interface is tried this many times at most. */
const CREATE_ATTEMPTS = 6;
const CREATE_RETRY = backoffPolicy(undefined, { baseMs: 100, capMs: 1000, jitter: 'equal' });

/** Send a bridge write, again while Incus trips on a vanished interface, CREATE_ATTEMPTS times at most. */
async function sendWhileVanished(write: () => Promise<unknown>, pause: (ms: number) => Promise<unknown>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await write();
      return;
    } catch (err) {
      if (attempt + 1 >= CREATE_ATTEMPTS || !INTERFACE_VANISHED.test(describeError(err))) throw err;
      await pause(backoffDelay(attempt, CREATE_RETRY));
    }
  }
}

/**
 * The host's network interfaces, as Incus writes may change them: bridge
 * writes and instance writes take turns (each group together, never both at
 * once); an instance create (stopped: storage only) takes no turn, only its
 * start does.
 *
 * Why: Incus 6.0 lists the host's interfaces while it sets a bridge up (create
 * or update) and fails when one vanishes meanwhile, as the host end of a
 * container's veth does when the container starts or stops (INTERFACE_VANISHED).
 * Measured on Incus 6.0.4 (btrfs), 4 bridges created while 3 containers with
 * a NIC on another bridge started: 2 rounds of 5 failed so. Measured the same
 * way, with no error: 10 bridges created at once (3 rounds: bridges together
 * are safe) and 4 bridges created while 3 containers were created stopped
 * (5 rounds: a create may overlap a bridge). Sent together, bridge creates
 * still run one after another inside Incus, ~0.75 s each with DHCP, 500 ms of
 * it waiting on dnsmasq (three sent at once were done at 0.93, 1.68 and
 * 2.48 s), ~0.16 s each without: hence a create without DHCP, then an update
 * that adds it, which Incus runs side by side (apply.ts). So the bridges of
 * all domains go together, and what overlaps them is everything else:
 * projects, profiles, and the creates of
 * instances whose own bridge exists. A waiting turn goes before later
 * arrivals of the group holding the lock: the bridges, which unblock whole
 * domains, are not starved by a stream of starts.
 *
 * Letting bridge creates overlap starts and sending them again was measured
 * and is slower at scale: 10 domains of 3 instances took 51 s, 6 creates of 2
 * bridges tripped (one 4 times in a row, as each setup slows down under 30
 * booting containers) and the last bridge was up at 46 s; with turns, all 10
 * are up within ~8 s. With 3 domains of 2, 2 and 1 it gained ~0.1 s of ~4.4 s.
 *
 * A start that is not ours (a user's, another tool's) can still trip a
 * create; Incus undoes a failed create whole (the network and its record are
 * deleted), so a create is sent again, a few times, within its turn.
 */
export class InterfaceLock {
  private readonly turns = new TurnLock<'bridges' | 'instances'>();

  /**
   * Create a bridge, in steps (a create, then the update that gives it DHCP:
   * apply.ts): together with other bridge writes, never while one of our
   * instances starts or stops. Each step is sent again while Incus trips on
   * an interface that vanished meanwhile (a start that is not ours): Incus
   * undoes a failed create whole, and a failed update back to the config
   * before it. Only for a create on one Incus: a cluster's is not undone
   * whole (apply.ts).
   */
  bridgeCreate(steps: readonly (() => Promise<unknown>)[], pause: (ms: number) => Promise<unknown> = sleep): Promise<void> {
    return this.turns.with('bridges', async () => {
      for (const step of steps) await sendWhileVanished(step, pause);
    });
  }

  /** Update or delete a bridge (or create one on a cluster): together with other bridge writes, never while an instance starts or stops. */
  bridgeWrite<T>(fn: () => Promise<T>): Promise<T> {
    return this.turns.with('bridges', fn);
  }

  /** Start, stop, update or delete an instance: together with other instances, never during a bridge write. */
  instanceWrite<T>(fn: () => Promise<T>): Promise<T> {
    return this.turns.with('instances', fn);
  }
}
