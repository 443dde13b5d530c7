import { isIP } from 'node:net';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../shared/errors.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * `host:port`, `[v6]:port`, `:port` or a bare port (loopback) from a flag; port 0 picks a
 * free one. Loopback is the default because what anklumed serves over HTTP
 * describes the infrastructure.
 */
export function parseListenAddress(flag: string, value: string): ListenAddress {
  const colon = value.lastIndexOf(':');
  const rawHost = colon <= 0 ? '127.0.0.1' : value.slice(0, colon);
  const host = rawHost.startsWith('[') && rawHost.endsWith(']') ? rawHost.slice(1, -1) : rawHost;
  const portText = value.slice(colon + 1);
  const port = Number(portText);
  if (portText === '' || !Number.isInteger(port) || port < 0 || port > 65535 || host === '') throw new UsageError(`${flag} "${value}" is not host:port`);
  return { host, port };
}

/** Whether an address only this machine reaches: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '::ffff:127.0.0.1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** `host:port` for logs and URLs (IPv6 in brackets). */
export function formatListenAddress(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** Listen on an address; resolves with the port actually bound (port 0 picks one). */
export async function listen(server: Server, address: ListenAddress): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
