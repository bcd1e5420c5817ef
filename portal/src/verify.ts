// Verifies a citizen's access log in the browser, with WebCrypto only: the checkpoint's Ed25519
// signature (C2SP signed note), each event's inclusion in the checkpoint's Merkle tree (RFC 9162:
// leaf SHA-256(0x00 ‖ leaf), node SHA-256(0x01 ‖ left ‖ right)), the root over a whole log (for
// an auditor holding every event), and the consistency proof from the checkpoint this browser
// kept last time (the log only grew: nothing removed or altered).

const ED25519 = 0x01;

type Hash = Uint8Array;

async function sha256(...parts: Uint8Array[]): Promise<Hash> {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}

const text = new TextEncoder();

function fromBase64(b64: string): Uint8Array {
  const raw = atob(b64);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export const leafHash = (leaf: string) => sha256(new Uint8Array([0x00]), text.encode(leaf));
const nodeHash = (left: Hash, right: Hash) => sha256(new Uint8Array([0x01]), left, right);

async function keyId(name: string, key: Uint8Array): Promise<Uint8Array> {
  return (await sha256(text.encode(`${name}\n`), new Uint8Array([ED25519]), key)).slice(0, 4);
}

export interface Checkpoint {
  origin: string;
  size: number;
  root: Hash;
}

/** The checkpoint of `note` if the key `verifierKey` (`name+keyid+base64(0x01 ‖ key)`) signed it. */
export async function verifyCheckpoint(note: string, verifierKey: string): Promise<Checkpoint> {
  const [name, id, blob64] = splitKey(verifierKey);
  const blob = fromBase64(blob64);
  if (blob.length !== 33 || blob[0] !== ED25519) throw new Error("the verifier key is not an Ed25519 key");
  const key = blob.slice(1);
  const expectedId = await keyId(name, key);
  if (hex(expectedId) !== id) throw new Error("the verifier key's id does not match its key");
  const split = note.indexOf("\n\n");
  if (split < 0) throw new Error("the checkpoint has no signatures");
  const body = note.slice(0, split + 1);
  const publicKey = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
  let signed = false;
  for (const line of note.slice(split + 2).split("\n")) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const sig = fromBase64(match[2]);
    if (sig.length !== 68 || !equal(sig.slice(0, 4), expectedId)) continue;
    if (await crypto.subtle.verify({ name: "Ed25519" }, publicKey, sig.slice(4), text.encode(body))) signed = true;
  }
  if (!signed) throw new Error(`no valid signature by ${name}`);
  const [origin, size, root] = body.split("\n");
  const parsed = { origin, size: Number(size), root: fromBase64(root ?? "") };
  if (!Number.isSafeInteger(parsed.size) || parsed.root.length !== 32) throw new Error("the checkpoint body is malformed");
  return parsed;
}

function splitKey(key: string): [string, string, string] {
  const first = key.indexOf("+");
  const second = key.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new Error("a verifier key is name+keyid+base64");
  return [key.slice(0, first), key.slice(first + 1, second), key.slice(second + 1)];
}

/** Whether `proof` shows that `leaf` is leaf `index` of the tree of `size` leaves with `root`. */
export async function verifyInclusion(index: number, size: number, leaf: Hash, proof: Hash[], root: Hash): Promise<boolean> {
  if (index >= size) return false;
  let [f, s, r] = [index, size - 1, leaf];
  for (const p of proof) {
    if (s === 0) return false;
    if (f % 2 === 1 || f === s) {
      r = await nodeHash(p, r);
      while (f % 2 === 0 && f !== 0) {
        f = Math.floor(f / 2);
        s = Math.floor(s / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    f = Math.floor(f / 2);
    s = Math.floor(s / 2);
  }
  return s === 0 && equal(r, root);
}

/** The root of the tree over `leaves` (leaf hashes). */
export async function rootOf(leaves: Hash[]): Promise<Hash> {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(await rootOf(leaves.slice(0, k)), await rootOf(leaves.slice(k)));
}

/** Whether `proof` shows that the tree of `second` leaves extends the one of `first` leaves. */
export async function verifyConsistency(first: number, second: number, firstRoot: Hash, secondRoot: Hash, proof: Hash[]): Promise<boolean> {
  if (first > second) return false;
  if (first === second) return proof.length === 0 && equal(firstRoot, secondRoot);
  if (first === 0) return proof.length === 0;
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : [...proof];
  if (path.length === 0) return false;
  let [f, s] = [first - 1, second - 1];
  while (f % 2 === 1) {
    f = Math.floor(f / 2);
    s = Math.floor(s / 2);
  }
  let [fr, sr] = [path[0], path[0]];
  for (const c of path.slice(1)) {
    if (s === 0) return false;
    if (f % 2 === 1 || f === s) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (f % 2 === 0 && f !== 0) {
        f = Math.floor(f / 2);
        s = Math.floor(s / 2);
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    f = Math.floor(f / 2);
    s = Math.floor(s / 2);
  }
  return s === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
}

export function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}
export { fromBase64 };
