/** Certificate serial numbers: random, positive, 126 bits of entropy, minimally encoded. */
import { randomBytes } from "node:crypto";

export type RandomSource = (size: number) => Uint8Array;

/** 16 random bytes with the top bit cleared (positive) and the next one set (minimal DER). */
export function randomSerial(random: RandomSource = randomBytes): Buffer {
  const b = Buffer.from(random(16));
  b[0] = ((b[0] ?? 0) & 0x3f) | 0x40;
  return b;
}

/** Lowercase hex of a serial, the form used in the database and in file names. */
export function serialHex(serial: Uint8Array): string {
  return Buffer.from(serial).toString("hex");
}
