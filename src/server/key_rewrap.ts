/**
 * Rewrapping the CA's private keys at rest (`shomei-ca keys rewrap`): each key written under an
 * older, weaker wrapping (PBKDF2 at 2,048 iterations before issue 10) is decrypted with the
 * passphrase and written again with `wrapPrivateKey`. A key is replaced only after its new file
 * was read back to the same key, and the replacement is a rename of a flushed temporary file
 * (mode 0600), so an interruption leaves either the old or the new file, never neither.
 */
import { existsSync, readFileSync } from "node:fs";
import { ShomeiError } from "../i18n/errors.js";
import { describeWrapping, isStrongWrapping, unwrapPrivateKey, wrapPrivateKey, wrappingOf } from "../pki/key_wrap.js";
import { writeFileAtomic } from "../util/files.js";
import type { DataDir } from "./data_dir.js";

export type KeyName = "root" | "issuing" | "tls";

export interface KeyFileState {
  readonly name: KeyName;
  readonly file: string;
  /** Absent: the root key may be kept offline, apart from the data folder. */
  readonly present: boolean;
  /** How the file is protected now ("" when absent). */
  readonly wrapping: string;
  readonly strong: boolean;
}

export interface RewrapResult extends KeyFileState {
  /** rewrapped: written anew; unchanged: already strong; absent: no file. */
  readonly action: "rewrapped" | "unchanged" | "absent";
  /** The wrapping after the command ran. */
  readonly now: string;
}

function keyFiles(dir: DataDir): { name: KeyName; file: string }[] {
  return [{ name: "root", file: dir.rootKey }, { name: "issuing", file: dir.issuingKey }, { name: "tls", file: dir.tlsKey }];
}

/** How each private key in the data folder is protected (reads no passphrase, decrypts nothing). */
export function keyFileStates(dir: DataDir): KeyFileState[] {
  return keyFiles(dir).map(({ name, file }) => {
    if (!existsSync(file)) return { name, file, present: false, wrapping: "", strong: false };
    let w;
    try {
      w = wrappingOf(readFileSync(file, "utf8"));
    } catch (e) {
      throw new ShomeiError("CA_KEY_LOCKED", {}, { cause: e });
    }
    return { name, file, present: true, wrapping: describeWrapping(w), strong: isStrongWrapping(w) };
  });
}

/** Rewraps every present key whose wrapping is weaker than `wrapPrivateKey`'s; leaves the others alone. */
export async function rewrapKeys(dir: DataDir, passphrase: string, onResult: (r: RewrapResult) => void = () => undefined): Promise<RewrapResult[]> {
  const results: RewrapResult[] = [];
  for (const state of keyFileStates(dir)) {
    let r: RewrapResult;
    if (!state.present) r = { ...state, action: "absent", now: "" };
    else if (state.strong) r = { ...state, action: "unchanged", now: state.wrapping };
    else {
      const key = dir.privateKey(state.file, passphrase);
      const pem = await wrapPrivateKey(key, passphrase);
      // Never lose a key: the new file must give back exactly the key the old one holds.
      const original = key.export({ format: "der", type: "pkcs8" });
      let again: Buffer | undefined;
      try {
        again = unwrapPrivateKey(pem, passphrase).export({ format: "der", type: "pkcs8" });
      } catch {
        again = undefined;
      }
      if (!again?.equals(original)) throw new ShomeiError("KEY_REWRAP_FAILED", { file: state.file });
      await writeFileAtomic(state.file, pem, { mode: 0o600 });
      r = { ...state, action: "rewrapped", now: describeWrapping(wrappingOf(pem)) };
    }
    results.push(r);
    onResult(r);
  }
  return results;
}
