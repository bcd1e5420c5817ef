//! The Merkle tree of RFC 9162 (Certificate Transparency 2.0, as Trillian and Rekor use it):
//! leaf hashes `SHA-256(0x00 ‖ leaf)`, node hashes `SHA-256(0x01 ‖ left ‖ right)`, the split at
//! the largest power of two below the size; inclusion proofs (an entry is in the tree) and
//! consistency proofs (a tree extends an earlier one: nothing was removed or altered), and their
//! verification, which a citizen or an auditor can run offline.

use sha2::{Digest as _, Sha256};

/// A node or root hash.
pub type Hash = [u8; 32];

/// The hash of a leaf's bytes.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(leaf);
    h.finalize().into()
}

/// The hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (n >= 2).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of the tree over `leaves` (leaf hashes), `SHA-256()` when empty.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` in the tree over `leaves`.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || index >= n {
        return Vec::new();
    }
    let k = split(n);
    let (mut path, sibling) = if index < k {
        (inclusion_proof(index, &leaves[..k]), root(&leaves[k..]))
    } else {
        (inclusion_proof(index - k, &leaves[k..]), root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// The tree over a set of leaves for many proofs: each subtree's root is computed once and kept,
/// so that proofs for a page of events cost one pass over the leaves, not one per event.
#[derive(Debug)]
pub struct Tree<'a> {
    leaves: &'a [Hash],
    roots: std::collections::HashMap<(usize, usize), Hash>,
}

impl<'a> Tree<'a> {
    pub fn new(leaves: &'a [Hash]) -> Self {
        Self {
            leaves,
            roots: std::collections::HashMap::new(),
        }
    }

    /// The root of the subtree of `len` leaves from `start`.
    fn root(&mut self, start: usize, len: usize) -> Hash {
        match len {
            0 => Sha256::digest([]).into(),
            1 => self.leaves[start],
            n => {
                if let Some(hash) = self.roots.get(&(start, n)) {
                    return *hash;
                }
                let k = split(n);
                let hash = node_hash(&self.root(start, k), &self.root(start + k, n - k));
                self.roots.insert((start, n), hash);
                hash
            }
        }
    }

    /// The inclusion proof of leaf `index`, the same as [`inclusion_proof`]'s.
    pub fn inclusion_proof(&mut self, index: usize) -> Vec<Hash> {
        let mut path = Vec::new();
        let (mut start, mut len, mut index) = (0, self.leaves.len(), index);
        if index >= len {
            return path;
        }
        while len > 1 {
            let k = split(len);
            if index < k {
                path.push(self.root(start + k, len - k));
                len = k;
            } else {
                path.push(self.root(start, k));
                (start, len, index) = (start + k, len - k, index - k);
            }
        }
        path.reverse();
        path
    }
}

/// Whether `proof` shows that `leaf` is leaf `index` of the tree of `size` leaves with `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// The consistency proof from the tree over the first `first` of `leaves` to the tree over all.
pub fn consistency_proof(first: usize, leaves: &[Hash]) -> Vec<Hash> {
    if first == 0 || first >= leaves.len() {
        return Vec::new();
    }
    subproof(first, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole {
            Vec::new()
        } else {
            vec![root(leaves)]
        };
    }
    let k = split(n);
    if m <= k {
        let mut proof = subproof(m, &leaves[..k], whole);
        proof.push(root(&leaves[k..]));
        proof
    } else {
        let mut proof = subproof(m - k, &leaves[k..], false);
        proof.push(root(&leaves[..k]));
        proof
    }
}

/// Whether `proof` shows that the tree of `second` leaves with root `second_root` extends the
/// tree of `first` leaves with root `first_root`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty();
    }
    let mut proof = proof.to_vec();
    if first.is_power_of_two() {
        proof.insert(0, *first_root);
    }
    let Some((seed, rest)) = proof.split_first() else {
        return false;
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *first_root && sr == *second_root
}

