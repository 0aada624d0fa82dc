/** Initial passwords: generated, sent by mail, stored only as an argon2id hash. */
import { randomInt } from "node:crypto";
import { hash, verify, Algorithm } from "@node-rs/argon2";

const LOWER = "abcdefghijkmnpqrstuvwxyz";
const UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS = "23456789";
const ALL = LOWER + UPPER + DIGITS;

/** 16 characters, at least one lowercase, one uppercase and one digit, no look-alikes. */
export function generateInitialPassword(pick: (n: number) => number = randomInt): string {
  for (;;) {
    let p = "";
    for (let i = 0; i < 16; i++) p += ALL[pick(ALL.length)];
    if (/[a-z]/.test(p) && /[A-Z]/.test(p) && /[0-9]/.test(p)) return p;
  }
}

/** argon2id with the library's defaults (m=19456 KiB, t=2, p=1: OWASP's minimum). */
export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: Algorithm.Argon2id });
}

/** Constant-time check inside the library. */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    return false;
  }
}
