/**
 * testssl.sh (Debian's `testssl`) against both HTTPS ports of a real `shomei-ca serve`: no CBC
 * (nor any other non-AEAD) suite offered, HSTS present, nothing at severity MEDIUM or above.
 *
 * `--add-ca` gives it our root: without it testssl calls the chain incomplete although the
 * server sends leaf and issuing CA. It runs offline (`--nodns none`, no `--phone-out`).
 * A full run takes about a minute per port here, most of it client simulations (-c) and
 * vulnerability checks that only matter for suites and protocols we do not offer, so the test
 * runs only: -p protocols, -e every cipher the server accepts, -S server defaults (certificate,
 * chain, revocation URLs, session handling), -h HTTP headers (HSTS), and the vulnerability
 * checks that do not follow from the cipher list: -H Heartbleed, -I CCS injection,
 * -R renegotiation, -C CRIME (TLS compression), -B BREACH. Skipped: -s and -f (their answers are
 * in -e's list), -P (server order is checked by the s_client test), -c, and -U's other checks
 * (POODLE, SWEET32, FREAK, DROWN, LOGJAM, BEAST, LUCKY13, RC4, ROBOT, Ticketbleed: each needs
 * a protocol, a CBC/RC4/3DES/export/DH/RSA-kx suite or a load balancer that -p and -e show absent).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { initCa, serve, tempDir } from "../helpers/ca.js";
import { run } from "../helpers/run.js";
import { needs } from "../helpers/tools.js";

interface Finding {
  readonly id: string;
  readonly severity: string;
  readonly finding: string;
}

const CHECKS = ["-p", "-e", "-S", "-h", "-H", "-I", "-R", "-C", "-B"];
/** The AEAD suites of the policy, as IANA names (the last column of testssl's cipher findings). */
const AEAD = /^TLS_(?:ECDHE_(?:ECDSA|RSA)_WITH_)?(?:AES_(?:128|256)_GCM_SHA(?:256|384)|CHACHA20_POLY1305_SHA256)$/;

async function testssl(url: string, rootPem: string, work: string, name: string): Promise<Finding[]> {
  const { hostname, port } = new URL(url);
  const json = join(work, `${name}.json`);
  const r = await run("testssl", [
    "--quiet", "--color", "0", "--warnings", "off", "--sneaky", "--nodns", "none",
    "--add-ca", rootPem, "--jsonfile", json, ...CHECKS, `${hostname}:${port}`,
  ], { cwd: work, timeoutMs: 540_000 });
  // The exit status counts errors and "ambiguous situations", such as "Connect problem: Ticket
  // resumption test not possible" on a loaded machine: not findings about the policy, which the
  // assertions read from the JSON. 50 and above are vulnerability scores or fatal errors.
  assert.ok(r.code !== null && r.code < 50, `testssl ${name} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  return JSON.parse(readFileSync(json, "utf8")) as Finding[];
}

test("testssl.sh on both HTTPS ports: AEAD suites only, HSTS, a trusted chain, nothing at MEDIUM or above", { timeout: 600_000 }, async (t) => {
  if (!(await needs(t, "testssl"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const srv = await serve(ca.dir);
  t.after(() => srv.stop());
  const portal = /^Portal: (https:\/\/\S+?)\/?$/m.exec(srv.output())?.[1];
  assert.ok(portal, srv.output());
  const work = tempDir("shomei-testssl-");
  t.after(() => rmSync(work, { recursive: true, force: true }));

  const ports = [{ name: "est", url: srv.url }, { name: "portal", url: portal }];
  const results = await Promise.all(ports.map((p) => testssl(p.url, ca.rootPem, work, p.name)));
  ports.forEach((p, i) => {
    const findings = results[i] ?? [];
    const by = (id: string): Finding | undefined => findings.find((f) => f.id === id);
    const show = (f: Finding): string => `${f.severity} ${f.id}: ${f.finding}`;

    // The scan ran to the end and saw what it had to.
    const problems = findings.filter((f) => f.severity === "FATAL" || f.id === "scanProblem");
    assert.deepEqual(problems.map(show), [], `${p.name}: testssl could not scan`);
    for (const v of ["SSLv2", "SSLv3", "TLS1", "TLS1_1"]) assert.match(by(v)?.finding ?? "missing", /^not offered/, `${p.name}: ${v}`);
    assert.match(by("TLS1_2")?.finding ?? "missing", /^offered/, `${p.name}: TLS 1.2`);
    assert.match(by("TLS1_3")?.finding ?? "missing", /^offered/, `${p.name}: TLS 1.3`);

    // Every suite the server accepted is an ECDHE (or TLS 1.3) AEAD suite: no CBC, no CCM.
    const suites = findings.filter((f) => /^cipher_x[0-9a-f]+$/.test(f.id)).map((f) => f.finding.trim().split(/\s+/).at(-1) ?? "");
    assert.ok(suites.length >= 3, `${p.name}: testssl listed no ciphers`);
    assert.deepEqual(suites.filter((s) => !AEAD.test(s)), [], `${p.name}: non-AEAD suites offered`);
    assert.ok(!suites.some((s) => /CBC|_CCM/.test(s)));

    assert.equal(by("HSTS_time")?.severity, "OK", `${p.name}: HSTS ${by("HSTS_time")?.finding ?? "missing"}`);
    assert.match(by("HSTS_time")?.finding ?? "", /31536000 seconds/);
    assert.equal(by("cert_chain_of_trust")?.severity, "OK", `${p.name}: chain ${by("cert_chain_of_trust")?.finding ?? "missing"}`);

    const serious = findings.filter((f) => ["MEDIUM", "HIGH", "CRITICAL"].includes(f.severity));
    assert.deepEqual(serious.map(show), [], `${p.name}: findings at MEDIUM or above`);
  });
});
