import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express from 'express';
import session from 'express-session';
import { createAuth } from './auth.ts';
import { createChat } from './chat.ts';
import { loadLeaveConfig, type LeaveConfig } from './config.ts';
import { gracefulClose } from './graceful-close.ts';
import { leaveRoutes } from './routes.ts';
import { openStore, type LeaveStore } from './store.ts';

export type LeaveApp = { url: string; server: Server; store: LeaveStore; close(): Promise<void> };

/**
 * The leave-approval app: an independent web app that knows Atrium only from the outside (OIDC sign-in
 * at the gateway, its bot's HTTP API on the chat nodes, signed card callbacks). Composition root:
 * config → store → sign-in and chat → HTTP.
 */
export async function startLeaveApproval(
  config: LeaveConfig,
  log: (message: string, error?: unknown) => void = () => undefined,
): Promise<LeaveApp> {
  const store = await openStore(config.dataFile);
  const auth = createAuth(config);
  const chat = createChat(config);
  const secure = config.publicUrl.startsWith('https://');
  // Kept by the app so a back-channel logout can find and end the sessions it names.
  const sessions = new session.MemoryStore();

  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.set({
      'Cache-Control': 'no-store',
      'X-Frame-Options': 'DENY',
      'Content-Security-Policy':
        "default-src 'self'; style-src 'unsafe-inline'; form-action 'self' " + new URL(config.gatewayIssuer).origin,
    });
    next();
  });
  app.use(
    session({
      name: 'leave.sid',
      store: sessions,
      secret: config.sessionSecret,
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', secure },
    }),
  );
  app.use(auth.passport.initialize());
  app.use(auth.passport.session());
  app.use(leaveRoutes({ config, store, chat, auth, sessions, log }));
  app.use(((error, _req, res, _next) => {
    log('request failed', error);
    res.status(500).type('text/plain').send('Something went wrong; try again.');
  }) as express.ErrorRequestHandler);

  // The port opens only once the app is wired, so every connection it accepts is served.
  const server = createServer();
  const closeServer = gracefulClose(server);
  server.on('request', app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: config.port === 0 ? `http://${config.host}:${port}` : config.publicUrl,
    server,
    store,
    async close() {
      await closeServer(5_000);
      await store.flush();
    },
  };
}

// Run on its own: `node examples/leave-approval/main.ts` with the LEAVE_* variables (see the README).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const config = loadLeaveConfig(process.env);
  const app = await startLeaveApproval(config, (message, error) => console.error(message, error ?? ''));
  console.log(`leave-approval listening at ${app.url}`);
  const stop = () => void app.close().then(() => process.exit(0));
  process.once('SIGINT', stop).once('SIGTERM', stop);
}
