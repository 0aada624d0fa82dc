/**
 * The fuzz suite's seeded randomness and mutators. Everything here is a pure function of the
 * seed, the case number and the sample, so a failing case is replayed by its seed and number
 * (or simply by the base64 input the failure prints).
 *
 * Mutations work on bytes (bit flips, truncation, insertion) and on a DER tree (length edits,
 * tag swaps, deletion and duplication of elements, deep nesting, huge lengths) and, for the
 * structures Node's crypto and asn1js are known to trip over, on meaning: EC points that are
 * empty, short, compressed or off the curve; strings of odd length; wrong versions.
 */

/** sfc32, seeded through splitmix32: small, fast, and the same on every platform. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    let s = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    const v = items[this.int(items.length)];
    if (v === undefined) throw new Error("pick from an empty list");
    return v;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** The generator for one case: independent of every other case, so one case replays alone. */
export function caseRng(seed: number, caseNo: number): Rng {
  return new Rng(seed, caseNo);
}

// ---- DER tree ------------------------------------------------------------------------------

/**
 * One element. `children` is set when the content parsed completely as DER elements (for a
 * constructed tag; for an OCTET STRING or a BIT STRING with 0 unused bits, the encapsulated
 * DER, as in extensions, SPKIs inside certificates and PKCS#12 bags). `lengthOverride`
 * replaces the length octets when encoding (to write a wrong length on purpose).
 */
export interface DerNode {
  tag: Buffer;
  content: Buffer;
  children?: DerNode[];
  /** For a BIT STRING holding DER: the unused-bits octet before the children. */
  wrapped?: "bitstring";
  lengthOverride?: Buffer;
  /** Encoded verbatim instead (deep nesting, built without recursion). */
  raw?: Buffer;
}

/** parseDer stops descending here (deeper content stays opaque bytes). */
export const DER_NODE_LIMIT_DEPTH = 64;

function readHeader(buf: Buffer, at: number): { tag: Buffer; start: number; end: number } | undefined {
  let p = at;
  const first = buf[p++];
  if (first === undefined) return undefined;
  if ((first & 0x1f) === 0x1f) {
    for (let i = 0; ; i++) {
      const b = buf[p++];
      if (b === undefined || i > 4) return undefined;
      if ((b & 0x80) === 0) break;
    }
  }
  const tag = buf.subarray(at, p);
  const l0 = buf[p++];
  if (l0 === undefined) return undefined;
  let len = l0;
  if (l0 & 0x80) {
    const n = l0 & 0x7f;
    if (n === 0 || n > 4) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) {
      const b = buf[p++];
      if (b === undefined) return undefined;
      len = len * 256 + b;
    }
  }
  const end = p + len;
  if (end > buf.length) return undefined;
  return { tag: Buffer.from(tag), start: p, end };
}

/** The DER elements that exactly fill `buf`, or undefined when it is not a list of elements. */
export function parseDer(buf: Buffer, depth = 0): DerNode[] | undefined {
  if (depth > DER_NODE_LIMIT_DEPTH) return undefined;
  const out: DerNode[] = [];
  for (let at = 0; at < buf.length;) {
    const h = readHeader(buf, at);
    if (!h) return undefined;
    const content = Buffer.from(buf.subarray(h.start, h.end));
    const node: DerNode = { tag: h.tag, content };
    const t = h.tag[0] ?? 0;
    if (t & 0x20) {
      const kids = parseDer(content, depth + 1);
      if (kids) node.children = kids;
    } else if (t === 0x04 && content.length >= 2 && (content[0] === 0x30 || content[0] === 0x04 || content[0] === 0x02)) {
      const kids = parseDer(content, depth + 1);
      if (kids) node.children = kids;
    } else if (t === 0x03 && content.length >= 3 && content[0] === 0 && content[1] === 0x30) {
      const kids = parseDer(content.subarray(1), depth + 1);
      if (kids) {
        node.children = kids;
        node.wrapped = "bitstring";
      }
    }
    out.push(node);
    at = h.end;
  }
  return out;
}

