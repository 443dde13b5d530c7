import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateInfraText } from '../../src/config/validate.js';
import { FirewallNotAppliedError, applyFirewall, observeFirewall, planFirewall, type FirewallPayload } from '../../src/controllers/firewall/table.js';
import { FirewallUnavailableError, Nft, NftError } from '../../src/firewall/nft.js';
import { renderFirewall } from '../../src/firewall/render.js';
import { fakeNft } from '../helpers/fake-nft.js';

// The failure paths of applying, with a stand-in nft: the real one is exercised by the e2e tests.
const LIVE = readFileSync(new URL('../fixtures/firewall/example.live.json', import.meta.url), 'utf8');

function example(): ReturnType<typeof renderFirewall> {
  const r = validateInfraText(readFileSync(new URL('../../infra.example.yml', import.meta.url), 'utf8'), { file: 'infra.example.yml', hostNetworks: [] });
  if (!r.ok) throw new Error('example invalid');
  return renderFirewall(r.model);
}

function payloadFor(ruleset: ReturnType<typeof renderFirewall>): FirewallPayload {
  const action = planFirewall(ruleset, { ok: true, table: null });
  if (action === null) throw new Error('expected an action');
  return action.payload;
}

describe('Nft and applyFirewall', () => {
  it('says nft is missing, as unavailable', async () => {
    const nft = new Nft('/nonexistent/nft');
    await expect(nft.listTable()).rejects.toThrow(FirewallUnavailableError);
    await expect(nft.listTable()).rejects.toThrow('nft not found at /nonexistent/nft');
    expect(await observeFirewall(nft)).toEqual({ ok: false, unavailable: true, error: 'nft not found at /nonexistent/nft (install nftables, or pass --nft)' });
  });

  it('says there is no permission, as unavailable', async () => {
    const fake = fakeNft({ list: { code: 1, stderr: 'Error: Could not process rule: Operation not permitted\nlist table inet anklume\n' } });
    const observed = await observeFirewall(new Nft(fake.binary));
    expect(observed).toMatchObject({ ok: false, unavailable: true });
    expect(observed.ok ? '' : observed.error).toMatch(/no permission to change the host firewall/);
  });

  it('reads a missing table as absent, not as an error', async () => {
    const fake = fakeNft({ list: { code: 1, stderr: 'Error: No such file or directory\nlist table inet anklume\n' } });
    expect(await observeFirewall(new Nft(fake.binary))).toEqual({ ok: true, table: null });
  });

  it('checks first and applies nothing when nft -c rejects the rules', async () => {
    const fake = fakeNft({ check: { code: 1, stderr: 'Error: syntax error, unexpected string\n' } });
    await expect(applyFirewall(new Nft(fake.binary), payloadFor(example()))).rejects.toThrow(NftError);
    expect(fake.calls().map((c) => c.args)).toEqual([['-c', '-f', '-']]);
  });

  it('sends the whole script on stdin, once checked, in one apply', async () => {
    const fake = fakeNft({ list: { code: 0, stdout: LIVE } });
    const payload = payloadFor(example());
    await applyFirewall(new Nft(fake.binary), payload);
    const calls = fake.calls();
    expect(calls.map((c) => c.args)).toEqual([['-c', '-f', '-'], ['-f', '-'], ['-j', 'list', 'table', 'inet', 'anklume']]);
    expect(calls[0]?.stdin).toBe(payload.script);
    expect(calls[1]?.stdin).toBe(payload.script);
  });

  it('fails when the rules read back are not the ones applied: never a silent success', async () => {
    const live = JSON.parse(LIVE) as { nftables: Record<string, unknown>[] };
    live.nftables = live.nftables.filter((i) => !('rule' in i && (i.rule as { comment?: string }).comment === 'into a domain from outside anklume'));
    const fake = fakeNft({ list: { code: 0, stdout: JSON.stringify(live) } });
    const err = await applyFirewall(new Nft(fake.binary), payloadFor(example())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FirewallNotAppliedError);
    expect((err as Error).message).toMatch(/reading them back differs.*\+ chain forward: oifname "net-\*" drop/);
  });

  it('reports an apply refused for lack of permission as unavailable', async () => {
    const fake = fakeNft({ apply: { code: 1, stderr: 'Error: Could not process rule: Operation not permitted\n' } });
    await expect(applyFirewall(new Nft(fake.binary), payloadFor(example()))).rejects.toThrow(FirewallUnavailableError);
  });
});
