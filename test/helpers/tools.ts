/**
 * External tools the tests use. On a developer's machine a missing tool skips the tests that
 * need it (scripts/test.mjs prints one line saying what and how to install it); under CI=true
 * a missing tool fails those tests instead.
 */
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import { randomBytes } from "node:crypto";
import pg from "pg";

export interface Tool {
  readonly name: string;
  /** How to get it on Debian. */
  readonly install: string;
  available(): Promise<boolean>;
}

function onPath(cmd: string, args: string[] = ["--version"]): () => Promise<boolean> {
  return () => Promise.resolve(spawnSync(cmd, args, { stdio: "ignore" }).status === 0);
}

/** Debian's own Python, whose site packages hold python3-cryptography (a pyenv python3 on PATH may not). */
export const PY_DEBIAN = "/usr/bin/python3";

/**
 * The first Python whose cryptography has the ClientVerifier API (cryptography 42+): the
 * `python3` on PATH (it may be a newer one than Debian's), then Debian's own; undefined if neither.
 */
export function clientVerifierPython(): Promise<string | undefined> {
  const probe = ["-c", "from cryptography.x509.verification import PolicyBuilder; PolicyBuilder.build_client_verifier"];
  return Promise.resolve(["python3", PY_DEBIAN].find((py) => spawnSync(py, probe, { stdio: "ignore" }).status === 0));
}

/** PostgreSQL URL for tests: $SHOMEI_TEST_PG, else the local server's `test` database. */
export const PG_URL = process.env.SHOMEI_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

async function pgReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const TOOLS = {
  openssl: { name: "openssl", install: "apt-get install -y openssl", available: onPath("openssl", ["version"]) },
  curl: { name: "curl", install: "apt-get install -y curl", available: onPath("curl") },
  python3: { name: "python3", install: "apt-get install -y python3", available: onPath("python3") },
  chromium: { name: "Chromium", install: "apt-get install -y chromium", available: onPath("/usr/bin/chromium") },
  nss: { name: "NSS tools (certutil, pk12util)", install: "apt-get install -y libnss3-tools", available: onPath("sh", ["-c", "command -v certutil && command -v pk12util"]) },
  pyCryptography: {
    name: "Python cryptography (Debian's python3-cryptography)",
    install: "apt-get install -y python3-cryptography",
    available: onPath(PY_DEBIAN, ["-c", "import cryptography"]),
  },
  pyClientVerifier: {
    name: "Python cryptography 42 or later (ClientVerifier), in python3 or Debian's python3",
    install: "python3 -m pip install 'cryptography>=42' (Debian 12's python3-cryptography is older)",
    available: async () => (await clientVerifierPython()) !== undefined,
  },
  aiosmtpd: {
    name: "Python aiosmtpd (Debian's python3-aiosmtpd, a real SMTP server for the mail tests)",
    install: "apt-get install -y python3-aiosmtpd",
    available: onPath(PY_DEBIAN, ["-c", "import aiosmtpd"]),
  },
  ocsptool: { name: "GnuTLS ocsptool", install: "apt-get install -y gnutls-bin", available: onPath("sh", ["-c", "command -v ocsptool"]) },
  tinyproxy: { name: "tinyproxy", install: "apt-get install -y tinyproxy", available: onPath("sh", ["-c", "command -v tinyproxy"]) },
  java: { name: "Java (Debian's default-jdk-headless)", install: "apt-get install -y default-jdk-headless", available: onPath("java", ["-version"]) },
  testssl: { name: "testssl.sh (Debian's command testssl)", install: "apt-get install -y testssl.sh", available: onPath("sh", ["-c", "command -v testssl"]) },
  postgres: {
    name: "PostgreSQL",
    install: `apt-get install -y postgresql, start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) and set SHOMEI_TEST_PG (now ${PG_URL.replace(/:[^:@/]*@/, ":***@")})`,
    available: pgReachable,
  },
} as const satisfies Record<string, Tool>;

export type ToolName = keyof typeof TOOLS;

const cache = new Map<ToolName, Promise<boolean>>();

export function has(tool: ToolName): Promise<boolean> {
  let p = cache.get(tool);
  if (!p) cache.set(tool, (p = TOOLS[tool].available()));
  return p;
}

/**
 * Call at the start of a test that needs tools: skips it when one is missing on a developer's
 * machine, fails it under CI=true. Returns false when the test was skipped.
 */
export async function needs(t: TestContext, ...tools: ToolName[]): Promise<boolean> {
  for (const tool of tools) {
    if (await has(tool)) continue;
    const msg = `needs ${TOOLS[tool].name} (${TOOLS[tool].install})`;
    if (process.env.CI === "true") throw new Error(`CI: ${msg}`);
    t.skip(msg);
    return false;
  }
  return true;
}

/** A PostgreSQL schema of a test's own: its URL (with `?schema=`), and dropping it afterwards. */
export interface TestSchema {
  /** The URL, or false when PostgreSQL is not reachable. */
  url(): Promise<string | false>;
  drop(): Promise<void>;
}

export function testSchema(prefix: string): TestSchema {
  const schema = `${prefix}_${randomBytes(6).toString("hex")}`;
  return {
    url: async () => ((await has("postgres")) ? `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}` : false),
    drop: async () => {
      if (!(await has("postgres"))) return;
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}
