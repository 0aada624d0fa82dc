/**
 * What the two wire paths share (status/ocsp_wire.ts for OCSP, est/wire.ts for EST): reading a
 * request head's header lines byte by byte, accepting only the plain form Node's HTTP parser reads
 * the same way, and the Date header as Node writes it. Each path decides itself which headers and
 * values it takes; anything this reader refuses goes to Node's parser unread.
 */

/** Requests with a longer head are left to Node (its limit is 16 KiB; OCSP and EST clients send a few hundred bytes). */
export const MAX_HEAD = 4096;
export const MAX_HEADER_LINES = 64;

/** RFC 9110 tchar: what a header name is made of. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** Whether d[start, end) is `name` (lowercase ASCII letters, digits, '-') in any case. */
export function nameIs(d: Buffer, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (((d[start + i] ?? 0) | 0x20) !== name.charCodeAt(i)) return false;
  return true;
}

/**
 * Whether the header named d[start, end) changes how Node frames or hands over the request
 * (Expect, Upgrade, Proxy-Connection, Transfer-Encoding): a wire path leaves such a request to Node.
 */
export function changesFraming(d: Buffer, start: number, end: number): boolean {
  switch (end - start) {
    case 6: return nameIs(d, start, end, "expect");
    case 7: return nameIs(d, start, end, "upgrade");
    case 16: return nameIs(d, start, end, "proxy-connection");
    case 17: return nameIs(d, start, end, "transfer-encoding");
    default: return false;
  }
}

/** One header line's name and value (positions in the buffer), or the empty line that ends the head. */
export interface HeaderLine {
  end: boolean;
  nameStart: number;
  nameEnd: number;
  valueStart: number;
  valueEnd: number;
}

export const headerLine = (): HeaderLine => ({ end: false, nameStart: 0, nameEnd: 0, valueStart: 0, valueEnd: 0 });

/**
 * Reads the line at d[p] (looking no further than `limit` for its name and value) into `at`:
 * `name:` of tchars, optional spaces or tabs, a value of visible ASCII, spaces and tabs, CRLF; or
 * the CRLF that ends the head (`at.end`). Returns where the next line begins, or -1 when the line
 * is anything else (a bare LF, a control or non-ASCII byte, no colon, cut off).
 */
export function readHeaderLine(d: Buffer, p: number, limit: number, at: HeaderLine): number {
  if (p + 1 >= limit) return -1;
  if (d[p] === 0x0d) {
    if (d[p + 1] !== 0x0a) return -1;
    at.end = true;
    return p + 2;
  }
  at.end = false;
  const nameStart = p;
  while (p < limit && TCHAR[d[p] ?? 0] === 1) p++;
  if (p === nameStart || p >= limit || d[p] !== 0x3a) return -1;
  at.nameStart = nameStart;
  at.nameEnd = p++;
  while (p < limit && (d[p] === 0x20 || d[p] === 0x09)) p++;
  at.valueStart = p;
  for (;;) {
    if (p >= limit) return -1;
    const c = d[p] ?? 0;
    if (c === 0x0d) break;
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) return -1;
    p++;
  }
  if (d[p + 1] !== 0x0a) return -1;
  at.valueEnd = p;
  return p + 2;
}

/** A Content-Length value of 1–5 decimal digits, or -1. */
export function contentLengthOf(d: Buffer, start: number, end: number): number {
  if (end - start < 1 || end - start > 5) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = d[i] ?? 0;
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

let dateCache = "";
let dateUntil = 0;
/** The Date header's value, as Node writes it (made again once a second). */
export function httpDate(): string {
  const now = Date.now();
  if (now >= dateUntil) {
    dateCache = new Date(now).toUTCString();
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateCache;
}

/** A request a wire path answered: what fastify's "request completed" line says of one. */
export interface WireAnswered {
  readonly method: "POST" | "GET";
  readonly url: string;
  readonly remoteAddress: string;
  readonly remotePort: number | undefined;
  readonly statusCode: number;
  /** From the request's bytes read to its answer written. */
  readonly responseTimeMs: number;
}

/** The part of fastify's logger the wire paths' log lines need. */
export interface WireLog {
  readonly level: string;
  info(fields: object, message: string): void;
}

/**
 * At level info or lower (serve --verbose) fastify logs each request it answers; this gives the
 * wire paths' `onAnswered`, which logs theirs the same way: one line where fastify writes two
 * ("incoming request" with req, "request completed" with res, joined by reqId). The address is
 * outside req: fastify's req serializer would take it from a request object's ip. At other
 * levels it gives undefined, so a wire path does no work for it.
 */
export function wireAnswerLog(log: WireLog): ((a: WireAnswered) => void) | undefined {
  if (!["info", "debug", "trace"].includes(log.level)) return undefined;
  return (a) => log.info({
    req: { method: a.method, url: a.url }, remoteAddress: a.remoteAddress, remotePort: a.remotePort, res: { statusCode: a.statusCode },
    responseTime: a.responseTimeMs, answeredOnTheWire: true,
  }, "request completed");
}
