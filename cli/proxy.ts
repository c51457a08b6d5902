import { loadEnv } from '../core/config.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { loadProxyConfig, type ProxyConfig } from '../proxy/config.ts';
import { startProxy, type Proxy } from '../proxy/main.ts';
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

/** What an operator needs to register the proxy at the gateway. */
export function proxyRegistration(proxy: Proxy): Output {
  const key = JSON.stringify(proxy.publicKey);
  return {
    json: { name: proxy.name, publicKey: proxy.publicKey },
    text: [
      `Federation proxy "${proxy.name}", public key ${proxy.publicKey.kid}:`,
      `  ${key}`,
      'Register it at the gateway once (nodes and the gateway trust only registered proxies):',
      `  atrium proxies add ${proxy.name} --key '${key}'`,
    ].join('\n'),
  };
}

export const proxyCommand: Command = {
  summary:
    'Runs the federation proxy: checks signatures and the federation policy, forwards between domain nodes; prints its name and public key at start.',
  notes: [
    'Configuration: PROXY_PORT (4100), PROXY_NAME (campus-proxy), GATEWAY_ISSUER, PROXY_PRIVATE_KEY (a JWK; else a key kept in ATRIUM_DATA_DIR).',
    'It keeps no state, so several copies can run behind one URL (with the same key). Logs are JSON lines (pino) on stdout.',
  ].join('\n'),
  async run(args, io) {
    const shutdown = shutdownSignal();
    const config = loadProxyConfig(loadEnv(io.env));
    const logger = createLogger(`proxy:${config.name}`, config.logLevel);
    const units = await startUnits([proxyUnit(config, logger)], logger);
    printOutput(io, args.json, proxyRegistration(units[0].proxy));
    await runUntilSignal(units, logger, shutdown);
  },
};
