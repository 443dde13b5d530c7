import { describe, expect, it } from 'vitest';
import { concernsTable } from '../../src/firewall/monitor.js';

// Lines as `nft -j monitor ruleset` (nftables 1.0.6) printed them for changes made by hand in a namespace.
const ANKLUME = [
  '{"add": {"table": {"family": "inet", "name": "anklume", "handle": 1}}}',
  '{"add": {"chain": {"family": "inet", "table": "anklume", "name": "c1", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}}',
  '{"add": {"rule": {"family": "inet", "table": "anklume", "chain": "c1", "handle": 2, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "established"}}, {"accept": null}]}}}',
  '{"add": {"element": {"family": "inet", "table": "anklume", "name": "s1", "elem": {"set": ["10.1.1.1"]}}}}',
  '{"delete": {"rule": {"family": "inet", "table": "anklume", "chain": "c1", "handle": 2, "expr": [{"accept": null}]}}}',
  '{"delete": {"set": {"family": "inet", "name": "s1", "table": "anklume", "type": "invalid", "handle": 3}}}',
  '{"delete": {"table": {"family": "inet", "name": "anklume", "handle": 1}}}',
];

const OTHERS = [
  '{"add": {"table": {"family": "inet", "name": "other", "handle": 2}}}',
  // Incus's own table, and a table of the same name in another family: not anklume's.
  '{"add": {"chain": {"family": "inet", "table": "incus", "name": "fwd.net-pro", "handle": 4}}}',
  '{"delete": {"table": {"family": "ip", "name": "anklume", "handle": 7}}}',
  // A set named like the table, in another table.
  '{"add": {"set": {"family": "inet", "name": "anklume", "table": "other", "handle": 3}}}',
];

describe('concernsTable', () => {
  it.each(ANKLUME)('a change of inet anklume: %s', (line) => {
    expect(concernsTable(line)).toBe(true);
  });

  it.each(OTHERS)('a change elsewhere: %s', (line) => {
    expect(concernsTable(line)).toBe(false);
  });

  it('lines that are not such JSON are about nothing', () => {
    for (const line of ['', '# new generation 7 by process 15056 (nft)', 'add table inet anklume', '{"add": ', 'null', '"anklume"', '[{"add": {"table": null}}]', '{"add": "table"}'])
      expect(concernsTable(line), line).toBe(false);
  });
});
