/**
 * The console when the mail cannot be sent: the registration stands, the operator is told the
 * mail is queued (not an error page), and the mail goes out once delivery works again. The fault
 * is real: the outbox folder replaced by a file, so writing the .eml fails as a full or
 * read-only disk would (tests run as root, so permissions cannot cause it).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Browserish, OPERATOR_ID, startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { testClock, type Clock } from "../helpers/inprocess.js";

let env: PortalEnv;
const clock: Clock = testClock();
before(async () => { env = await startPortalEnv({ clock }); });
after(async () => { await env?.stop(); });

test("console registration while mail delivery fails: registered, 'queued and retried' shown; the worker delivers once it works", async () => {
  const op = await env.enroll(OPERATOR_ID);
  const tab = new Browserish(env.url, env.rootPem, op);
  await tab.loginAndChange(OPERATOR_ID, op.password);
  const outbox = join(env.ca.dir, "outbox");
  const before = readdirSync(outbox).length;
  renameSync(outbox, `${outbox}.away`);
  writeFileSync(outbox, "not a folder");
  let seqs: number[] = [];
  try {
    const form = await tab.get("/console?lang=en");
    const r = await tab.postForm("/console/users", { csrf: Browserish.csrf(form), userId: "a0000611", email: "queued@example.jp", name: "待機 一郎", organization: "", lang: "ja" });
    assert.equal(r.status, 303, r.body);
    const shown = await tab.get(String(r.headers.location));
    assert.equal(shown.status, 200);
    assert.match(shown.body, /the e-mail could not be sent yet: it is queued and will be retried automatically/);
    assert.ok(await env.server.services.store.getUser("a0000611"), "the registration stands");
    const summary = await env.server.services.store.mailQueueSummary();
    const open = summary.open.filter((m) => m.recipient === "queued@example.jp");
    assert.deepEqual(open.map((m) => m.status), ["pending", "pending"]);
    seqs = open.map((m) => m.seq);
  } finally {
    rmSync(outbox);
    renameSync(`${outbox}.away`, outbox); // the folder is back
  }
  // Delivery works again; when the retry is due the worker's pass sends both, once.
  clock.advance(10 * 60_000);
  const done = await env.server.services.mail.deliverDue();
  assert.deepEqual(done.filter((o) => seqs.includes(o.seq)).map((o) => o.status), ["sent", "sent"]);
  assert.equal(readdirSync(outbox).length, before + 2);
  const secrets = await env.secretsFor("queued@example.jp");
  assert.ok(secrets.passcode && secrets.password, "both mails are in the outbox now");
});
