/** The key kinds Shomei issues for and accepts: a module of its own, so reading the configuration loads no ASN.1 library. */
export const KEY_KINDS = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

export function isKeyKind(v: string): v is KeyKind {
  return (KEY_KINDS as readonly string[]).includes(v);
}
