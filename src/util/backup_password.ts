/**
 * The rules for a backup (PKCS#12) password, shared by `shomei export` and the browser's
 * enrollment and renewal pages (bundled for the browser: no Node.js API here).
 */

/** Backup passwords: long enough to resist guessing offline, since the file may travel anywhere. */
export const BACKUP_PASSWORD_MIN = 12;

/** Says what is weak about a backup password, or undefined when it is acceptable. */
export function backupPasswordProblem(password: string, userId: string): string | undefined {
  const chars = [...password];
  if (chars.length < BACKUP_PASSWORD_MIN) return `shorter than ${BACKUP_PASSWORD_MIN} characters`;
  if (new Set(chars).size < 5) return "too few different characters";
  if (password.toLowerCase().includes(userId.toLowerCase())) return "contains the user ID";
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  if (classes < 2 && chars.length < 16) return "only one kind of character (add digits, capitals or symbols, or make it 16 characters or longer)";
  return undefined;
}
