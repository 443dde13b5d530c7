/**
 * The firewall as data: the few nftables constructs anklume uses, nothing
 * more. Rendering (render.ts) builds a Ruleset from the model; nft-text.ts
 * turns it into the script nft loads; live.ts decodes what nft reads back into
 * the same shapes, so desired and live compare rule by rule.
 */
export const TABLE_FAMILY = 'inet';
export const TABLE_NAME = 'anklume';

/** Every anklume bridge is `net-<domain>`: the wildcard also covers a bridge created after the rules were written. */
export const BRIDGE_WILDCARD = 'net-*';

export type Verdict = 'accept' | 'drop';
/** `snat ip to ip saddr`: a NAT binding that keeps the source address, so no later NAT chain (Incus's masquerade) rewrites it. */
export type Statement = Verdict | 'keep-source';

export type Match =
  | { readonly kind: 'iifname' | 'oifname'; readonly op: '==' | '!='; readonly value: string }
  /** `iifname @set`: membership in a named set of interface names. */
  | { readonly kind: 'iifname-set' | 'oifname-set'; readonly op: '==' | '!='; readonly set: string }
  /** An address or a CIDR (`op` absent: equal). */
  | { readonly kind: 'saddr' | 'daddr'; readonly value: string; readonly op?: '!=' }
  | { readonly kind: 'ct-state'; readonly states: readonly string[] }
  /** `ct mark 0` / `ct mark @set`: which grant opened the connection (see render.ts, grants). */
  | { readonly kind: 'ct-mark'; readonly value: number }
  | { readonly kind: 'ct-mark-set'; readonly set: string }
  | { readonly kind: 'dport'; readonly protocol: 'tcp' | 'udp'; readonly ports: readonly number[] };

export interface Rule {
  readonly matches: readonly Match[];
  /** `ct mark set <mark>` before the verdict: the connection remembers the grant that let it in. */
  readonly mark?: number;
  readonly verdict: Statement;
  readonly comment?: string;
}

export interface Chain {
  readonly name: string;
  readonly type: 'filter' | 'nat';
  readonly hook: 'forward' | 'input' | 'postrouting';
  /** Relative to the type's standard priority (filter 0, srcnat 100): negative runs first. */
  readonly priority: number;
  readonly policy: Verdict;
  readonly rules: readonly Rule[];
}

export interface NamedSet {
  readonly name: string;
  readonly type: 'ifname' | 'mark';
  /** Interface names, or marks in decimal. */
  readonly elements: readonly string[];
}

export interface Ruleset {
  readonly sets: readonly NamedSet[];
  readonly chains: readonly Chain[];
}
