/**
 * The status change check over real stores: a revocation or a CRL committed through another
 * connection (another process: the CLI, another instance) is a change; nothing, or writes of
 * other tables (sessions, users: what the workers write all day), are not. On PostgreSQL a
 * revocation also arrives by NOTIFY without any check, and only for its own schema.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../store/open.js";
import type { KyselyStore } from "../store/kysely_store.js";
import { randomSerial, serialHex } from "../pki/serial.js";
import type { CertificateRecord } from "../ca/ports.js";
import { DAY } from "../../test/helpers/client_pki.js";
import { tempDir } from "../../test/helpers/ca.js";
import { needs, testSchema } from "../../test/helpers/tools.js";
import { StatusWatch } from "./status_watch.js";

const dirs: string[] = [];
const stores: KyselyStore[] = [];
const schemas = [testSchema("shomei_watch"), testSchema("shomei_watch_other")];
after(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const s of schemas) await s.drop();
});

async function open(url: string): Promise<KyselyStore> {
  const s = await openStore(url);
  stores.push(s);
  return s;
}

async function certificate(s: KyselyStore): Promise<string> {
  const serial = serialHex(randomSerial());
  const now = new Date();
  const c: CertificateRecord = {
    serial, userId: null, kind: "client", subject: `CN=${serial}`, notBefore: now, notAfter: new Date(now.getTime() + DAY),
    fingerprint: serial, der: Buffer.from([0x30, 0]), status: "valid", csrHash: null, createdAt: now,
  };
  await s.insertCertificate(c, []);
  return serial;
}

/**
 * A watch whose timer never fires within the test (checks are made by hand), counting what it
 * reports; `polling` leaves PostgreSQL's notifications out.
 */
function watching(store: KyselyStore, polling = false): { watch: StatusWatch; changes: () => number } {
  let n = 0;
  const watch = new StatusWatch({ store: polling ? { statusChangeMarker: () => store.statusChangeMarker() } : store, everyMs: 3_600_000, onChange: () => void n++ });
  return { watch, changes: () => n };
}

async function changesSeen(watcher: KyselyStore, writer: KyselyStore): Promise<void> {
  const serial = await certificate(writer);
  const { watch, changes } = watching(watcher, true);
  await watch.start();
  try {
    await watch.check();
    assert.equal(changes(), 0, "nothing happened");
    // What workers write all the time (a new certificate, a user) is not a status change.
    await certificate(writer);
    await writer.db.insertInto("users").values({
      user_id: "u1", email: "u1@example.jp", name: "U", organization: "O", lang: "ja", role: "user", status: "active",
      password_hash: null, password_initial: 0, password_set_at: null, password_expires_at: null,
      created_at: new Date().toISOString(), updated_at: new Date().toISOString(), failed_logins: 0, locked_at: null, last_login_at: null,
    }).execute();
    await watch.check();
    assert.equal(changes(), 0, "writes of other tables are no status change");
    // A revocation committed through the other connection.
    await writer.revokeCertificate(serial, "keyCompromise", new Date(), []);
    await watch.check();
    assert.equal(changes(), 1, "the revocation is seen at the next check");
    await watch.check();
    assert.equal(changes(), 1, "and only once");
    // A CRL stored by another signer (what a follower instance must serve).
    assert.ok(await writer.saveCrl({
      scope: "shard-0", der: Buffer.from([0x30, 0]), crlNumber: 1n, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + DAY),
      entries: 0, maxSeq: 0, url: "", signedBy: "other",
    }, undefined));
    await watch.check();
    assert.equal(changes(), 2, "a CRL stored elsewhere is seen too");
  } finally {
    await watch.stop();
  }
}

test("SQLite: a revocation or a CRL committed by another connection is a change at the next check; other writes are not", async () => {
  const dir = tempDir();
  dirs.push(dir);
  const url = `sqlite:${join(dir, "shomei.db")}`;
  await changesSeen(await open(url), await open(url));
});

test("PostgreSQL: the same by polling, and a revocation arrives by NOTIFY without a check, for its own schema only", async (t) => {
  const [mine, theirs] = schemas;
  const url = await mine?.url();
  const otherUrl = await theirs?.url();
  if (!url || !otherUrl) return void (await needs(t, "postgres"));
  const watcher = await open(url);
  const writer = await open(url);
  await changesSeen(watcher, writer);

  const serial = await certificate(writer);
  const other = await open(otherUrl);
  const otherSerial = await certificate(other);
  const { watch, changes } = watching(watcher);
  await watch.start();
  try {
    // Another schema's revocation (another instance's tables on the same server) is not this one's.
    await other.revokeCertificate(otherSerial, "superseded", new Date(), []);
    await writer.revokeCertificate(serial, "superseded", new Date(), []);
    for (let i = 0; changes() === 0; i++) {
      assert.ok(i < 200, "no notification within 10 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(watch.stats.checks, 0, "no check was made: the notification carried it");
    assert.equal(watch.stats.notifications, 1, "one notification: the other schema's was not passed on");
  } finally {
    await watch.stop();
  }
});
