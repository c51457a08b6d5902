import { loadEnv } from '../core/config.ts';
import { isLoopbackHost } from '../core/loopback.ts';
import { loadGatewayConfig, type GatewayConfig } from '../gateway/config.ts';
import { DEMO_UNITS } from '../gateway/seed/demo.ts';
import { UsageError, type Io } from './command.ts';

/**
 * Where every unit of the demo listens unless GATEWAY_HOST says otherwise: this machine only. The demo's
 * accounts, admin included, have one password that the README and the banner print, so the units are not
 * put on a campus network by default, as the gateway's own default (all interfaces) would.
 */
export const DEMO_HOST = '127.0.0.1';

/** What the demo calls its campus unless CAMPUS_NAME says otherwise: the name of the campus unit it seeds. */
export const DEMO_CAMPUS_NAME = DEMO_UNITS[0]!.name;

/**
 * The gateway's configuration as the demo runs it; GATEWAY_HOST and CAMPUS_NAME from the environment or the
 * config file win.
 */
export function demoGatewayConfig(io: Io): GatewayConfig {
  const env = loadEnv(io.env);
  return loadGatewayConfig({
    ...env,
    GATEWAY_HOST: env.GATEWAY_HOST || DEMO_HOST,
    CAMPUS_NAME: env.CAMPUS_NAME || DEMO_CAMPUS_NAME,
  });
}

/** Whether a unit listening on `host` can be reached from other machines (0.0.0.0, a LAN address, a host name). */
export const reachableFromNetwork = (host: string): boolean => !isLoopbackHost(host);

/**
 * The demo's people share one published password, admin included: seeding them where ATRIUM_MODE says
 * production would open a real campus to anyone who read the README. Refused before anything is touched.
 */
export function refuseInProduction(config: GatewayConfig, command: string): void {
  if (config.mode !== 'production') return;
  throw new UsageError(
    `${command} makes the demo accounts, admin included, with the published password; it is not run where ATRIUM_MODE is production. Use a development data directory for the demo, and \`atrium users add\` or a directory for real people.`,
  );
}
