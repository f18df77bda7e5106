/**
 * Starts Debian's `redis-server` on a free loopback port with its own temporary folder (AOF on,
 * `appendfsync always` unless told otherwise), for tests. It can be stopped and started again on
 * the same port and folder, to test what survives a restart. With `tls`, it listens for TLS only,
 * with a certificate for `localhost` and `127.0.0.1` from a throwaway CA made with `openssl`.
 *
 * @module
 */

import { encodeCommand, RespDecoder, type RespValue } from "../../lib/redis/resp.ts";

/** A running (or stopped) Redis server. */
export interface RunningRedis {
  /** The port clients connect to (the TLS port, with `tls`). */
  port: number;
  /**
   * `redis://127.0.0.1:<port>` for the server (with the password, when one is set), or
   * `rediss://localhost:<port>` with `tls`.
   */
  url: string;
  dir: string;
  /** With `tls`: the files of the throwaway CA and of the server's certificate. */
  tls?: TestCertificates;
  /**
   * Sends one command on a connection of its own (over TLS, trusting the CA, with `tls`; after
   * AUTH, with a password) and resolves with its reply.
   */
  command(args: readonly (string | number)[]): Promise<RespValue>;
  /**
   * Stops the server (by default with SIGTERM: it flushes the AOF; SIGKILL for a crash), waiting
   * for it to exit.
   */
  stop(signal?: Deno.Signal): Promise<void>;
  /**
   * Starts it again on the same port and folder (after {@link stop}), with what the certificate
   * files hold then (with `tls`).
   */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** `requirepass`. */
  password?: string;
  /** `appendfsync`. Default `always` (every acknowledged write is on disk). */
  appendfsync?: "always" | "everysec";
  /** More arguments for `redis-server` (`--replicaof 127.0.0.1 <port>`, say), kept on restarts. */
  args?: string[];
  /**
   * Listen for TLS only (`--port 0 --tls-port <port>`), clients not asked for certificates. See
   * {@link haveRedisTls}.
   */
  tls?: boolean;
}

/** The PEM files of a throwaway CA and of a server certificate it signed. */
export interface TestCertificates {
  /** The CA's certificate: what a client must trust. */
  caFile: string;
  /** The server's certificate, for `localhost` and `127.0.0.1`. */
  certFile: string;
  /** The server's private key. */
  keyFile: string;
}

/** Whether `redis-server` is installed (tests that need it are skipped without it). */
export const haveRedis: boolean = (() => {
  try {
    return Deno.statSync("/usr/bin/redis-server").isFile;
  } catch {
    return false;
  }
})();

let tlsSupport: boolean | undefined;

/**
 * Whether TLS tests can run: `redis-server` is installed and built with TLS, and `openssl` is
 * there to make certificates (tests that need them are skipped otherwise).
 */