/** Length octets in minimal DER form. */
export function lengthOctets(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function encodeNode(n: DerNode): Buffer {
  if (n.raw) return n.raw;
  let content = n.content;
  if (n.children) {
    const inner = Buffer.concat(n.children.map(encodeNode));
    content = n.wrapped === "bitstring" ? Buffer.concat([Buffer.from([0]), inner]) : inner;
  }
  return Buffer.concat([n.tag, n.lengthOverride ?? lengthOctets(content.length), content]);
}

export function encodeNodes(nodes: readonly DerNode[]): Buffer {
  return Buffer.concat(nodes.map(encodeNode));
}

export function cloneNode(n: DerNode): DerNode {
  return {
    tag: Buffer.from(n.tag), content: Buffer.from(n.content),
    ...(n.children ? { children: n.children.map(cloneNode) } : {}),
    ...(n.wrapped ? { wrapped: n.wrapped } : {}),
    ...(n.lengthOverride ? { lengthOverride: Buffer.from(n.lengthOverride) } : {}),
    ...(n.raw ? { raw: n.raw } : {}),
  };
}

/** Every element of the tree with its parent list and index, depth first. */
export interface Located {
  readonly node: DerNode;
  readonly siblings: DerNode[];
  readonly index: number;
  readonly depth: number;
}

export function walk(nodes: DerNode[], depth = 0, out: Located[] = []): Located[] {
  nodes.forEach((node, index) => {
    out.push({ node, siblings: nodes, index, depth });
    if (node.children) walk(node.children, depth + 1, out);
  });
  return out;
}

export const oidBytes = (dotted: string): Buffer => {
  const parts = dotted.split(".").map(Number);
  const out: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const sub: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) sub.unshift(0x80 | (v & 0x7f));
    out.push(...sub);
  }
  return Buffer.from(out);
};

const OID_EC_PUBLIC_KEY = oidBytes("1.2.840.10045.2.1");
const OID_RSA = oidBytes("1.2.840.113549.1.1.1");

const isTag = (n: DerNode, t: number): boolean => n.tag.length === 1 && n.tag[0] === t;

/** SubjectPublicKeyInfo elements: SEQUENCE { SEQUENCE { OID, ... }, BIT STRING }. */
export function findSpkis(all: readonly Located[]): { spki: DerNode; algorithm: DerNode; key: DerNode; ec: boolean; rsa: boolean }[] {
  const out: { spki: DerNode; algorithm: DerNode; key: DerNode; ec: boolean; rsa: boolean }[] = [];
  for (const { node } of all) {
    const [algorithm, key] = node.children ?? [];
    const oid = algorithm?.children?.[0];
    if (!isTag(node, 0x30) || node.children?.length !== 2 || !algorithm || !key || !oid || !isTag(algorithm, 0x30) || !isTag(key, 0x03) || !isTag(oid, 0x06)) continue;
    out.push({ spki: node, algorithm, key, ec: oid.content.equals(OID_EC_PUBLIC_KEY), rsa: oid.content.equals(OID_RSA) });
  }
  return out;
}

/** `inner` wrapped in `depth` elements with tag `tag`, built outside in (no recursion). */
export function nest(inner: Buffer, tag: number, depth: number): Buffer {
  const lengths: number[] = [];
  let len = inner.length;
  for (let i = 0; i < depth; i++) {
    lengths.push(len);
    len += 1 + lengthOctets(len).length;
  }
  const parts: Buffer[] = [];
  for (let i = depth - 1; i >= 0; i--) parts.push(Buffer.from([tag]), lengthOctets(lengths[i] ?? 0));
  parts.push(inner);
  return Buffer.concat(parts);
}

// ---- mutators ------------------------------------------------------------------------------

/** A mutation: returns the new input, or undefined when it does not apply to this sample. */
export type Mutator = (input: Buffer, rng: Rng) => Buffer | undefined;

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xff, 0x30, 0x05];
const TAGS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1c, 0x1e, 0x30, 0x31, 0x80, 0xa0, 0xa1, 0xa3, 0x00, 0xff];

