/** Choosing the language: an explicit --lang, else the locale (LC_ALL, LC_MESSAGES, LANG), else Japanese. */
import type { Lang } from "./errors.js";

export function isLang(v: unknown): v is Lang {
  return v === "ja" || v === "en";
}

export function langFromEnv(env: NodeJS.ProcessEnv = process.env): Lang {
  const locale = env.LC_ALL || env.LC_MESSAGES || env.LANG || "";
  if (locale === "" || locale === "C" || locale === "POSIX" || locale.startsWith("C.")) return "ja";
  return locale.toLowerCase().startsWith("ja") ? "ja" : "en";
}

/** Language from an HTTP Accept-Language header; Japanese unless English is preferred. */
export function langFromAcceptLanguage(header: string | undefined): Lang {
  if (!header) return "ja";
  const first = header.split(",")[0]?.trim().toLowerCase() ?? "";
  return first.startsWith("en") ? "en" : "ja";
}
