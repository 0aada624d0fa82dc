/**
 * The audit log against what an attacker writes (issue 10, item 5), through the real service
 * (in-process, real TLS, real SQLite, a clock that stands still so a burst is in one window):
 * an 8,000-character user ID with an RTL override and a NUL in the Basic header is recorded as
 * a short marker; a ~40 KB requested subject is capped; 999 replays of one CSR are one row with
 * their count, shown by the admin API and the operator console.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request } from "node:https";
import { Browserish, OPERATOR_ID, startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { makeCsr } from "../helpers/est.js";

let env: PortalEnv;
let op: Browserish;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** simpleenroll with Basic credentials given as raw bytes (so any user ID can be sent), on a kept-alive connection. */
function simpleenroll(user: string, pass: string, csrBase64: string): Promise<{ status: number; body: string }> {
  const url = new URL(`${env.server.estUrl}/simpleenroll`);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST", agent, ca: env.rootPem,
      headers: { "content-type": "application/pkcs10", authorization: `Basic ${Buffer.from(`${user}:${pass}`, "utf8").toString("base64")}` },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(csrBase64);
  });
}

/** Runs `task` n times with at most `width` in flight. */
async function bounded<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  }));
  return out;
}

async function register(userId: string): Promise<string> {
  await env.server.services.registration.addUser({ userId, email: `${userId}@example.jp`, name: `利用者 ${userId}` }, "operator:test");
  const { passcode } = await env.secretsFor(`${userId}@example.jp`);
  if (!passcode) throw new Error(`no passcode mail for ${userId}`);
  return passcode;
}

before(async () => {
  env = await startPortalEnv();
  const u = await env.enroll(OPERATOR_ID);
  op = new Browserish(env.url, env.rootPem, u);
  await op.loginAndChange(OPERATOR_ID, u.password);
});

after(async () => {
  agent.destroy();
  await env?.stop();
});

test("an 8,000-character user ID with an RTL override and a NUL is audited as a short marker, nowhere verbatim", async () => {
  const hostile = `a0000001\u202E\u0000${"A".repeat(8000 - 10)}`;
  const csr = await makeCsr("a0000001");
  const r = await simpleenroll(hostile, "1111-2222-3333-4444", csr.base64);
  assert.equal(r.status, 401);
  assert.match(r.body, /^\[PASSCODE_REJECTED\]/);
  const rows = await env.server.services.store.queryAudit({ event: "passcode.failure", limit: 1000 });
  const row = rows.find((e) => e.userId?.startsWith("invalid:"));
  assert.ok(row, `a failure recorded under a marker: ${JSON.stringify(rows.map((e) => e.userId))}`);
  assert.match(row.userId ?? "", /^invalid:[0-9a-f]{12}$/);
  assert.equal(row.actor, `user:${row.userId}`);
  assert.equal(row.detail?.reason, "unknown-user");
  for (const e of rows) {
    const text = [e.userId ?? "", e.actor, ...Object.values(e.detail ?? {}).map(String)].join("|");
    assert.ok(!text.includes("AAAAAAAAAA") && !text.includes("\u202E") && !text.includes("\u0000"), `nothing verbatim: ${text.slice(0, 120)}`);
    assert.ok(text.length < 1000, `bounded: ${text.length}`);
  }
  // The operator finds it by the marker, in the API as in the console.
  const api = await op.request("GET", `/api/v1/audit?user=${encodeURIComponent(row.userId ?? "")}&event=passcode.failure`, undefined, { accept: "application/json" });
  assert.equal(api.status, 200, api.body);
  const events = (JSON.parse(api.body) as { events: { userId: string; count: number }[] }).events;
  assert.equal(events.length, 1);
  assert.equal(events[0]?.userId, row.userId);
});

test("a requested subject of ~40 KB is capped in the audit row; the certificate names the user", async () => {
  const userId = "a0000802";
  const passcode = await register(userId);
  const csr = await makeCsr(`${"S".repeat(30_000)}\u202Etxt.exe`);
  const r = await simpleenroll(userId, passcode, csr.base64);
  assert.equal(r.status, 200, r.body.slice(0, 300));
  const [issue] = await env.server.services.store.queryAudit({ userId, event: "certificate.issue" });
  const subject = String(issue?.detail?.requestedSubject);
  assert.ok(subject.length <= 200, `capped: ${subject.length}`);
  assert.match(subject, /^CN=S+…\[\+\d+\]$/);
});

test("999 replays of one CSR are one audit row with count 999, in the API and the console", async () => {
  const userId = "a0000803";
  const passcode = await register(userId);
  const csr = await makeCsr(userId);
  const first = await simpleenroll(userId, passcode, csr.base64);
  assert.equal(first.status, 200, first.body.slice(0, 300));
  const replies = await bounded(999, 16, () => simpleenroll(userId, passcode, csr.base64));
  assert.deepEqual([...new Set(replies.map((x) => x.status))], [200]);
  assert.equal(new Set(replies.map((x) => x.body)).size, 1, "the same certificate every time");
  assert.equal(replies[0]?.body, first.body);

  const rows = await env.server.services.store.queryAudit({ userId, event: "enroll.replay" });
  assert.equal(rows.length, 1, "one row for the burst");
  assert.equal(rows[0]?.count, 999);
  assert.equal((await env.server.services.store.queryAudit({ userId, event: "certificate.issue" })).length, 1);

  const api = await op.request("GET", `/api/v1/audit?user=${userId}&event=enroll.replay`, undefined, { accept: "application/json" });
  assert.equal(api.status, 200, api.body);
  const events = (JSON.parse(api.body) as { events: { count: number; at: string; lastAt: string }[] }).events;
  assert.equal(events.length, 1);
  assert.equal(events[0]?.count, 999);
  assert.ok(events[0] && events[0].lastAt >= events[0].at);

  const page = await op.get(`/console/audit?user=${userId}&event=enroll.replay`);
  assert.equal(page.status, 200);
  assert.match(page.body, /<td class="audit-count">999 <small>\(last /);
});
