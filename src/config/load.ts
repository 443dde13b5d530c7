import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { AnklumeError } from '../shared/errors.js';
import type { HostNetwork } from './rules.js';
import { validateInfraText, type ValidationResult } from './validate.js';

/** infra.yml could not be read at all (as opposed to read and found invalid). */
export class ConfigReadError extends AnklumeError {
  constructor(path: string, cause: unknown) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message;
    super('CONFIG_UNREADABLE', `cannot read ${path}: ${reason}`, { cause });
  }
}

/** The host's IPv4 networks, for the subnet overlap rule. */
export function detectHostNetworks(): HostNetwork[] {
  return Object.entries(networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? [])
      .filter((a) => a.family === 'IPv4' && !a.internal && a.cidr !== null)
      .map((a) => ({ interface: name, cidr: a.cidr ?? '' })),
  );
}

/** Read and validate an infra.yml file. Throws ConfigReadError when it cannot be read. */
export async function loadInfraFile(path: string, options: { hostNetworks?: readonly HostNetwork[] } = {}): Promise<ValidationResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigReadError(path, err);
  }
  return validateInfraText(text, { file: path, ...(options.hostNetworks === undefined ? {} : { hostNetworks: options.hostNetworks }) });
}
