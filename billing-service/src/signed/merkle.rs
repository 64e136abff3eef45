//! RFC 6962 Merkle trees over SHA-256, the shape certificate-transparency
//! logs use: leaf = H(0x00 || data), node = H(0x01 || left || right), and a
//! size that is not a power of two splits at the largest power of two below
//! it. Built bottom-up (an unpaired last node moves up a level unchanged,
//! which gives the same tree), with the inclusion-path walk of RFC 9162
//! §2.1.3.2. A fold over `sha2`: it composes SHA-256, it adds no primitive.
use sha2::{Digest, Sha256};

/// A SHA-256 output.
pub(crate) type Hash = [u8; 32];

/// Largest tree a batch proof may claim.
pub(crate) const MAX_SIZE: u32 = 1024;

/// Hash of one leaf's data.
pub(crate) fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(data)
        .finalize()
        .into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// Length of the inclusion path of leaf `index` in a tree of `size` leaves,
/// or `None` when `index` is not a leaf of it.
pub(crate) fn path_len(index: u32, size: u32) -> Option<usize> {
    if index >= size {
        return None;
    }
    let (mut f, mut s, mut n) = (index, size - 1, 0);
    while s > 0 {
        // A sibling exists unless this is an unpaired last node.
        if f & 1 == 1 || f < s {
            n += 1;
        }
        f >>= 1;
        s >>= 1;
    }
    Some(n)
}

/// The root that `leaf` and its `path` lead to for `index` in `size`; `None`
/// unless `path` has exactly [`path_len`] hashes.
pub(crate) fn root_from_path(leaf: Hash, index: u32, size: u32, path: &[Hash]) -> Option<Hash> {
    if path_len(index, size)? != path.len() {
        return None;
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    let mut it = path.iter();
    while s > 0 {
        if f & 1 == 1 {
            r = node_hash(it.next()?, &r);
        } else if f < s {
            r = node_hash(&r, it.next()?);
        }
        f >>= 1;
        s >>= 1;
    }
    Some(r)
}

/// A tree built over leaf hashes, level by level (leaves first).
#[derive(Debug)]
pub(crate) struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// Builds the tree; `None` for no leaves.
    pub(crate) fn new(leaves: Vec<Hash>) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while let Some(last) = levels.last().filter(|l| l.len() > 1) {
            let next = last
                .chunks(2)
                .map(|c| match c {
                    [l, r] => node_hash(l, r),
                    [l] => *l,
                    _ => [0u8; 32], // chunks(2) yields one or two
                })
                .collect();
            levels.push(next);
        }
        Some(Tree { levels })
    }

    /// The root hash.
    pub(crate) fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// The inclusion path of leaf `index`, leaf side first.
    pub(crate) fn path(&self, index: usize) -> Vec<Hash> {
        let mut f = index;
        let mut out = Vec::with_capacity(self.levels.len());
        for level in &self.levels[..self.levels.len().saturating_sub(1)] {
            if let Some(h) = level.get(f ^ 1) {
                out.push(*h);
            }
            f >>= 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    type Result = std::result::Result<(), Box<dyn std::error::Error>>;

    fn tree(leaves: Vec<Hash>) -> std::result::Result<Tree, &'static str> {
        Tree::new(leaves).ok_or("empty tree")
    }

    /// RFC 6962 §2.1 as written: split at the largest power of two below n.
    fn mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            1 => leaf_hash(&d[0]),
            n => {
                let p = (n - 1).next_power_of_two();
                let k = if p >= n { p / 2 } else { p };
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    fn data(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
    }

    #[test]
    fn roots_match_rfc6962_reference_and_ct_vectors() -> Result {
        for n in 1..=70 {
            let d = data(n);
            let t = tree(d.iter().map(|x| leaf_hash(x)).collect())?;
            assert_eq!(t.root(), mth(&d), "size {n}");
        }
        // certificate-transparency's merkle_tree_test inputs and roots.
        let d: Vec<Vec<u8>> = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(hex::decode)
        .collect::<std::result::Result<_, _>>()?;
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (n, want) in roots.iter().enumerate() {
            let t = tree(d[..=n].iter().map(|x| leaf_hash(x)).collect())?;
            assert_eq!(hex::encode(t.root()), *want, "size {}", n + 1);
        }
        Ok(())
    }

    #[test]
    fn every_path_has_rfc_length_and_leads_to_the_root() -> Result {
        for n in 1..=70u32 {
            let leaves: Vec<Hash> = data(n as usize).iter().map(|x| leaf_hash(x)).collect();
            let t = tree(leaves.clone())?;
            for i in 0..n {
                let p = t.path(i as usize);
                assert_eq!(Some(p.len()), path_len(i, n));
                assert_eq!(root_from_path(leaves[i as usize], i, n, &p), Some(t.root()));
            }
        }
        assert_eq!(path_len(0, 1), Some(0));
        assert_eq!(path_len(1023, MAX_SIZE), Some(10));
        assert_eq!(path_len(3, 3), None);
        assert_eq!(path_len(0, 0), None);
        assert!(Tree::new(Vec::new()).is_none());
        Ok(())
    }

    #[test]
    fn path_of_wrong_length_is_refused() -> Result {
        let t = tree(data(5).iter().map(|x| leaf_hash(x)).collect())?;
        let mut p = t.path(1);
        p.push([0u8; 32]);
        assert_eq!(root_from_path(leaf_hash(b"leaf 1"), 1, 5, &p), None);
        p.truncate(1);
        assert_eq!(root_from_path(leaf_hash(b"leaf 1"), 1, 5, &p), None);
        Ok(())
    }

    proptest! {
        #[test]
        fn proofs_fit_only_their_own_index_and_size(n in 1u32..=300, i in 0u32..300, other in 0u32..300) {
            let i = i % n;
            let leaves: Vec<Hash> = (0..n).map(|k| leaf_hash(&k.to_be_bytes())).collect();
            let t = tree(leaves.clone()).map_err(TestCaseError::fail)?;
            let p = t.path(i as usize);
            prop_assert_eq!(root_from_path(leaves[i as usize], i, n, &p), Some(t.root()));
            let j = other % n;
            if j != i {
                prop_assert_ne!(root_from_path(leaves[i as usize], j, n, &p), Some(t.root()));
            }
        }
    }
}
