import assert from "node:assert/strict";
import { serverPermissions } from "../scripts/start.ts";

const root = new URL("../", import.meta.url).pathname;
const mainPath = new URL("../main.ts", import.meta.url).pathname;
const startPath = new URL("../scripts/start.ts", import.meta.url).pathname;
const BASE_ENV = { TIDINGS_DEMO_FEEDS: "off", TIDINGS_LOG_LEVEL: "warn", NO_COLOR: "1" };

/** Runs deno with `args` until it exits (killed after 30 s); returns its code and output. */
async function runToExit(
  args: string[],
  env: Record<string, string>,
  cwd = root,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { ...BASE_ENV, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const result = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  return {
    code: result.code,
    output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
  };
}

/** `deno serve` of main.ts as the start task would run it for `kvPath` (or other permissions). */
const serveArgs = (permissions: string[], parallel = false) => [
  "serve",
  ...(parallel ? ["--parallel"] : []),
  "--port=0",
  "--host=127.0.0.1",
  ...permissions,
  mainPath,
];

Deno.test("TIDINGS_KV_PATH=:memory: under deno serve --parallel stops the process, naming the fix", async () => {
  const { code, output } = await runToExit(serveArgs(serverPermissions(":memory:"), true), {
    TIDINGS_KV_PATH: ":memory:",
    DENO_JOBS: "2",
  });
  assert.equal(code, 2, output);
  assert.match(output, /tidings: TIDINGS_KV_PATH=:memory: gives each isolate its own store/);
  assert.match(output, /Set TIDINGS_KV_PATH to a file path .* or run one isolate \(DENO_JOBS=1/);
});

Deno.test("the start task refuses :memory: with several isolates before starting the server", async () => {
  const { code, output } = await runToExit(
    ["run", "--allow-env", "--allow-read", "--allow-run", startPath, "--parallel"],
    { TIDINGS_KV_PATH: ":memory:", DENO_JOBS: "2" },
  );
  assert.equal(code, 2, output);
  assert.match(output, /^tidings: TIDINGS_KV_PATH=:memory: gives each isolate its own store/);
  assert.ok(!output.includes("Listening"), output);
});

Deno.test("a KV Connect URL is a remote store: no folder is created and no write access granted", async () => {
  assert.ok(
    !serverPermissions("http://127.0.0.1:1").some((flag) => flag.startsWith("--allow-write")),
  );
  const cwd = await Deno.makeTempDir();
  try {
    const { code, output } = await runToExit(
      serveArgs(serverPermissions("http://127.0.0.1:1")),
      { TIDINGS_KV_PATH: "http://127.0.0.1:1", DENO_KV_ACCESS_TOKEN: "not-a-real-token" },
      cwd,
    );
    assert.equal(code, 2, output);
    assert.match(
      output,
      /tidings: cannot open the KV Connect database at http:\/\/127\.0\.0\.1:1 \(.*\): check the URL in TIDINGS_KV_PATH and the token in DENO_KV_ACCESS_TOKEN/,
    );
    assert.deepEqual(await Array.fromAsync(Deno.readDir(cwd)), [], "nothing written locally");
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("a KV Connect URL without DENO_KV_ACCESS_TOKEN is refused at start, naming the token", async () => {
  const { code, output } = await runToExit(
    ["run", "--allow-env", "--allow-read", "--allow-run", startPath],
    { TIDINGS_KV_PATH: "https://kv.example.com" },
  );
  assert.equal(code, 2, output);
  assert.match(output, /^tidings: DENO_KV_ACCESS_TOKEN="" is not valid: expected the access token/);
});

Deno.test("a KV folder that cannot be written stops the start with what to set instead", async () => {
  // No write permission at all: what Deno Deploy or a read-only container gives ./data.
  const { code, output } = await runToExit(serveArgs(serverPermissions(undefined)), {});
  assert.equal(code, 2, output);
  assert.match(
    output,
    /tidings: cannot open the KV store at \.\/data\/tidings\.kv \(NotCapable: .*\): set TIDINGS_KV_PATH to a file in a writable folder .* on Deno Deploy, leave it unset and attach a KV database/,
  );
  assert.ok(!output.includes("    at "), `no stack trace:\n${output}`);
});

Deno.test("a JWT key that does not import is refused at start, naming its variable but not its value", async () => {
  const { code, output } = await runToExit(serveArgs(serverPermissions(":memory:")), {
    TIDINGS_KV_PATH: ":memory:",
    TIDINGS_JWT_ALGORITHM: "RS256",
    TIDINGS_JWT_KEY: "an-hs256-secret-given-as-rs256",
  });
  assert.equal(code, 2, output);
  assert.match(
    output,
    /tidings: TIDINGS_JWT_KEY=\(a secret of 30 characters\) is not valid: expected a RS256 key \(.+\)/,
  );
  assert.ok(!output.includes("an-hs256-secret"), "the key is not printed");
});

Deno.test("the Deno Deploy entrypoint serves the hub under plain deno run, where the platform puts it", async () => {
  const directory = await Deno.makeTempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../scripts/serve_deploy.ts", import.meta.url).pathname],
    cwd: directory,
    env: {
      ...BASE_ENV,
      DENO_DEPLOY: "true",
      // Deno.serve's address override, standing in for the platform's.
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      TIDINGS_KV_PATH: `${directory}/hub.kv`,
      TIDINGS_JWT_KEY: "test-secret-key-for-tidings-tests",
    },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let ready = "";
    for (let attempt = 0; attempt < 300 && ready !== "ready\n"; attempt++) {
      ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.text()).catch(() => "");
      if (ready !== "ready\n") await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(ready, "ready\n");
  } finally {
    child.kill("SIGINT"); // what Deno Deploy sends
    assert.equal((await child.status).code, 0);
    await Deno.remove(directory, { recursive: true });
  }
});
