import { Option, type Command } from 'commander';
import { INCUS_TIMEOUT_DEFAULTS } from '../config/incus-endpoint.js';

// The flags commands share, kept apart from what the commands do: building
// the program must not load any command's code (anklumectl starts at once).

/** Flags every command that talks to Incus takes. */
export function addIncusOptions(command: Command): Command {
  return command
    .addOption(new Option('--incus-socket <path>', 'Incus unix socket (env INCUS_SOCKET, default /var/lib/incus/unix.socket)'))
    .addOption(new Option('--incus-url <url>', 'remote Incus over HTTPS (env ANKLUME_INCUS_URL); needs the three files below'))
    .addOption(new Option('--incus-cert <file>', 'client certificate for --incus-url'))
    .addOption(new Option('--incus-key <file>', 'client key for --incus-url'))
    .addOption(new Option('--incus-server-cert <file>', 'server certificate to pin for --incus-url'))
    .addOption(new Option('--incus-timeout <seconds>', `seconds Incus may take to answer one request (env ANKLUME_INCUS_TIMEOUT, default ${INCUS_TIMEOUT_DEFAULTS.requestTimeoutMs / 1000})`))
    .addOption(new Option('--exec-timeout <seconds>', `seconds a command run in an instance may take before it is stopped (env ANKLUME_EXEC_TIMEOUT, default ${INCUS_TIMEOUT_DEFAULTS.execTimeoutSeconds})`))
    .addOption(new Option('--nft <path>', 'nft binary for the host firewall (env ANKLUME_NFT, default /usr/sbin/nft)'));
}
