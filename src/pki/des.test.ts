import { test } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, randomBytes } from "node:crypto";
import { desEde3CbcEncrypt } from "./des.js";

test("DES-EDE3-CBC gives what node:crypto's des-ede3-cbc gives, for every length around the block size", () => {
  for (let n = 0; n < 40; n++) {
    const key = randomBytes(24);
    const iv = randomBytes(8);
    const plain = randomBytes(n * 7 % 50);
    const c = createCipheriv("des-ede3-cbc", key, iv);
    const want = Buffer.concat([c.update(plain), c.final()]);
    assert.deepEqual(Buffer.from(desEde3CbcEncrypt(key, iv, plain)), want, `length ${plain.length}`);
  }
});

test("DES-EDE3-CBC refuses a key or IV of the wrong size", () => {
  assert.throws(() => desEde3CbcEncrypt(new Uint8Array(16), new Uint8Array(8), new Uint8Array(1)), RangeError);
});
