//! The op DAG: ops stored densely by arrival index, with parent/child links,
//! depths and ancestry queries (bitsets over indices).

use std::collections::{BTreeSet, HashMap};

use crate::roster::op::{OpHash, SignedOp};

/// A set of op indices.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    fn with_len(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)])
    }

    /// Whether `i` is in the set.
    pub(crate) fn has(&self, i: u32) -> bool {
        let i = i as usize;
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, i: u32) -> bool {
        let i = i as usize;
        match self.0.get_mut(i / 64) {
            Some(w) => {
                let was = *w & (1 << (i % 64)) != 0;
                *w |= 1 << (i % 64);
                !was
            }
            None => false,
        }
    }
}

/// Ops and their links. Index 0 is the create op.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dag {
    ops: Vec<SignedOp>,
    index: HashMap<OpHash, u32>,
    parents: Vec<Vec<u32>>,
    children: Vec<Vec<u32>>,
    /// Longest path from the create op (an ancestor is always shallower).
    depth: Vec<u32>,
    heads: BTreeSet<OpHash>,
}

impl Dag {
    /// Adds an op whose parents are all present; returns its index.
    pub(crate) fn insert(&mut self, op: SignedOp) -> u32 {
        let i = self.ops.len() as u32;
        let parents: Vec<u32> = op
            .op
            .parents
            .iter()
            .filter_map(|p| self.index.get(p).copied())
            .collect();
        let depth = parents
            .iter()
            .map(|p| self.depth[*p as usize] + 1)
            .max()
            .unwrap_or(0);
        for p in &parents {
            self.children[*p as usize].push(i);
        }
        for p in &op.op.parents {
            self.heads.remove(p);
        }
        self.heads.insert(op.hash());
        self.index.insert(op.hash(), i);
        self.parents.push(parents);
        self.children.push(Vec::new());
        self.depth.push(depth);
        self.ops.push(op);
        i
    }

    /// Number of ops.
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    /// The op at `i`.
    pub(crate) fn op(&self, i: u32) -> &SignedOp {
        &self.ops[i as usize]
    }

    /// The index of the op with hash `h`.
    pub(crate) fn index_of(&self, h: &OpHash) -> Option<u32> {
        self.index.get(h).copied()
    }

    pub(crate) fn parents(&self, i: u32) -> &[u32] {
        &self.parents[i as usize]
    }

    pub(crate) fn children(&self, i: u32) -> &[u32] {
        &self.children[i as usize]
    }

    pub(crate) fn depth(&self, i: u32) -> u32 {
        self.depth[i as usize]
    }

    /// Current heads, sorted by hash.
    pub(crate) fn heads(&self) -> &BTreeSet<OpHash> {
        &self.heads
    }

    /// `from` and all its ancestors.
    pub(crate) fn past(&self, from: &[u32]) -> Bits {
        self.walk(from, |d, i| d.parents(i))
    }

    /// `from` and all its descendants.
    pub(crate) fn future(&self, from: u32) -> Bits {
        self.walk(&[from], |d, i| d.children(i))
    }

    fn walk<'a>(&'a self, from: &[u32], next: impl Fn(&'a Self, u32) -> &'a [u32]) -> Bits {
        let mut seen = Bits::with_len(self.len());
        let mut stack: Vec<u32> = from.to_vec();
        while let Some(i) = stack.pop() {
            if seen.set(i) {
                stack.extend_from_slice(next(self, i));
            }
        }
        seen
    }
}
