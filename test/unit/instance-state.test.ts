import { describe, expect, it } from 'vitest';
import { eth0Ipv4 } from '../../src/incus/types.js';

describe('eth0Ipv4', () => {
  it('reads the global IPv4 addresses of eth0 only', () => {
    const instance = {
      state: {
        network: {
          lo: { addresses: [{ family: 'inet', address: '127.0.0.1', scope: 'local' }] },
          eth0: {
            addresses: [
              { family: 'inet', address: '10.140.0.11', netmask: '24', scope: 'global' },
              { family: 'inet6', address: 'fd42:1::11', scope: 'global' },
              { family: 'inet6', address: 'fe80::216:3eff:fe00:1', scope: 'link' },
              { family: 'inet', address: '169.254.3.3', scope: 'link' },
            ],
          },
          eth1: { addresses: [{ family: 'inet', address: '10.9.9.9', scope: 'global' }] },
        },
      },
    };
    expect(eth0Ipv4(instance)).toEqual(['10.140.0.11']);
  });

  it('is empty when the list carried no state, or eth0 holds nothing yet', () => {
    expect(eth0Ipv4({})).toEqual([]);
    expect(eth0Ipv4({ state: null })).toEqual([]);
    expect(eth0Ipv4({ state: { network: null } })).toEqual([]);
    expect(eth0Ipv4({ state: { network: { eth0: {} } } })).toEqual([]);
  });
});
