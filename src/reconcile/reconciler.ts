import { AnklumeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { HandlerResult } from './queue.js';

/**
 * What one reconcile call may return, as controller-runtime's `Result`:
 * nothing (converged; the key's backoff is forgotten), `{ requeueAfterMs }`
 * (look again later, e.g. to poll something that sends no events), or
 * `{ requeue: true }` (not done yet, again after the key's backoff).
 * Throwing is the error result: the key comes back after its backoff.
 */
export type ReconcileResult = HandlerResult | undefined | void;

export interface ReconcileContext {
  /** Aborted at the call's deadline, or when shutdown's own deadline passes. */
  readonly signal: AbortSignal;
  /** A child logger carrying the controller and the key. */
  readonly log: Logger;
}

/**
 * One controller's reconciler: level-triggered, it re-reads what it needs,
 * plans its own objects only, acts, and returns. The same input twice makes
 * no write the second time.
 */
export interface Reconciler {
  /** The controller's name: its queue, its metrics label, its log field. */
  readonly name: string;
  reconcile(ctx: ReconcileContext, key: string): Promise<ReconcileResult>;
}

/** A reconcile call ran past its deadline; its signal was aborted and whatever it was doing failed. */
export class DeadlineExceededError extends AnklumeError {
  constructor(controller: string, key: string, ms: number, cause: unknown) {
    super('DEADLINE_EXCEEDED', `${controller} ${key}: no result within its ${ms / 1000} s deadline`, { cause });
  }
}
