/** Debian's nft. */
export const DEFAULT_NFT_BINARY = '/usr/sbin/nft';

/** `--nft` first, then ANKLUME_NFT, then /usr/sbin/nft (the same for anklumectl and anklumed). */
export function resolveNftBinary(options: { flag?: string | undefined; env: Readonly<Record<string, string | undefined>> }): string {
  return options.flag ?? options.env.ANKLUME_NFT ?? DEFAULT_NFT_BINARY;
}

/**
 * anklume writes nftables on the machine it runs on. With a remote Incus that
 * is not the machine whose bridges it isolates: the firewall is then reported
 * as not managed rather than applied to the wrong host.
 */
export const REMOTE_INCUS_FIREWALL = "Incus is remote (--incus-url): anklume cannot write its host's nftables, so isolation is Incus network ACLs there (docs/cluster.md)";
