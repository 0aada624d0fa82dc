import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./files.js";

test("writeFileAtomic replaces the content with the given mode and leaves no temporary file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "shomei-atomic-"));
  const file = join(dir, "x.pem");
  await writeFile(file, "old");
  await writeFileAtomic(file, "new", { mode: 0o600 });
  assert.equal(await readFile(file, "utf8"), "new");
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), ["x.pem"]);
});

test("writeFileAtomic that fails keeps the old file intact", async () => {
  const dir = await mkdtemp(join(tmpdir(), "shomei-atomic-"));
  const target = join(dir, "taken");
  await mkdir(target); // renaming a file onto a folder fails
  await writeFile(join(target, "inside"), "keep");
  await assert.rejects(writeFileAtomic(target, "data", { mode: 0o600 }));
  assert.deepEqual((await readdir(dir)).sort(), ["taken"]);
  assert.equal(await readFile(join(target, "inside"), "utf8"), "keep");
});

test("writeFileAtomic with exclusive never replaces an existing file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "shomei-atomic-"));
  const file = join(dir, "key.pem");
  await writeFileAtomic(file, "first", { mode: 0o600, exclusive: true });
  await assert.rejects(writeFileAtomic(file, "second", { mode: 0o600, exclusive: true }), /EEXIST/);
  assert.equal(await readFile(file, "utf8"), "first");
  assert.deepEqual(await readdir(dir), ["key.pem"]);
});