/// The right edge of a tree: the roots of its perfect subtrees, largest first (one per set bit of
/// its size). Enough to append leaves and to compute the root without the leaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    roots: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the tree over `leaves`.
    pub fn of(leaves: &[Hash]) -> Self {
        let mut frontier = Self::default();
        for leaf in leaves {
            frontier.push(*leaf);
        }
        frontier
    }

    /// The frontier stored as `bytes` (the roots, 32 bytes each) for a tree of `size` leaves, if
    /// they agree.
    pub fn from_parts(size: u64, bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(32) || bytes.len() / 32 != size.count_ones() as usize {
            return None;
        }
        let roots = bytes
            .chunks(32)
            .map(|c| Hash::try_from(c).expect("32 bytes"))
            .collect();
        Some(Self { size, roots })
    }

    /// The roots, concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.roots.concat()
    }

    /// The tree's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.roots.pop().expect("a root per set bit");
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.roots.push(hash);
        self.size += 1;
    }

    /// The tree's root, as [`root`] computes it from the leaves.
    pub fn root(&self) -> Hash {
        let mut roots = self.roots.iter().rev();
        match roots.next() {
            None => Sha256::digest([]).into(),
            Some(last) => roots.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_frontier_gives_the_root_of_every_size_without_the_leaves() {
        let leaves: Vec<Hash> = (0u32..130).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), root(&[]));
        for n in 1..=leaves.len() {
            frontier.push(leaves[n - 1]);
            assert_eq!(frontier.root(), root(&leaves[..n]), "size {n}");
            let stored = Frontier::from_parts(n as u64, &frontier.to_bytes()).expect("round trip");
            assert_eq!(stored, frontier);
        }
        assert_eq!(Frontier::of(&leaves[..77]).root(), root(&leaves[..77]));
        assert!(
            Frontier::from_parts(3, &[0; 32]).is_none(),
            "3 leaves make two subtrees"
        );
    }

    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The leaves of the RFC 6962 reference tests (certificate-transparency, Trillian).
    fn reference_leaves() -> Vec<Hash> {
        let raw: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        raw.iter().map(|l| leaf_hash(l)).collect()
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        assert_eq!(
            hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let leaves = reference_leaves();
        assert_eq!(
            hex(&root(&leaves[..1])),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            hex(&root(&leaves)),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn a_kept_tree_gives_every_inclusion_proof_the_plain_function_gives() {
        for n in 0..=70 {
            let all = leaves(n);
            let mut tree = Tree::new(&all);
            for i in 0..=n {
                assert_eq!(
                    tree.inclusion_proof(i),
                    inclusion_proof(i, &all),
                    "leaf {i} of {n}"
                );
            }
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_fails_once_altered() {
        for n in 1..=40 {
            let all = leaves(n);
            let r = root(&all);
            for i in 0..n {
                let proof = inclusion_proof(i, &all);
                assert!(
                    verify_inclusion(i as u64, n as u64, &all[i], &proof, &r),
                    "{i} of {n}"
                );
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(i as u64, n as u64, &all[i], &bad, &r));
                }
                let other = leaf_hash(b"not in the tree");
                assert!(!verify_inclusion(i as u64, n as u64, &other, &proof, &r));
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_rewritten_history_fails() {
        for n in 1..=40 {
            let all = leaves(n);
            let second = root(&all);
            for m in 1..=n {
                let first = root(&all[..m]);
                let proof = consistency_proof(m, &all);
                assert!(
                    verify_consistency(m as u64, n as u64, &first, &second, &proof),
                    "{m} -> {n}"
                );
                if m < n {
                    // A history where leaf 0 was altered after the first checkpoint.
                    let mut forged = all.clone();
                    forged[0] = leaf_hash(b"altered");
                    let forged_root = root(&forged);
                    let forged_proof = consistency_proof(m, &forged);
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &first,
                        &forged_root,
                        &forged_proof
                    ));
                    // The tail removed: the shorter tree does not extend the longer one.
                    assert!(!verify_consistency(
                        n as u64, m as u64, &second, &first, &proof
                    ));
                }
            }
        }
    }
}
