import { watch, type FSWatcher } from 'chokidar';
import { formatIssue } from '../config/issues.js';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigReadError } from '../config/load.js';
import { validateInfraText } from '../config/validate.js';
import type { HostNetwork } from '../config/rules.js';
import type { DesiredInfra } from '../schemas/model.js';
import { AnklumeError, describeError } from '../shared/errors.js';
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
  /**
   * Where the last valid version is kept (with the path it was read from), so
   * that a daemon (re)started on a broken file keeps converging to it: the
   * firewall and the instances stay as they were, and status says why.
   */
  readonly lastValidFile?: string;
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

  /**
   * Load the file once. An invalid file falls back to the last valid version
   * of the same file, reported invalid with its errors; with none kept, the
   * daemon does not start (the errors are thrown).
   */
  static async open(options: ConfigSourceOptions): Promise<ConfigSource> {
    const first = await read(options.path, options.hostNetworks());
    if (!('errors' in first)) {
      const source = new ConfigSource(options, first);
      await source.keepLastValid();
      return source;
    }
    const kept = await readLastValid(options);
    if (kept === undefined) throw new InvalidConfigError(options.path, first.errors);
    const source = new ConfigSource(options, kept);
    source.current = { ...source.current, valid: false, errors: first.errors };
    options.logger.error({ file: options.path, errors: first.errors, kept: options.lastValidFile }, 'infra.yml is invalid: starting on its last valid version, changing nothing from this one');
    return source;
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
    if (changed) await this.keepLastValid();
    this.options.onChange(this.current, changed);
  }

  /** Keep the valid version for a restart on a broken file (root-only: it may name key files). Never fatal. */
  private async keepLastValid(): Promise<void> {
    const file = this.options.lastValidFile;
    if (file === undefined) return;
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(`${file}.tmp`, JSON.stringify({ path: this.options.path, text: this.current.text }), { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    } catch (err) {
      this.options.logger.warn({ err: describeError(err), file }, 'cannot keep a copy of the valid infra.yml');
    }
  }
}

/** The kept valid version of this very file, validated again; undefined when there is none. */
async function readLastValid(options: ConfigSourceOptions): Promise<{ model: DesiredInfra; text: string } | undefined> {
  if (options.lastValidFile === undefined) return undefined;
  const raw = await readFile(options.lastValidFile, 'utf8').catch(() => undefined);
  if (raw === undefined) return undefined;
  let kept: unknown;
  try {
    kept = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof kept !== 'object' || kept === null || !('path' in kept) || !('text' in kept) || kept.path !== options.path || typeof kept.text !== 'string') return undefined;
  const result = validateInfraText(kept.text, { file: options.path, hostNetworks: options.hostNetworks() });
  return result.ok ? { model: result.model, text: kept.text } : undefined;
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
