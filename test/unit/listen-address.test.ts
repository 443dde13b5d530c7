import { describe, expect, it } from 'vitest';
import { formatListenAddress, isLoopbackHost, parseListenAddress } from '../../src/daemon/listen-address.js';

describe('listen addresses of --metrics and --web', () => {
  it.each([
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    [':9465', { host: '127.0.0.1', port: 9465 }],
    ['9465', { host: '127.0.0.1', port: 9465 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['[::1]:9465', { host: '::1', port: 9465 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
  ])('reads %s', (text, expected) => {
    expect(parseListenAddress('--web', text)).toEqual(expected);
  });

  it.each(['host:', 'host:65536', 'host:-1', 'host:1.5', '[]:80'])('refuses %s as a usage error naming the flag', (text) => {
    expect(() => parseListenAddress('--web', text)).toThrow(`--web "${text}" is not host:port`);
  });

  it('knows loopback from the rest', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.org', '127.0.0.1.example.org']) expect(isLoopbackHost(h), h).toBe(false);
  });

  it('writes IPv6 in brackets', () => {
    expect(formatListenAddress('::1', 80)).toBe('[::1]:80');
    expect(formatListenAddress('127.0.0.1', 80)).toBe('127.0.0.1:80');
  });
});
