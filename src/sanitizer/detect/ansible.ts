import { identBefore, isWordChar, type TriggeredDetector } from './candidate.js';
import { readIpv4At } from './ip.js';
import { isHexOrColon, readIpv6At } from './ipv6.js';

const HOST_NAME = /[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?/y;

/** `ansible_host=10.0.0.5`, `ansible_host: db01.example.com`: the inventory's addresses, public ones included. */
export function ansibleHostDetector(): TriggeredDetector {
  return {
    trigger: `ansible_(?:ssh_)?host["']?[ \\t]*[=:][ \\t]*["']?`,
    detect(text, at, anchorEnd, push, scan) {
      if (!text.startsWith('ansible_', at) || identBefore(text, at)) return null;
      const ip6 = readIpv6At(text, anchorEnd, scan.runEnd(isHexOrColon, anchorEnd));
      if (ip6 !== null) {
        push({ start: ip6.start, end: ip6.end, category: 'ansible', pattern: 'ansible.host', kind: ip6.prefix === null ? 'ip6' : 'cidr6' });
        return anchorEnd;
      }
      const ip = readIpv4At(text, anchorEnd);
      if (ip !== null) {
        push({ start: ip.start, end: ip.end, category: 'ansible', pattern: 'ansible.host', kind: ip.prefix === null ? 'ip' : 'cidr' });
        // The scan goes on over the value: a declared address there ranks first.
        return anchorEnd;
      }
      HOST_NAME.lastIndex = anchorEnd;
      const m = HOST_NAME.exec(text);
      const end = anchorEnd + (m?.[0].length ?? 0);
      // Not a host name: `localhost`, a dotted number that is no address (`10.1.2.3-rc1`), a name glued to `_`.
      if (m === null || m[0] === 'localhost' || /^\d+\.\d+/.test(m[0]) || (end < text.length && isWordChar(text.charCodeAt(end)))) return null;
      push({ start: anchorEnd, end, category: 'ansible', pattern: 'ansible.host', kind: 'host' });
      return anchorEnd;
    },
  };
}

const SEGMENT = /[A-Za-z0-9][A-Za-z0-9_.-]*/y;
const EXTENSION = /\.(?:ya?ml|ini|json|cfg|toml|j2)$/;
/** Names that say nothing about the infrastructure. */
const GENERIC = new Set(['all', 'hosts', 'main', 'vars', 'default', 'defaults', 'group_vars', 'host_vars', 'inventory', 'inventories', 'ungrouped', 'localhost']);
const MARKERS: Readonly<Record<string, readonly [string, string]>> = {
  group_vars: ['ansible.group-vars', 'GROUP'],
  host_vars: ['ansible.host-vars', 'HOST'],
  inventory: ['ansible.inventory', 'INVENTORY'],
  inventories: ['ansible.inventory', 'INVENTORY'],
};

/**
 * `group_vars/<group>`, `host_vars/<host>`, `inventory/<name>` paths: the
 * group, host or inventory name is replaced, the directory and the file
 * extension stay (`group_vars/GROUP.yml`).
 */
export function ansiblePathDetector(): TriggeredDetector {
  return {
    trigger: '(?:group_vars|host_vars|inventory|inventories)/',
    detect(text, at, anchorEnd, push) {
      const dir = text.slice(at, anchorEnd - 1);
      const marker = MARKERS[dir];
      if (marker === undefined || identBefore(text, at)) return null;
      SEGMENT.lastIndex = anchorEnd;
      const m = SEGMENT.exec(text);
      if (m === null) return null;
      let name = m[0].replace(EXTENSION, '');
      // A sentence's final dots are not part of the name (a loop: `/\.+$/` is quadratic on a run of dots).
      while (name.endsWith('.')) name = name.slice(0, -1);
      if (name === '' || GENERIC.has(name)) return null;
      push({ start: anchorEnd, end: anchorEnd + name.length, category: 'ansible', pattern: marker[0], kind: 'name', marker: marker[1] });
      return anchorEnd;
    },
  };
}
