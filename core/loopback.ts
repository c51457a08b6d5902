/**
 * Whether a host name is this machine only (localhost, 127.0.0.0/8, ::1, as a URL writes it or not): where
 * plain http or ldap, or a demo's well-known passwords, reach no other machine.
 */
export function isLoopbackHost(host: string): boolean {
  return /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|::1|\[::1\])$/i.test(host);
}
