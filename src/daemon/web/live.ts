import type { StatusDocument } from '../../controllers/status.js';
import { describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { renderFragment, type PageView } from './render.js';
import type { SanitizerMetricsReader } from './sanitizer-metrics.js';
import type { SseClient, SseFanout } from './sse.js';

/** What the page is drawn from: the daemon, or whatever a test feeds. */
export interface StatusSource {
  status(): StatusDocument;
  /** Called whenever the status may have changed (a run, an action, an event); returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

export interface LiveStatusOptions {
  readonly source: StatusSource;
  readonly sanitizer: SanitizerMetricsReader;
  readonly fanout: SseFanout;
  readonly logger: Logger;
  /** Changes closer together than this go out as one event (default 100 ms). */
  readonly throttleMs?: number;
  /** Looked at this often even without a change signal, as a safety net (default 5 s). */
  readonly safetyMs?: number;
  /** How often the sanitizer's counters are read while someone watches (default 15 s). */
  readonly sanitizerEveryMs?: number;
}

/** A view's identity, without the time it was made at: only a real change is pushed. */
function fingerprint(view: PageView): string {
  return JSON.stringify([{ ...view.status, generatedAt: '' }, view.sanitizer]);
}

/**
 * Pushes the rendered fragment to the page's event streams when the status
 * changes: the daemon signals every reconcile run, action and source change;
 * this renders at most once per `throttleMs` and only sends what differs from
 * the last event. Nothing runs while nobody watches.
 */
export class LiveStatus {
  private last: string | undefined;
  private pending: NodeJS.Timeout | undefined;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  private readonly throttleMs: number;

  constructor(private readonly options: LiveStatusOptions) {
    this.throttleMs = options.throttleMs ?? 100;
  }

  /** The page's data now, the sanitizer as last read. */
  view(): PageView {
    return { status: this.options.source.status(), sanitizer: this.options.sanitizer.current() };
  }

  /** The page's data after reading the sanitizer when its last reading is stale (bounded by the reader's timeout). */
  async freshView(): Promise<PageView> {
    await this.options.sanitizer.refresh();
    return this.view();
  }

  /** No room for another event stream (none once closed: a stream opened then would hold the server open). */
  get full(): boolean {
    return this.closed || this.options.fanout.full;
  }

  /** A new event stream: false when full; else it gets the current fragment at once, then every change. */
  add(client: SseClient): boolean {
    const { fanout } = this.options;
    if (this.closed || !fanout.add(client)) return false;
    const view = this.view();
    fanout.send(client, 'status', renderFragment(view));
    // The first watcher sets what "changed" is measured from; later ones leave it to what the others were sent.
    if (fanout.size === 1) {
      this.last = fingerprint(view);
      this.watch();
    }
    return true;
  }

  remove(client: SseClient): void {
    this.options.fanout.remove(client);
    if (this.options.fanout.size === 0) this.unwatch();
  }

  close(): void {
    this.closed = true;
    this.unwatch();
    this.options.fanout.close();
  }

  private watch(): void {
    const { source, sanitizer } = this.options;
    this.unsubscribe = source.onChange(() => this.changed());
    const safety = setInterval(() => this.changed(), this.options.safetyMs ?? 5_000);
    const scrape = setInterval(() => {
      sanitizer.refresh().then(() => this.changed(), (err: unknown) => this.options.logger.debug({ err: describeError(err) }, 'sanitizer counters'));
    }, this.options.sanitizerEveryMs ?? 15_000);
    this.timers = [safety, scrape];
    for (const t of this.timers) t.unref();
    // The first reading for the new watcher, so its page fills in without waiting a period.
    void sanitizer.refresh().then(() => this.changed());
  }

  private unwatch(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.pending);
    this.pending = undefined;
    this.last = undefined;
  }

  private changed(): void {
    if (this.pending !== undefined || this.options.fanout.size === 0) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.push();
    }, this.throttleMs);
  }

  private push(): void {
    if (this.options.fanout.size === 0) return;
    let view: PageView;
    try {
      view = this.view();
    } catch (err) {
      this.options.logger.warn({ err: describeError(err) }, 'status page: the status could not be read');
      return;
    }
    const print = fingerprint(view);
    if (print === this.last) return;
    this.last = print;
    this.options.fanout.broadcast('status', renderFragment(view));
  }
}
