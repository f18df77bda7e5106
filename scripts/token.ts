/**
 * Mints a Mercure token and prints it (only the token, so `$(deno task token)` works).
 *
 * ```sh
 * deno task token --publish 'https://example.com/books/{id}' --subscribe '*' --exp 3600
 * deno task token --alg ES256 --key "$(cat private.pem)"
 * ```
 *
 * Flags: `--publish <selector>` and `--subscribe <selector>` (repeatable; with neither, both are
 * `["*"]`), `--exp <seconds from now>`, `--key <secret or private PEM/JWK>` (default: the env
 * variable TIDINGS_PUBLISHER_JWT_KEY, then TIDINGS_JWT_KEY), `--alg HS256|RS256|ES256`.
 * Exits with code 2 on a usage error. Arguments are parsed by hand because `node:util` parseArgs
 * refuses option values that start with a dash, and every PEM key does.
 *
 * @module
 */

import { importSignKey, type JwtAlgorithm, signJwt } from "../lib/auth/jwt.ts";

const USAGE = "usage: deno task token [--publish <selector>]... [--subscribe <selector>]... " +
  "[--exp <seconds>] [--key <secret|private PEM|JWK>] [--alg HS256|RS256|ES256]";

/** A command-line mistake: reported with the usage line and exit code 2. */
class UsageError extends Error {}

/**
 * The token's claims and signing settings, from the command line and the environment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTokenRequest } from "./token.ts";
 * const request = readTokenRequest(["--publish", "/a", "--key", "k"], () => undefined, 0);
 * assert.equal(request.algorithm, "HS256");
 * assert.equal(request.key, "k");
 * ```
 */
export function readTokenRequest(
  args: string[],
  env: (name: string) => string | undefined,
  nowSeconds: number,
): { payload: Record<string, unknown>; key: string; algorithm: JwtAlgorithm } {
  const values = parseFlags(args);
  const algorithm = values.alg as JwtAlgorithm;
  if (!["HS256", "RS256", "ES256"].includes(algorithm)) {
    throw new UsageError(`--alg must be HS256, RS256 or ES256, got ${values.alg}`);
  }
  const key = values.key || env("TIDINGS_PUBLISHER_JWT_KEY") || env("TIDINGS_JWT_KEY");
  if (!key) {
    throw new UsageError("no key: pass --key or set TIDINGS_PUBLISHER_JWT_KEY or TIDINGS_JWT_KEY");
  }
  const mercure: Record<string, string[]> = {};
  if (!values.publish && !values.subscribe) {
    mercure.publish = ["*"];
    mercure.subscribe = ["*"];
  }
  if (values.publish) mercure.publish = values.publish;
  if (values.subscribe) mercure.subscribe = values.subscribe;
  const payload: Record<string, unknown> = { mercure };
  if (values.exp !== undefined) {
    const seconds = Number(values.exp);
    if (!/^\d+$/.test(values.exp) || seconds <= 0) {
      throw new UsageError(`--exp must be a positive whole number of seconds, got ${values.exp}`);
    }
    payload.exp = Math.floor(nowSeconds) + seconds;
  }
  return { payload, key, algorithm };
}

interface Flags {
  publish?: string[];
  subscribe?: string[];
  exp?: string;
  key?: string;
  alg: string;
}

function parseFlags(args: string[]): Flags {
  const flags: Flags = { alg: "HS256" };
  for (let index = 0; index < args.length; index++) {
    const match = /^--([a-z]+)(?:=([\s\S]*))?$/.exec(args[index]);
    if (!match) throw new UsageError(`unexpected argument: ${args[index]}`);
    const name = match[1];
    let value = match[2];
    if (value === undefined) {
      if (index + 1 >= args.length) throw new UsageError(`--${name} needs a value`);
      value = args[++index];
    }
    switch (name) {
      case "publish":
      case "subscribe":
        (flags[name] ??= []).push(value);
        break;
      case "exp":
      case "key":
      case "alg":
        flags[name] = value;
        break;
      default:
        throw new UsageError(`unknown flag: --${name}`);
    }
  }
  return flags;
}

if (import.meta.main) {
  try {
    const { payload, key, algorithm } = readTokenRequest(
      Deno.args,
      (name) => Deno.env.get(name),
      Date.now() / 1000,
    );
    let signKey: CryptoKey;
    try {
      signKey = await importSignKey(algorithm, key);
    } catch (error) {
      throw new UsageError(`cannot use the key: ${(error as Error).message}`);
    }
    console.log(await signJwt(payload, signKey, algorithm));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`token: ${error.message}\n${USAGE}`);
    Deno.exit(2);
  }
}