export const byteMutators: Record<string, Mutator> = {
  bitFlip(input, rng) {
    if (input.length === 0) return undefined;
    const out = Buffer.from(input);
    for (let i = 1 + rng.int(4); i > 0; i--) {
      const at = rng.int(out.length);
      out[at] = (out[at] ?? 0) ^ (1 << rng.int(8));
    }
    return out;
  },
  byteSet(input, rng) {
    if (input.length === 0) return undefined;
    const out = Buffer.from(input);
    out[rng.int(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING) : rng.int(256);
    return out;
  },
  truncate(input, rng) {
    return input.length === 0 ? undefined : input.subarray(0, rng.int(input.length));
  },
  append(input, rng) {
    return Buffer.concat([input, rng.chance(0.5) ? Buffer.alloc(1 + rng.int(8)) : rng.bytes(1 + rng.int(64))]);
  },
  insert(input, rng) {
    const at = rng.int(input.length + 1);
    return Buffer.concat([input.subarray(0, at), rng.bytes(1 + rng.int(8)), input.subarray(at)]);
  },
  remove(input, rng) {
    if (input.length < 2) return undefined;
    const at = rng.int(input.length);
    return Buffer.concat([input.subarray(0, at), input.subarray(at + 1 + rng.int(8))]);
  },
  empty() {
    return Buffer.alloc(0);
  },
  random(_input, rng) {
    return rng.bytes(rng.int(300));
  },
};

/** Applies `edit` to one element of the DER tree chosen by `choose`, then re-encodes (lengths fixed up). */
function treeEdit(input: Buffer, rng: Rng, edit: (l: Located, rng: Rng) => boolean, filter: (l: Located) => boolean = () => true): Buffer | undefined {
  const tree = parseDer(input);
  if (!tree) return undefined;
  const candidates = walk(tree).filter(filter);
  if (candidates.length === 0) return undefined;
  return edit(rng.pick(candidates), rng) ? encodeNodes(tree) : undefined;
}

const HUGE_LENGTHS = [
  Buffer.from([0x84, 0x7f, 0xff, 0xff, 0xff]), Buffer.from([0x84, 0xff, 0xff, 0xff, 0xff]),
  Buffer.from([0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0x80]), Buffer.from([0xff]),
  Buffer.from([0x83, 0x01, 0x00, 0x00]),
];

export const derMutators: Record<string, Mutator> = {
  lengthEdit: (input, rng) => treeEdit(input, rng, ({ node }) => {
    const real = node.children ? encodeNode({ ...node, lengthOverride: undefined }).length : node.content.length;
    const delta = rng.pick([-2, -1, 1, 2, 127]);
    const n = Math.max(0, real + delta);
    node.lengthOverride = rng.chance(0.3) ? Buffer.from([0x82, (n >> 8) & 0xff, n & 0xff]) : lengthOctets(n);
    return true;
  }),
  hugeLength: (input, rng) => treeEdit(input, rng, ({ node }) => {
    node.lengthOverride = rng.pick(HUGE_LENGTHS);
    return true;
  }),
  tagSwap: (input, rng) => treeEdit(input, rng, ({ node }) => {
    node.tag = rng.chance(0.1) ? Buffer.from([0x1f, 0x81, 0x80, 0x01]) : Buffer.from([rng.pick(TAGS)]);
    if (!((node.tag[0] ?? 0) & 0x20) && node.children && !node.wrapped) {
      node.content = encodeNodes(node.children);
      delete node.children;
    }
    return true;
  }),
  deleteNode: (input, rng) => treeEdit(input, rng, ({ siblings, index }) => {
    siblings.splice(index, 1);
    return true;
  }, (l) => l.depth > 0),
  duplicateNode: (input, rng) => treeEdit(input, rng, ({ node, siblings, index }) => {
    siblings.splice(index, 0, cloneNode(node));
    return true;
  }, (l) => l.depth > 0),
  swapSiblings: (input, rng) => treeEdit(input, rng, ({ siblings, index }) => {
    const other = rng.int(siblings.length);
    const a = siblings[index];
    const b = siblings[other];
    if (!a || !b || other === index) return false;
    siblings[index] = b;
    siblings[other] = a;
    return true;
  }, (l) => l.siblings.length > 1),
  emptyContent: (input, rng) => treeEdit(input, rng, ({ node }) => {
    delete node.children;
    node.content = Buffer.alloc(0);
    return true;
  }),
  randomContent: (input, rng) => treeEdit(input, rng, ({ node }) => {
    delete node.children;
    node.content = rng.bytes(rng.pick([1, 2, 3, 8, 33, 65, 200]));
    return true;
  }),
  /** Wraps an element in hundreds (or thousands) of SEQUENCEs or explicit tags. */
  deepNesting: (input, rng) => treeEdit(input, rng, ({ node, siblings, index }) => {
    siblings[index] = { tag: Buffer.alloc(0), content: Buffer.alloc(0), raw: nest(encodeNode(node), rng.pick([0x30, 0x31, 0xa0, 0x24]), rng.pick([100, 1000, 5000])) };
    return true;
  }),
  /** An INTEGER (version, serial, exponent, iterations) made huge, negative, empty or odd. */
  integerEdit: (input, rng) => treeEdit(input, rng, ({ node }) => {
    node.content = rng.pick([
      Buffer.alloc(0), Buffer.from([0xff]), Buffer.from([0x01]), Buffer.from([0x02]), Buffer.from([0x00, 0x00]),
      Buffer.concat([Buffer.from([0x7f]), Buffer.alloc(99, 0xff)]), Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from([0x7f, 0xff, 0xff, 0xff]), Buffer.from([0x03]),
    ]);
    return true;
  }, (l) => isTag(l.node, 0x02)),
  /** Strings in names: odd-length BMPString, UniversalString of a length not a multiple of 4, bad UTF-8. */
  stringEdit: (input, rng) => treeEdit(input, rng, ({ node }) => {
    const kind = rng.int(5);
    if (kind === 0) {
      node.tag = Buffer.from([0x1e]);
      node.content = Buffer.concat([node.content, Buffer.from([0x41])]).subarray(0, node.content.length | 1);
    } else if (kind === 1) {
      node.tag = Buffer.from([0x1c]);
      node.content = Buffer.concat([Buffer.alloc(3), node.content]).subarray(0, node.content.length % 4 === 0 ? node.content.length + 1 : node.content.length);
    } else if (kind === 2) {
      node.content = Buffer.concat([node.content, Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80, 0xff])]);
    } else if (kind === 3) {
      node.tag = Buffer.from([0x1e]);
      node.content = Buffer.from([0xd8, 0x00]);
    } else {
      node.content = Buffer.alloc(rng.pick([0, 70000]), 0x41);
    }
    return true;
  }, (l) => [0x0c, 0x13, 0x14, 0x16, 0x1e, 0x1c, 0x12].some((t) => isTag(l.node, t))),
  /** OIDs made empty, truncated mid-arc, or given a huge arc. */
  oidEdit: (input, rng) => treeEdit(input, rng, ({ node }) => {
    node.content = rng.pick([
      Buffer.alloc(0), Buffer.concat([node.content, Buffer.from([0x80])]), Buffer.concat([node.content, Buffer.alloc(20, 0xff), Buffer.from([0x01])]),
      Buffer.from([0x2a]), Buffer.from([0x80, 0x01]),
    ]);
    return true;
  }, (l) => isTag(l.node, 0x06)),
};

