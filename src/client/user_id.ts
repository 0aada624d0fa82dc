/** User IDs as the issuance application accepts them: safe as a folder name and in HTTP Basic. */
import { ShomeiError } from "../i18n/errors.js";

/** Letters, digits and . _ @ - ; starting with a letter or digit; at most 64 characters. */
export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Returns the user ID unchanged, or throws USER_ID_INVALID. */
export function checkUserId(userId: string): string {
  if (!USER_ID_PATTERN.test(userId)) throw new ShomeiError("USER_ID_INVALID", { userId, pattern: "[A-Za-z0-9][A-Za-z0-9._@-]{0,63}" });
  return userId;
}
