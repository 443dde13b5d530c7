import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { FIREWALL_ACTION_ID, firewallState, planFirewall, type ObservedFirewall } from '../../src/controllers/firewall/table.js';
import { decodeLiveTable, diffFirewall } from '../../src/firewall/live.js';
import { renderFirewall } from '../../src/firewall/render.js';

// What nft 1.0.6 printed (`nft -j list table inet anklume`) after loading the example's rules.
const LIVE = JSON.parse(readFileSync(new URL('../fixtures/firewall/example.live.json', import.meta.url), 'utf8')) as { nftables: Record<string, any>[] };

function exampleRuleset(holder?: string | null): ReturnType<typeof renderFirewall> {
  const r = validateInfraText(readFileSync(new URL('../../infra.example.yml', import.meta.url), 'utf8'), { file: 'infra.example.yml', hostNetworks: [] });
  if (!r.ok) throw new Error('example invalid');
  return renderFirewall(r.model, holder === undefined ? {} : { aiAccessHolder: holder });
}

const copy = (): { nftables: Record<string, any>[] } => structuredClone(LIVE);
const rules = (doc: { nftables: Record<string, any>[] }): Record<string, any>[] => doc.nftables.filter((i) => 'rule' in i);

describe('decodeLiveTable and diffFirewall', () => {
  it('reads back what nft holds after loading the rendered rules as exactly those rules', () => {
    expect(diffFirewall(exampleRuleset(), decodeLiveTable(LIVE))).toEqual({ inSync: true, tablePresent: true, changes: [] });
  });

  it('sees no table when nft lists none', () => {
    expect(decodeLiveTable(null)).toBeNull();
    expect(decodeLiveTable({ nftables: [{ metainfo: {} }, { table: { family: 'inet', name: 'incus', handle: 1 } }] })).toBeNull();
    const diff = diffFirewall(exampleRuleset(), null);
    expect(diff.inSync).toBe(false);
    expect(diff.tablePresent).toBe(false);
    expect(diff.changes.every((c) => c.sign === '+')).toBe(true);
  });

  it('reports a rule deleted by hand as missing', () => {
    const doc = copy();
    const victim = rules(doc).find((r) => r.rule.comment === 'between domains: only what network_policies declare');
    doc.nftables = doc.nftables.filter((i) => i !== victim);
    const diff = diffFirewall(exampleRuleset(), decodeLiveTable(doc));
    expect(diff.inSync).toBe(false);
    expect(diff.changes).toEqual([{ sign: '+', line: 'chain forward: iifname "net-*" oifname "net-*" drop comment "between domains: only what network_policies declare"' }]);
  });

  it('reports a rule added by hand, even one anklume cannot decode', () => {
    const doc = copy();
    const at = doc.nftables.findIndex((i) => 'rule' in i);
    doc.nftables.splice(at, 0, { rule: { family: 'inet', table: 'anklume', chain: 'forward', handle: 99, expr: [{ counter: { packets: 0, bytes: 0 } }, { accept: null }] } });
    const diff = diffFirewall(exampleRuleset(), decodeLiveTable(doc));
    expect(diff.changes).toEqual([{ sign: '-', line: 'chain forward: [not written by anklume] [{"counter":{"packets":0,"bytes":0}},{"accept":null}]' }]);
  });

  it('reports a changed verdict, a changed port and a reordering', () => {
    const doc = copy();
    const sanitizer = rules(doc).find((r) => String(r.rule.comment).startsWith('ai_provider local-first: pro reaches the sanitizer'));
    sanitizer!.rule.expr[3].match.right = 8090;
    const diff = diffFirewall(exampleRuleset(), decodeLiveTable(doc));
    expect(diff.changes.map((c) => c.sign).sort()).toEqual(['+', '-']);

    const swapped = copy();
    const list = swapped.nftables;
    const i = list.findIndex((x) => x.rule?.comment === 'inside domain pro');
    [list[i], list[i + 1]] = [list[i + 1]!, list[i]!];
    expect(diffFirewall(exampleRuleset(), decodeLiveTable(swapped)).inSync).toBe(false);
  });

  it('compares the chain hook, priority and policy', () => {
    const doc = copy();
    const chain = doc.nftables.find((x) => x.chain?.name === 'forward');
    chain!.chain.policy = 'drop';
    expect(diffFirewall(exampleRuleset(), decodeLiveTable(doc)).changes).toContainEqual({ sign: '-', line: 'chain forward: type filter hook forward priority filter - 10; policy drop;' });
  });

  it('compares the AI access set: another holder is drift', () => {
    expect(diffFirewall(exampleRuleset('perso'), decodeLiveTable(LIVE)).changes).toEqual([
      { sign: '-', line: 'set ai_access: type ifname; elements { "net-pro" }' },
      { sign: '+', line: 'set ai_access: type ifname; elements { "net-perso" }' },
    ]);
  });
});

describe('firewallState and planFirewall', () => {
  const ruleset = exampleRuleset();
  const live = (doc: unknown): ObservedFirewall => ({ ok: true, table: decodeLiveTable(doc) });

  it('plans nothing when the live rules match', () => {
    expect(firewallState(ruleset, live(LIVE)).state).toBe('InSync');
    expect(planFirewall(ruleset, live(LIVE))).toBeNull();
  });

  it('creates the table when it is missing, listing every rule', () => {
    const action = planFirewall(ruleset, live(null));
    expect(action).toMatchObject({ id: FIREWALL_ACTION_ID, kind: 'firewall', verb: 'create', group: 'firewall' });
    expect(action?.changes.length).toBeGreaterThan(30);
    expect(action?.payload.script.startsWith('table inet anklume\ndelete table inet anklume\n')).toBe(true);
  });

  it('replaces the table on drift', () => {
    const doc = copy();
    doc.nftables = doc.nftables.filter((i) => !('rule' in i));
    const action = planFirewall(ruleset, live(doc));
    expect(action).toMatchObject({ verb: 'replace', reason: 'live rules differ: whole table replaced' });
    expect(firewallState(ruleset, live(doc)).message).toMatch(/isolation is not as declared/);
  });

  it('blocks, and says isolation is not enforced, when nft cannot be used', () => {
    const observed: ObservedFirewall = { ok: false, unavailable: true, error: 'nft not found at /nope/nft' };
    const state = firewallState(ruleset, observed);
    expect(state.state).toBe('Unavailable');
    expect(state.message).toBe('cannot manage the firewall: nft not found at /nope/nft; isolation between domains is NOT enforced');
    expect(planFirewall(ruleset, observed)?.blocked).toBe(state.message);
  });
});
