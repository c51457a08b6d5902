import { BlockList, isIP } from 'node:net';

/**
 * Which addresses the gateway and the nodes may call at the URLs apps register (card callbacks,
 * back-channel logout). Campus apps usually sit on private addresses, which stay allowed; link-local,
 * unspecified and multicast addresses never are, and this machine (loopback) only where the operator
 * allows it (APP_CALLBACKS_LOOPBACK: on outside production, where the demo's apps run on localhost).
 */
export type AppCallPolicy = { loopback: boolean };

export type RefusedRange = 'link-local' | 'unspecified' | 'multicast' | 'loopback';

const RANGES: Array<{ range: RefusedRange; subnets: Array<[string, number, 'ipv4' | 'ipv6']> }> = [
  // Where cloud metadata services answer (169.254.169.254), and a host's neighbours without routing.
  {
    range: 'link-local',
    subnets: [
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ],
  },
  // A connection to 0.0.0.0 (or ::) reaches this machine.
  {
    range: 'unspecified',
    subnets: [
      ['0.0.0.0', 8, 'ipv4'],
      ['::', 128, 'ipv6'],
    ],
  },
  {
    range: 'multicast',
    subnets: [
      ['224.0.0.0', 4, 'ipv4'],
      ['ff00::', 8, 'ipv6'],
    ],
  },
  {
    range: 'loopback',
    subnets: [
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ],
  },
];

// BlockList also matches an IPv4-mapped IPv6 address (::ffff:127.0.0.1, ::ffff:7f00:1) against IPv4 subnets.
const LISTS = RANGES.map(({ range, subnets }) => {
  const list = new BlockList();
  for (const [network, prefix, family] of subnets) list.addSubnet(network, prefix, family);
  return { range, list };
});

const DESCRIBED: Record<RefusedRange, string> = {
  'link-local': 'a link-local address (169.254.0.0/16, fe80::/10), which is never called',
  unspecified: 'an unspecified address (0.0.0.0, ::), which is never called',
  multicast: 'a multicast address, which is never called',
  loopback: 'this machine (loopback: 127.0.0.0/8, ::1), which APP_CALLBACKS_LOOPBACK does not allow',
};

/** The range that keeps an app call from this IP address under the policy, or null when it may be called. */
export function refusedRange(address: string, policy: AppCallPolicy): RefusedRange | null {
  const family = isIP(address);
  if (family === 0) return null;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const { range, list } of LISTS) {
    if (range === 'loopback' && policy.loopback) continue;
    if (list.check(address, type)) return range;
  }
  return null;
}

/** An app call that was not made: its host is, or resolved to, an address the policy refuses. */
export class AppCallRefusedError extends Error {
  readonly host: string;
  readonly address: string;
  readonly range: RefusedRange;

  constructor(host: string, address: string, range: RefusedRange) {
    const target = host === address ? address : `${host} (${address})`;
    super(`not called: ${target} is ${DESCRIBED[range]}`);
    this.name = 'AppCallRefusedError';
    this.host = host;
    this.address = address;
    this.range = range;
  }
}

/**
 * Why an app URL whose host is a literal IP address would never be called under the policy, for the
 * registry to refuse it as it is typed; null for any other URL. A host name is checked at each call,
 * against the addresses it resolves to then.
 */
export function literalAddressProblem(url: string, policy: AppCallPolicy): string | null {
  const host = URL.parse(url)?.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) return null;
  const range = refusedRange(host, policy);
  return range ? `must not point at ${DESCRIBED[range]}` : null;
}
