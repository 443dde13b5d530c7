import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IncusClient } from '../../incus/client.js';
import type { Action } from '../../reconcile/action.js';
import type { DesiredInfra } from '../../schemas/model.js';
import type { Nft } from '../../firewall/nft.js';
import { readHolder, type AiHolder } from '../ai-access/holder.js';
import { FirewallNotAppliedError, applyFirewall, desiredFirewall, firewallState, observeFirewall, planFirewall, type FirewallPayload, type FirewallState, type ObservedFirewall } from './table.js';

/**
 * Where the host firewall is written: nft, and the file each applied table is
 * saved to for the boot loader (deploy/anklume-firewall-load.sh); or why it
 * cannot be written (a remote Incus: no host nftables to write).
 */
export type FirewallTarget = { readonly nft: Nft; readonly bootFile?: string } | { readonly unavailable: string };

/**
 * Apply the table, then save it for the next boot: the loader runs before
 * Incus, so instances that autostart never run without it. Root-only: the
 * rules name every domain's addresses and policies.
 */
export async function applyToTarget(target: { readonly nft: Nft; readonly bootFile?: string }, payload: FirewallPayload, signal?: AbortSignal): Promise<FirewallState> {
  const state = await applyFirewall(target.nft, payload, signal);
  if (target.bootFile !== undefined) await saveBootRuleset(target.bootFile, payload.script);
  return state;
}

async function saveBootRuleset(path: string, script: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  await writeFile(tmp, script, { mode: 0o600 });
  await rename(tmp, path);
}

export function observeTarget(target: FirewallTarget, signal?: AbortSignal): Promise<ObservedFirewall> {
  if ('unavailable' in target) return Promise.resolve({ ok: false, unavailable: true, error: target.unavailable });
  return observeFirewall(target.nft, signal);
}

/** The nft of a firewall target, if it has one. */
export const nftOf = (target: FirewallTarget | undefined): Nft | undefined => (target !== undefined && 'nft' in target ? target.nft : undefined);

/** What one look at the firewall finds: the holder read fresh from Incus, the state of the live rules, and the action that would fix them. */
export interface FirewallCheck {
  readonly holder: AiHolder;
  readonly state: FirewallState;
  readonly action: Action<FirewallPayload> | null;
}

/**
 * Read the AI access holder from Incus (never a cache: a switch in progress
 * just wrote it) and the live table, and compare them with the model.
 */
export async function checkFirewall(client: IncusClient, model: DesiredInfra, target: FirewallTarget, signal?: AbortSignal): Promise<FirewallCheck> {
  const holder = await readHolder(client, model, signal);
  const ruleset = desiredFirewall(model, holder.holder);
  const observed = await observeTarget(target, signal);
  return { holder, state: firewallState(ruleset, observed), action: planFirewall(ruleset, observed) };
}

/**
 * Bring the firewall to the model and the holder recorded in Incus now,
 * without a daemon: what `switch-ai` does between steps. Throws unless the
 * live rules end up as rendered.
 */
export async function syncFirewallNow(client: IncusClient, model: DesiredInfra, target: FirewallTarget, signal?: AbortSignal): Promise<void> {
  const { action } = await checkFirewall(client, model, target, signal);
  if (action === null) return;
  if (action.blocked !== undefined || !('nft' in target)) throw new FirewallNotAppliedError(action.blocked ?? 'no nft to apply the firewall with');
  await applyToTarget(target, action.payload, signal);
}