export function haveRedisTls(): boolean {
  if (tlsSupport !== undefined) return tlsSupport;
  tlsSupport = false;
  if (!haveRedis) return false;
  try {
    if (
      !new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
        .outputSync().success
    ) return false;
    // Listening nowhere, it exits at once: a build with TLS knows --tls-port and says so; one
    // without refuses the directive.
    const probe = new Deno.Command("/usr/bin/redis-server", {
      args: ["--port", "0", "--tls-port", "0", "--save", "", "--daemonize", "no", "--logfile", ""],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const said = new TextDecoder().decode(probe.stdout) + new TextDecoder().decode(probe.stderr);
    tlsSupport = said.includes("Configured to not listen anywhere");
  } catch {
    // No openssl on the PATH.
  }
  return tlsSupport;
}

async function openssl(args: string[]): Promise<void> {
  const result = await new Deno.Command("openssl", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(result.stderr).trim()}`,
    );
  }
}

/**
 * Makes a throwaway CA (named `caName`) and a certificate for `localhost` and `127.0.0.1` signed
 * by it, in `dir` (EC P-256 keys, valid for two days); files already there are replaced.
 *
 * @example
 * ```ts ignore
 * import { makeTestCertificates } from "./redis_server.ts";
 * const { caFile } = await makeTestCertificates(await Deno.makeTempDir());
 * ```
 */
export async function makeTestCertificates(
  dir: string,
  caName = "tidings test CA",
): Promise<TestCertificates> {
  const files = {
    caFile: `${dir}/ca.pem`,
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server.key`,
  };
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...key,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    files.caFile,
    "-days",
    "2",
    "-subj",
    `/CN=${caName}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await openssl([
    "req",
    "-new",
    ...key,
    "-keyout",
    files.keyFile,
    "-out",
    `${dir}/server.csr`,
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "basicConstraints=critical,CA:FALSE\n" +
      "keyUsage=critical,digitalSignature,keyEncipherment\n" +
      "extendedKeyUsage=serverAuth\n" +
      "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    `${dir}/server.csr`,
    "-CA",
    files.caFile,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-out",
    files.certFile,
    "-days",
    "2",
    "-extfile",
    `${dir}/server.ext`,
  ]);
  return files;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A connection to the server: TLS trusting `caCerts` when given. */
function dial(port: number, caCerts: string[] | undefined): Promise<Deno.Conn> {
  return caCerts
    ? Deno.connectTls({ hostname: "localhost", port, caCerts })
    : Deno.connect({ hostname: "127.0.0.1", port });
}

async function answers(port: number, caCerts: string[] | undefined): Promise<boolean> {
  try {
    const conn = await dial(port, caCerts);
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(64);
      const count = await conn.read(buffer);
      const text = new TextDecoder().decode(buffer.subarray(0, count ?? 0));
      // A password-protected server answers NOAUTH: it is up.
      return text.startsWith("+PONG") || text.startsWith("-NOAUTH");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

/**
 * Starts a Redis server for a test.
 *
 * @example
 * ```ts ignore
 * import { startRedis } from "./redis_server.ts";
 * const redis = await startRedis();
 * await redis.close();
 * ```
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RunningRedis> {
  const dir = await Deno.makeTempDir({ prefix: "tidings-test-redis-" });
  const port = freePort();
  let tls: TestCertificates | undefined;
  let caCerts: string[] | undefined;
  if (options.tls) {
    await Deno.mkdir(`${dir}/tls`);
    tls = await makeTestCertificates(`${dir}/tls`);
  }
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    // Read on every start: a test may have put other certificates in the files meanwhile.
    if (tls) caCerts = [await Deno.readTextFile(tls.caFile)];
    const listen = tls
      ? [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--tls-cert-file",
        tls.certFile,
        "--tls-key-file",
        tls.keyFile,
        "--tls-ca-cert-file",
        tls.caFile,
        "--tls-auth-clients",
        "no",
      ]
      : ["--port", String(port)];
    const args = [
      ...listen,
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      options.appendfsync ?? "always",
      "--save",
      "",
      "--daemonize",
      "no",
      "--logfile",
      `${dir}/redis.log`,
    ];
    if (options.password) args.push("--requirepass", options.password);
    args.push(...options.args ?? []);
    child = new Deno.Command("/usr/bin/redis-server", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + 10_000;
    while (!(await answers(port, caCerts))) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (!child) return;
    const running = child;
    child = undefined;
    try {
      running.kill(signal);
    } catch {
      // Already gone.
    }
    await running.status;
  };
  const command = async (args: readonly (string | number)[]): Promise<RespValue> => {
    const conn = await dial(port, caCerts);
    try {
      const commands = options.password ? [["AUTH", options.password], args] : [args];
      for (const each of commands) {
        const bytes = encodeCommand(each);
        for (let written = 0; written < bytes.length;) {
          written += await conn.write(bytes.subarray(written));
        }
      }
      const decoder = new RespDecoder();
      const buffer = new Uint8Array(64 * 1024);
      const replies: RespValue[] = [];
      while (replies.length < commands.length) {
        const count = await conn.read(buffer);
        if (count === null) throw new Error(`redis on port ${port} closed the connection`);
        decoder.push(buffer.subarray(0, count));
        let reply: RespValue | undefined;
        while ((reply = decoder.next()) !== undefined) replies.push(reply);
      }
      return replies.at(-1)!;
    } finally {
      conn.close();
    }
  };
  await start();
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  return {
    port,
    url: tls ? `rediss://${auth}localhost:${port}` : `redis://${auth}127.0.0.1:${port}`,
    dir,
    tls,
    command,
    stop,
    start,
    close: async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