const P256_OID = oidBytes("1.2.840.10045.3.1.7");
const P384_OID = oidBytes("1.3.132.0.34");

/**
 * Public keys in SubjectPublicKeyInfos: EC points that are empty, short, compressed, hybrid,
 * the point at infinity or off the curve; curves swapped or unknown; RSA moduli tiny, even
 * or huge, exponents 1, 3 or huge; NULL parameters where none belong.
 */
export const keyMutators: Record<string, Mutator> = {
  ecPoint: (input, rng) => {
    const tree = parseDer(input);
    if (!tree) return undefined;
    const ecs = findSpkis(walk(tree)).filter((s) => s.ec);
    if (ecs.length === 0) return undefined;
    const { key } = rng.pick(ecs);
    const point = key.content.subarray(1);
    const size = point.length > 1 ? (point.length - 1) / 2 : 32;
    delete key.children;
    const coords = point.subarray(1);
    const x = coords.subarray(0, size);
    key.content = Buffer.concat([Buffer.from([0]), rng.pick([
      Buffer.alloc(0),
      Buffer.from([0x00]),
      Buffer.from([0x04]),
      point.subarray(0, 1 + rng.int(point.length)),
      Buffer.concat([Buffer.from([0x02]), x]),
      Buffer.concat([Buffer.from([0x03]), x]),
      Buffer.concat([Buffer.from([0x02]), Buffer.alloc(size, 0xff)]),
      Buffer.concat([Buffer.from([0x06]), coords]),
      Buffer.concat([Buffer.from([0x04]), x, Buffer.from(coords.subarray(size)).map((b, i) => (i === size - 1 ? b ^ 1 : b))]),
      Buffer.concat([Buffer.from([0x04]), Buffer.alloc(size * 2)]),
      Buffer.concat([Buffer.from([0x04]), Buffer.alloc(size * 2, 0xff)]),
      Buffer.concat([point, Buffer.from([0x00])]),
    ])]);
    if (rng.chance(0.1)) key.content[0] = 1 + rng.int(8);
    return encodeNodes(tree);
  },
  ecCurve: (input, rng) => {
    const tree = parseDer(input);
    if (!tree) return undefined;
    const ecs = findSpkis(walk(tree)).filter((s) => s.ec);
    if (ecs.length === 0) return undefined;
    const { algorithm } = rng.pick(ecs);
    const kids = algorithm.children ?? [];
    const choice = rng.int(4);
    if (choice === 0) kids.splice(1);
    else if (choice === 1) kids[1] = { tag: Buffer.from([0x05]), content: Buffer.alloc(0) };
    else kids[1] = { tag: Buffer.from([0x06]), content: rng.pick([P256_OID, P384_OID, oidBytes("1.3.132.0.10"), oidBytes("1.3.101.112"), Buffer.alloc(0)]) };
    return encodeNodes(tree);
  },
  rsaKey: (input, rng) => {
    const tree = parseDer(input);
    if (!tree) return undefined;
    const rsas = findSpkis(walk(tree)).filter((s) => s.rsa);
    if (rsas.length === 0) return undefined;
    const { key } = rng.pick(rsas);
    const [n, e] = key.children?.[0]?.children ?? [];
    if (!n || !e) return undefined;
    if (rng.chance(0.5)) {
      n.content = rng.pick([Buffer.alloc(0), Buffer.from([0x00]), Buffer.from([0x01]), Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 0xff)]),
        Buffer.concat([n.content.subarray(0, -1), Buffer.from([0x00])]), Buffer.concat([Buffer.from([0]), Buffer.alloc(2049, 0xff)]), Buffer.from([0xff, 0xff])]);
    } else {
      e.content = rng.pick([Buffer.from([0x01]), Buffer.from([0x03]), Buffer.from([0x00]), Buffer.from([0xff]), Buffer.alloc(0), Buffer.concat([Buffer.from([0x01]), Buffer.alloc(600)])]);
    }
    return encodeNodes(tree);
  },
};

/** All mutators by name (byte, DER and key classes). */
export const ALL_MUTATORS: Record<string, Mutator> = { ...byteMutators, ...derMutators, ...keyMutators };

/**
 * The input for one case: a sample mutated 1–3 times by mutators drawn from `names`
 * (each name weighted once), never the sample itself (a mutation that changed nothing, such
 * as a tag swapped for the same tag, is followed by another). Returns the input and the
 * mutators applied.
 */
export function mutate(sample: Buffer, rng: Rng, names: readonly string[], extra: Readonly<Record<string, Mutator>> = {}): { input: Buffer; applied: string[] } {
  let input = sample;
  const applied: string[] = [];
  let rounds = 1 + (rng.chance(0.3) ? rng.int(3) : 0);
  for (let tries = 0; applied.length < rounds && tries < 40; tries++) {
    const name = rng.pick(names);
    const m = extra[name] ?? ALL_MUTATORS[name];
    if (!m) throw new Error(`no mutator ${name}`);
    const out = m(input, rng);
    if (out === undefined) continue;
    input = out;
    applied.push(name);
    if (applied.length === rounds && input.equals(sample)) rounds++;
  }
  return { input, applied };
}
