import { watch, type FSWatcher } from 'chokidar';
import { formatIssue } from '../config/issues.js';
import { readFile } from 'node:fs/promises';
import { ConfigReadError } from '../config/load.js';
import { validateInfraText } from '../config/validate.js';
import type { HostNetwork } from '../config/rules.js';
import type { DesiredInfra } from '../schemas/model.js';
import { AnklumeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

export interface ConfigState {
  /** The last valid model: what the daemon converges to, whatever the file says now. */
  readonly model: DesiredInfra;
  /** The text of that valid version (the sanitizer gets a copy of it). */
  readonly text: string;
  readonly valid: boolean;
  /** `file:line:col: path: message` lines when the file on disk is invalid. */
  readonly errors: readonly string[];
  readonly loadedAt: string;
}

export interface ConfigSourceOptions {
  readonly path: string;
  /** Quiet time after the last file event before reading (editors write in bursts). */
  readonly debounceMs: number;
  readonly hostNetworks: () => readonly HostNetwork[];
  readonly logger: Logger;
  /** Called after every read: with a new model when it validated, with the old one otherwise. */
  readonly onChange: (state: ConfigState, changed: boolean) => void;
}

/** Read infra.yml; the error lines when it is invalid or unreadable. */
async function read(path: string, hostNetworks: readonly HostNetwork[]): Promise<{ model: DesiredInfra; text: string } | { errors: string[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { errors: [new ConfigReadError(path, err).message] };
  }
  const result = validateInfraText(text, { file: path, hostNetworks });
  return result.ok ? { model: result.model, text } : { errors: result.issues.map(formatIssue) };
}

/**
 * infra.yml as the daemon sees it. A broken or half-written file changes
 * nothing: the last valid model stays in force and the errors are reported
 * until the file is fixed. chokidar follows editors that save by rename.
 */
export class ConfigSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private current: ConfigState;

  private constructor(private readonly options: ConfigSourceOptions, initial: { model: DesiredInfra; text: string }) {
    this.current = { model: initial.model, text: initial.text, valid: true, errors: [], loadedAt: new Date().toISOString() };
  }

  /** Load the file once; a daemon does not start on an invalid file (the errors are thrown). */
  static async open(options: ConfigSourceOptions): Promise<ConfigSource> {
    const first = await read(options.path, options.hostNetworks());
    if ('errors' in first) throw new InvalidConfigError(options.path, first.errors);
    return new ConfigSource(options, first);
  }

  get state(): ConfigState {
    return this.current;
  }

  watch(): void {
    this.watcher = watch(this.options.path, { ignoreInitial: true, atomic: true });
    this.watcher.on('all', (event) => {
      this.options.logger.debug({ event, file: this.options.path }, 'infra.yml changed on disk');
      this.schedule();
    });
    this.watcher.on('error', (err) => this.options.logger.error({ err }, 'watching infra.yml failed'));
  }

  /** Re-read now (after the debounce), e.g. on the periodic resync. */
  schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reading = this.reading.then(() => this.reload());
    }, this.options.debounceMs);
  }

  /** Read the file now, skipping the debounce (an `anklumectl apply` must apply what is on disk). */
  readNow(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.reading = this.reading.then(() => this.reload());
    return this.reading;
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.watcher?.close();
    await this.reading;
  }

  private async reload(): Promise<void> {
    const result = await read(this.options.path, this.options.hostNetworks());
    const loadedAt = new Date().toISOString();
    if ('errors' in result) {
      const wasValid = this.current.valid;
      this.current = { ...this.current, valid: false, errors: result.errors, loadedAt };
      if (wasValid) this.options.logger.error({ file: this.options.path, errors: result.errors }, 'infra.yml is invalid: keeping the last valid version, changing nothing from this one');
      this.options.onChange(this.current, false);
      return;
    }
    // A comment edited changes the sanitizer's copy of the file, not the model: both count.
    const changed = JSON.stringify(result.model) !== JSON.stringify(this.current.model) || result.text !== this.current.text;
    if (!this.current.valid) this.options.logger.info({ file: this.options.path }, 'infra.yml is valid again: resuming');
    this.current = { model: result.model, text: result.text, valid: true, errors: [], loadedAt };
    if (changed) this.options.logger.info({ file: this.options.path, domains: result.model.domains.length }, 'infra.yml changed: converging');
    this.options.onChange(this.current, changed);
  }
}

/** The daemon refuses to start on an invalid infra.yml. */
export class InvalidConfigError extends AnklumeError {
  constructor(
    readonly file: string,
    readonly errors: readonly string[],
  ) {
    super('CONFIG_INVALID', `${errors.length} error${errors.length === 1 ? '' : 's'} in ${file}; anklumed does not start on an invalid file`);
  }
}
