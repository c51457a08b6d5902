import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private OpenLDAP server for the demo, the tests and the directory benchmark: Debian's `slapd` with a
 * configuration and a data folder of its own under a temp folder, on a port the OS handed out, stopped
 * (and its folder removed) by `stop()`. It runs in the foreground (`-d stats`), so its statistics log can
 * be read (each BIND is a line), under a small shell that stops it when this process's end of a pipe
 * closes: even a process killed outright leaves no slapd behind.
 */

export const SLAPD = '/usr/sbin/slapd';
export const SLAPADD = '/usr/sbin/slapadd';
export const SLAPD_INSTALL_HINT =
  'apt-get install slapd ldap-utils (as root: DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils)';

/** True when Debian's slapd and slapadd are installed where the package puts them. */
export function slapdInstalled(): boolean {
  return existsSync(SLAPD) && existsSync(SLAPADD);
}

export type PrivateSlapdOptions = {
  /** The naming context, such as dc=campus,dc=test. */
  suffix: string;
  /** The password of `cn=admin,<suffix>`, the root DN. */
  rootPassword: string;
  /** Schema files beyond core, cosine and inetorgperson (absolute paths). */
  schemaFiles?: string[];
  /** More lines for the database section of slapd.conf (limits, indexes). */
  databaseLines?: string[];
  /** Entries loaded offline with `slapadd -q` before the server starts (much faster than over the wire). */
  ldif?: string;
  /** Where the folder goes; a new temp folder otherwise. It is removed by stop(). */
  parentDir?: string;
  /** A certificate and key (PEM files) for StartTLS on the ldap:// port and for a second, ldaps:// port. */
  tls?: { certFile: string; keyFile: string };
};

export type PrivateSlapd = {
  url: string;
  port: number;
  /** With `tls`: the ldaps:// URL. */
  ldapsUrl: string | null;
  rootDn: string;
  dir: string;
  /** Every statistics line slapd printed so far. */
  log(): string[];
  /** How many simple binds reached the server, all of them or those of one DN (case-insensitive). */
  binds(dn?: string): number;
  /** Stops the server until start(); its data stays. */
  pause(): Promise<void>;
  /** Starts it again on the same port, after pause(). */
  resume(): Promise<void>;
  stop(): Promise<void>;
};

const SCHEMA_DIR = '/etc/ldap/schema';

// $1 slapd, $2 its configuration, $3 its URL. fd 3 keeps the pipe from the parent: a background job's
// own stdin is /dev/null. When the pipe ends (stop(), or the parent died), slapd gets SIGTERM.
const WATCHDOG =
  'exec 3<&0; "$1" -d stats -f "$2" -h "$3" & pid=$!; ( read -r _ <&3; kill "$pid" 2>/dev/null ) & wait "$pid"';

export async function startPrivateSlapd(options: PrivateSlapdOptions): Promise<PrivateSlapd> {
  if (!slapdInstalled()) throw new Error(`slapd is not installed; install it with: ${SLAPD_INSTALL_HINT}`);
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), 'atrium-slapd-'));
  const rootDn = `cn=admin,${options.suffix}`;
  try {
    const conf = writeConfig(dir, options, rootDn);
    if (options.ldif) loadLdif(dir, conf, options.ldif);
    let port = 0;
    let url = '';
    let ldapsUrl: string | null = null;
    let listeners = '';
    const choosePorts = async () => {
      port = await freeLocalPort();
      url = `ldap://127.0.0.1:${port}`;
      ldapsUrl = options.tls ? `ldaps://127.0.0.1:${await freeLocalPort()}` : null;
      listeners = [url, ...(ldapsUrl ? [ldapsUrl] : [])].map((u) => `${u}/`).join(' ');
    };
    const lines: string[] = [];
    let child: ChildProcess | null = null;

    async function start(): Promise<void> {
      const started = spawn('/bin/sh', ['-c', WATCHDOG, 'slapd-watchdog', SLAPD, conf, listeners], {
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      child = started;
      let partial = '';
      started.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop()!;
        lines.push(...parts);
      });
      await waitUntilListening(port, started, () => lines.slice(-20).join('\n'));
    }

    async function halt(): Promise<void> {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.stdin!.end();
      const late = setTimeout(() => running.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(late);
    }

    // A port found free may be taken by another process before slapd binds it (tests start many servers at
    // once): then slapd exits at once saying so, and it is started again on other ports. A resume keeps its.
    for (let attempt = 1; ; attempt++) {
      await choosePorts();
      try {
        await start();
        break;
      } catch (error) {
        if (attempt >= 5 || !/Address already in use/.test(String(error))) throw error;
        lines.length = 0;
      }
    }
    // On a plain process.exit() the pipe closes too; this only makes it prompt.
    const onExit = () => (child as ChildProcess | null)?.stdin?.end();
    process.once('exit', onExit);
    return {
      url,
      port,
      ldapsUrl,
      rootDn,
      dir,
      log: () => [...lines],
      binds(dn) {
        const wanted = dn?.toLowerCase();
        return lines.filter((line) => {
          const m = /BIND dn="([^"]*)" method=128/.exec(line);
          return m !== null && (wanted === undefined || m[1]!.toLowerCase() === wanted);
        }).length;
      },
      pause: halt,
      resume: start,
      async stop() {
        process.off('exit', onExit);
        await halt();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function freeLocalPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitUntilListening(port: number, child: ChildProcess, recentLog: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`slapd exited with status ${child.exitCode}:\n${recentLog()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) {
      child.stdin?.end();
      throw new Error(`slapd did not listen on port ${port} within 15 s:\n${recentLog()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** slapd.conf of a private server in `dir`: the schemas, access rules, TLS when asked, one mdb database. */
function writeConfig(dir: string, options: PrivateSlapdOptions, rootDn: string): string {
  const dbDir = join(dir, 'db');
  mkdirSync(dbDir, { recursive: true });
  const conf = join(dir, 'slapd.conf');
  const schemas = [
    ...['core', 'cosine', 'inetorgperson'].map((s) => join(SCHEMA_DIR, `${s}.schema`)),
    ...(options.schemaFiles ?? []),
  ];
  const lines = [
    ...schemas.map((file) => `include ${file}`),
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    // Passwords are checked by binding; nobody reads them, and anonymous clients read nothing at all.
    'access to attrs=userPassword by self write by anonymous auth by * none',
    'access to * by users read by * none',
    ...(options.tls
      ? [`TLSCertificateFile ${options.tls.certFile}`, `TLSCertificateKeyFile ${options.tls.keyFile}`]
      : []),
    'database mdb',
    'maxsize 1073741824',
    `suffix "${options.suffix}"`,
    `rootdn "${rootDn}"`,
    `rootpw ${options.rootPassword}`,
    `directory ${dbDir}`,
    'index objectClass eq',
    'index uid,cn,mail eq',
    ...(options.databaseLines ?? []),
    '',
  ];
  writeFileSync(conf, lines.join('\n'), { mode: 0o600 });
  return conf;
}

/** Loads entries offline, before slapd starts (`slapadd -q`: far faster than adding them over the wire). */
function loadLdif(dir: string, conf: string, ldif: string): void {
  const file = join(dir, 'initial.ldif');
  writeFileSync(file, ldif);
  const loaded = spawnSync(SLAPADD, ['-q', '-f', conf, '-l', file], { encoding: 'utf8' });
  if (loaded.status !== 0) throw new Error(`slapadd refused the LDIF: ${loaded.stderr || loaded.stdout}`);
}
