/**
 * The configured user ID pattern in words, for /.well-known/shomei.json: the issuance
 * application refuses a user ID that cannot match before sending it, and people are shown
 * words, never a regular expression. Simple patterns only (a sequence of fixed characters and
 * character classes with counts, like the default ^a[0-9]{7}$); others get no words, and then
 * the application does not check locally.
 */

export interface UserIdFormat {
  readonly ja: string;
  readonly en: string;
}

interface Part {
  readonly ja: string;
  readonly en: string;
}

const CLASSES: Readonly<Record<string, Part>> = {
  "[0-9]": { ja: "数字", en: "digit" },
  "\\d": { ja: "数字", en: "digit" },
  "[a-z]": { ja: "英小文字", en: "lowercase letter" },
  "[A-Z]": { ja: "英大文字", en: "capital letter" },
  "[a-zA-Z]": { ja: "英字", en: "letter" },
  "[A-Za-z]": { ja: "英字", en: "letter" },
  "[a-zA-Z0-9]": { ja: "英数字", en: "letter or digit" },
  "[A-Za-z0-9]": { ja: "英数字", en: "letter or digit" },
  "[a-z0-9]": { ja: "英小文字または数字", en: "lowercase letter or digit" },
};

const TOKEN = /^(?:([A-Za-z0-9._@-])|(\[[^\]]+\]|\\d))(?:\{(\d+)(?:,(\d+))?\})?/;

/** Words for a simple pattern; undefined for anything else. */
export function describeUserIdPattern(pattern: string): UserIdFormat | undefined {
  if (!pattern.startsWith("^") || !pattern.endsWith("$")) return undefined;
  let rest = pattern.slice(1, -1);
  const ja: string[] = [];
  const en: string[] = [];
  while (rest !== "") {
    const m = TOKEN.exec(rest);
    if (!m) return undefined;
    rest = rest.slice(m[0].length);
    const min = m[3] === undefined ? 1 : Number(m[3]);
    const max = m[4] === undefined ? min : Number(m[4]);
    if (max < min || max > 64) return undefined;
    const count = (unit: string, plural: string): string => (min === max ? (min === 1 ? `1 ${unit}` : `${min} ${plural}`) : `${min} to ${max} ${plural}`);
    const countJa = min === max ? `${min} 文字` : `${min}〜${max} 文字`;
    if (m[1] !== undefined) {
      const lit = m[1];
      if (min !== 1 || max !== 1) return undefined;
      ja.push(`「${lit}」`);
      en.push(`"${lit}"`);
    } else {
      const cls = CLASSES[m[2]!];
      if (!cls) return undefined;
      ja.push(`${cls.ja} ${countJa}`);
      en.push(count(cls.en, `${cls.en}s`));
    }
  }
  if (en.length === 0) return undefined;
  return { ja: ja.join("の後に"), en: en.join(" followed by ") };
}
