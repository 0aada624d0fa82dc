/**
 * `shomei prune`: which old certificates to remove, and removing them. The choice is pure
 * (rows from describeCertificates, which take the clock); removal goes through the store.
 *
 * Per user ID: the current certificate is always kept. Superseded, expired (and, once known,
 * revoked) ones are removed only when the user ID has a current certificate; a user ID with
 * no valid certificate keeps everything (the newest expired one may still be needed, e.g. to
 * read mail encrypted to it, and nothing would be left to log in with anyway).
 */
import type { CertificateRow } from "./listing.js";
import type { CertificateStore, StoredCertificate } from "./store.js";

export type PruneReason = "superseded" | "expired" | "revoked";

export interface PruneItem {
  readonly row: CertificateRow;
  readonly reason: PruneReason;
}

export interface PrunePlan {
  /** What will be removed, in list order. */
  readonly remove: readonly PruneItem[];
  /** The current certificate of each user ID considered (kept). */
  readonly current: readonly CertificateRow[];
  /** User IDs with no valid certificate: all their certificates are kept. */
  readonly keptWithoutCurrent: readonly { readonly userId: string; readonly rows: readonly CertificateRow[] }[];
}

/** The plan for the rows (all user IDs, or only `userId`). */
export function planPrune(rows: readonly CertificateRow[], opts: { readonly userId?: string } = {}): PrunePlan {
  const byUser = new Map<string, CertificateRow[]>();
  for (const r of rows) {
    if (opts.userId !== undefined && r.userId !== opts.userId) continue;
    const list = byUser.get(r.userId) ?? [];
    list.push(r);
    byUser.set(r.userId, list);
  }
  const remove: PruneItem[] = [];
  const current: CertificateRow[] = [];
  const keptWithoutCurrent: { userId: string; rows: CertificateRow[] }[] = [];
  for (const [userId, list] of byUser) {
    const cur = list.find((r) => r.current);
    if (!cur) {
      keptWithoutCurrent.push({ userId, rows: list });
      continue;
    }
    current.push(cur);
    for (const r of list) {
      if (r === cur || r.current) continue;
      if (r.status === "superseded" || r.status === "expired" || r.status === "revoked") remove.push({ row: r, reason: r.status });
    }
  }
  return { remove, current, keptWithoutCurrent };
}

/**
 * Removes what the plan lists, one certificate (with key and chain) at a time, each all or
 * nothing; `removed` is told after each. Stops at the first failure (those before stay removed).
 */
export async function executePrune(
  store: CertificateStore,
  stored: readonly StoredCertificate[],
  plan: PrunePlan,
  removed: (item: PruneItem) => void = () => undefined,
): Promise<void> {
  const byPath = new Map(stored.map((c) => [c.location.cert, c]));
  for (const item of plan.remove) {
    if (item.row.current) throw new Error("refusing to remove the current certificate"); // planPrune never asks this
    const c = byPath.get(item.row.certPath);
    if (!c) throw new Error(`${item.row.certPath} is not among the stored certificates`);
    await store.removeCertificate(c);
    removed(item);
  }
}
