/**
 * The README's commands, run as a reader would, so the README cannot drift from the product:
 * every ```sh block in order, with bash (-e -o pipefail), against a throwaway CA. The example
 * names are replaced by the test's own (data folder, URLs of a real `shomei-ca serve --port 0`,
 * the root fingerprint, a passcode from the outbox, a serial on record). A block preceded by
 * `<!-- readme-test: skip (why) -->` is not run; `<!-- readme-test: serve (why) -->` marks the
 * block that starts the service, which the test starts itself on free ports. Only exit codes are
 * asserted: the messages belong to the commands' own tests.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { passcodeFor, readOutbox, serve, tempDir, type Served } from "../helpers/ca.js";
import { run, ROOT, SHOMEI, SHOMEI_CA } from "../helpers/run.js";
import { needs } from "../helpers/tools.js";
import { readCertificate } from "../../src/pki/certificate.js";
import { fromPem } from "../../src/pki/pem.js";

interface Block {
  readonly line: number;
  readonly code: string;
  /** From the marker before the block, if any. */
  readonly marker?: { readonly kind: "skip" | "serve"; readonly why: string };
}

/** The ```sh blocks of a Markdown text, each with the readme-test marker just before it. */
function shellBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  let marker: Block["marker"];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const m = /^<!-- readme-test: (skip|serve) \((.+)\) -->$/.exec(l.trim());
    if (m) {
      marker = { kind: m[1] as "skip" | "serve", why: m[2]! };
      continue;
    }
    if (/^\s*```sh\s*$/.test(l)) {
      const start = i + 1;
      const body: string[] = [];
      while (++i < lines.length && !/^\s*```\s*$/.test(lines[i]!)) body.push(lines[i]!);
      blocks.push({ line: start, code: body.join("\n"), ...(marker ? { marker } : {}) });
      marker = undefined;
      continue;
    }
    if (l.trim() !== "") marker = undefined;
  }
  return blocks;
}

test("every runnable command block of the README exits 0 against a throwaway CA", { timeout: 600_000 }, async (t) => {
  if (!(await needs(t, "openssl", "curl", "python3"))) return;
  const blocks = shellBlocks(readFileSync(join(ROOT, "README.md"), "utf8"));
  const skipped = blocks.filter((b) => b.marker?.kind === "skip");
  // Few skipped blocks, each saying why.
  assert.ok(skipped.length <= 6, `too many skipped blocks: ${skipped.map((b) => b.line).join(", ")}`);
  assert.ok(blocks.length - skipped.length >= 6, "most blocks run");

  const base = tempDir("shomei-readme-");
  const work = join(base, "work");
  const home = join(base, "home");
  const bin = join(base, "bin");
  const data = join(base, "data");
  for (const d of [work, home, bin]) mkdirSync(d, { recursive: true });
  for (const [name, js] of [["shomei", SHOMEI], ["shomei-ca", SHOMEI_CA]] as const) {
    writeFileSync(join(bin, name), `#!/bin/sh\nexec "${process.execPath}" "${js}" "$@"\n`);
    chmodSync(join(bin, name), 0o755);
  }
  const env = { HOME: home, PATH: `${bin}:${process.env.PATH ?? ""}`, LANG: "en_US.UTF-8", XDG_CONFIG_HOME: join(home, ".config"), SHOMEI_DATA: data };
  let srv: Served | undefined;
  const ran: number[] = [];
  try {
    for (const b of blocks) {
      if (b.marker?.kind === "skip") continue;
      if (b.marker?.kind === "serve") {
        srv = await serve(data);
        continue;
      }
      const script = await substitute(b.code, data, srv, env);
      const r = await run("bash", ["-e", "-o", "pipefail", "-c", script], { cwd: work, env, timeoutMs: 240_000 });
      assert.equal(r.code, 0, `README.md line ${b.line}:\n${script}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
      ran.push(b.line);
    }
  } finally {
    await srv?.stop();
    rmSync(base, { recursive: true, force: true });
  }
  assert.ok(srv, "the README's serve block was found and started");
  t.diagnostic(`ran the blocks at README.md lines ${ran.join(", ")}`);
});

/** The README's example names replaced by the test's own. */
async function substitute(code: string, data: string, srv: Served | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  let s = code.replace(/--hostname ca\.example\.jp/g, "--hostname localhost,127.0.0.1").replaceAll("/srv/shomei", data)
    // Certificates inside their renewal window from the start, so that `shomei renew` has work to do.
    .replace(/^shomei-ca init /m, "shomei-ca init --client-validity-days 20 ");
  if (srv) {
    const portal = /^Portal: (https:\/\/\S+?)\/?$/m.exec(srv.output())?.[1];
    const status = new URL(srv.ocspUrl).origin;
    s = s.replaceAll("https://ca.example.jp:8443", srv.url).replaceAll("http://ca.example.jp:8080", status);
    if (portal) s = s.replaceAll("https://ca.example.jp:8444", portal);
  }
  if (s.includes("AB:CD:…") && existsSync(join(data, "ca", "root.pem"))) {
    const root = readCertificate(fromPem(readFileSync(join(data, "ca", "root.pem"), "utf8"), "CERTIFICATE"));
    s = s.replaceAll("AB:CD:…", root.fingerprint);
  }
  s = s.replaceAll("--cacert root.pem", `--cacert ${join(data, "ca", "root.pem")}`);
  if (/\bPASSCODE\b/.test(s)) {
    // A passcode works once: each block that needs one gets a new one, as the operator would issue it.
    const r = await run(process.execPath, [SHOMEI_CA, "passcode", "reissue", "a0000001", "--data", data], { env });
    assert.equal(r.code, 0, r.stderr);
    s = s.replace(/\bPASSCODE\b/g, await passcodeFor(data, "taro@example.jp"));
  }
  if (/\bPASSWORD\b/.test(s)) {
    const mails = (await readOutbox(data)).filter((m) => m.to === "taro@example.jp").reverse();
    const password = mails.map((m) => /^(?:初期パスワード|Initial password): (\S+)$/m.exec(m.body)?.[1]).find((p) => p !== undefined);
    assert.ok(password, "the initial password mail");
    s = s.replace(/\bPASSWORD\b/g, password);
  }
  if (s.includes("4F:2A:…:9C")) {
    const r = await run(process.execPath, [SHOMEI_CA, "cert", "list", "--user", "a0000001", "--json", "--data", data], { env });
    assert.equal(r.code, 0, r.stderr);
    const certs = JSON.parse(r.stdout) as { serial: string; status: string }[];
    // One not in the user's store (the one curl fetched), so that `shomei doctor` after it finds nothing wrong.
    const l = await run(process.execPath, [SHOMEI, "list", "--json"], { env });
    assert.equal(l.code, 0, l.stderr);
    const stored = new Set((JSON.parse(l.stdout) as { serial: string }[]).map((c) => c.serial));
    s = s.replaceAll("4F:2A:…:9C", certs.find((c) => c.status === "valid" && !stored.has(c.serial))?.serial ?? "none");
  }
  return s;
}
