import { loadEnv } from '../core/config.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { loadProxyConfig, type ProxyConfig } from '../proxy/config.ts';
import { startProxy, type Proxy } from '../proxy/main.ts';
import { registrationAtGateway, type Registration } from '../proxy/registration.ts';
import { RuntimeFailure, type Command, type Output } from './command.ts';
import { printOutput } from './output.ts';
import { runUntilSignal, shutdownSignal, startUnits, type RunningUnit, type UnitStarter } from './run-units.ts';

export type ProxyUnit = RunningUnit & { proxy: Proxy; url: string };

/** The federation proxy as a unit to run. It keeps no state; its key alone lives in ATRIUM_DATA_DIR (or PROXY_PRIVATE_KEY). */
export function proxyUnit(config: ProxyConfig, logger: Logger): UnitStarter<ProxyUnit> {
  return {
    name: 'proxy',
    async start() {
      const proxy = await startProxy(config, { logger }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE')
          throw new RuntimeFailure(
            'port_in_use',
            `Port ${config.port} is already in use; set PROXY_PORT to a free port`,
          );
        throw error;
      });
      const url = `http://localhost:${new URL(proxy.url).port}`;
      return { name: 'proxy', endpoints: [{ label: 'federation proxy', url }], proxy, url, close: () => proxy.close() };
    },
  };
}

/** What the gateway's refusal means for this proxy, and what to do about it. */
function refusalSaid(name: string, registration: Exclude<Registration, { registered: true }>, issuer: string): string {
  if (registration.registered === null)
    return `${registration.said}. Whether this proxy is registered is not known until the gateway answers (its /readyz says not ready meanwhile); if it is not, register it at the gateway once:`;
  if (registration.code === 'unknown_origin')
    return `The gateway (${issuer}) has no proxy "${name}" registered (HTTP 401 unknown_origin); nodes and the gateway trust only registered proxies. Register it at the gateway once:`;
  if (registration.code === 'unknown_key')
    return `The gateway (${issuer}) has proxy "${name}" registered with another key than this one (HTTP 401 unknown_key): every copy of the proxy must run with the registered key (ATRIUM_DATA_DIR or PROXY_PRIVATE_KEY), or register this key instead of that one:`;
  return `${registration.said}. If it is not registered with this key, register it at the gateway:`;
}

/**
 * What the start says about the proxy's registration at the gateway: that it is registered, or else (not
 * registered, refused, or the gateway could not be asked) its key and the command that registers it.
 */
export function proxyRegistration(proxy: Proxy, registration: Registration, gatewayIssuer: string): Output {
  const { name, publicKey } = proxy;
  if (registration.registered)
    return {
      json: { name, publicKey, registered: true },
      text: `Federation proxy "${name}" is registered at the gateway (${gatewayIssuer}) with its key ${publicKey.kid}: it has the registry and forwards.`,
    };
  const key = JSON.stringify(publicKey);
  const register = `atrium proxies add ${name} --key '${key}'`;
  const said = refusalSaid(name, registration, gatewayIssuer);
  return {
    json: { name, publicKey, registered: registration.registered, reason: registration.said, register },
    text: [`Federation proxy "${name}", public key ${publicKey.kid}:`, `  ${key}`, said, `  ${register}`].join('\n'),
  };
}

export const proxyCommand: Command = {
  summary:
    'Runs the federation proxy: checks signatures and the federation policy, forwards between domain nodes; says at start whether the gateway has it registered, and if not, its key and the command that registers it.',
  notes: [
    'Configuration: PROXY_PORT (4100), PROXY_NAME (campus-proxy), GATEWAY_ISSUER, PROXY_PRIVATE_KEY (a JWK; else a key kept in ATRIUM_DATA_DIR).',
    'It keeps no state, so several copies can run behind one URL (with the same key). Logs are JSON lines (pino) on stdout.',
  ].join('\n'),
  async run(args, io) {
    const shutdown = shutdownSignal();
    const config = loadProxyConfig(loadEnv(io.env));
    const logger = createLogger(`proxy:${config.name}`, config.logLevel);
    const units = await startUnits([proxyUnit(config, logger)], logger);
    const { proxy } = units[0];
    const registration = await registrationAtGateway(proxy.registry, config.gatewayIssuer);
    printOutput(io, args.json, proxyRegistration(proxy, registration, config.gatewayIssuer));
    await runUntilSignal(units, logger, shutdown);
  },
};
