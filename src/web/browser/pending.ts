/**
 * What must survive a reload or a dropped connection until the download is done: the CSR (so
 * a retry sends the very same request and gets the same certificate), the private key, and the
 * certificate once it arrived. Kept in IndexedDB; the private key only encrypted (AES-GCM) under
 * a wrapping key that is itself a non-extractable CryptoKey in the same database, so no script
 * can read the key out as bytes. Removed when the user downloads the file.
 */
export interface Pending {
  /** "enroll:USERID" or "renew:USERID". */
  readonly id: string;
  readonly userId: string;
  readonly keyKind: string;
  readonly csr: Uint8Array;
  readonly spki: Uint8Array;
  readonly wrapKey: CryptoKey;
  readonly iv: Uint8Array;
  readonly sealedPkcs8: Uint8Array;
  readonly created: number;
  certificate?: Uint8Array;
}

const DB = "shomei-enroll";
const STORE = "pending";

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = (): void => { r.result.createObjectStore(STORE, { keyPath: "id" }); };
    r.onsuccess = (): void => resolve(r.result);
    r.onerror = (): void => reject(r.error ?? new Error("IndexedDB open failed"));
  });
}

async function run<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = f(tx.objectStore(STORE));
      tx.oncomplete = (): void => resolve(req.result as T);
      tx.onerror = (): void => reject(tx.error ?? new Error("IndexedDB failed"));
    });
  } finally {
    db.close();
  }
}

export const loadPending = (id: string): Promise<Pending | undefined> => run<Pending | undefined>("readonly", (s) => s.get(id));
export const allPending = (): Promise<Pending[]> => run<Pending[]>("readonly", (s) => s.getAll());
export const savePending = (p: Pending): Promise<unknown> => run("readwrite", (s) => s.put(p));
export const deletePending = (id: string): Promise<unknown> => run("readwrite", (s) => s.delete(id));

/** Seals the PKCS#8 key under a fresh non-extractable AES-GCM key. */
export async function seal(pkcs8: ArrayBuffer): Promise<{ wrapKey: CryptoKey; iv: Uint8Array; sealedPkcs8: Uint8Array }> {
  const wrapKey = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealedPkcs8 = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, wrapKey, pkcs8));
  return { wrapKey, iv, sealedPkcs8 };
}

export async function unseal(p: Pending): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: p.iv.slice() }, p.wrapKey, p.sealedPkcs8.slice()));
}
