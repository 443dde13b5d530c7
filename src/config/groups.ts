import { readFile } from 'node:fs/promises';
import { UsageError } from '../shared/errors.js';

/** A group name or number (for the control socket) as a gid, from /etc/group. */
export async function resolveGroup(nameOrGid: string, groupFile = '/etc/group'): Promise<number> {
  if (/^\d+$/.test(nameOrGid)) return Number(nameOrGid);
  const text = await readFile(groupFile, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === nameOrGid && gid !== undefined) return Number(gid);
  }
  throw new UsageError(`--socket-group: no group "${nameOrGid}" in ${groupFile}`);
}
