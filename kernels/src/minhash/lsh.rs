//! LSH banding and clustering on the host: band keys of a signature, batch
//! clustering of a whole collection (union-find, like datatrove), and a
//! streaming index that answers "is this a near-duplicate of something seen?"
//! in input order.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64;

use super::{MinHashParams, Signatures};

/// One 64-bit key per band of a signature (the band index is mixed in, so equal
/// keys mean the same band is equal).
pub fn band_keys(signature: &[u64], params: &MinHashParams) -> Vec<u64> {
    let mut bytes = Vec::with_capacity(8 * (params.rows + 1));
    signature
        .chunks(params.rows.max(1))
        .take(params.bands)
        .enumerate()
        .map(|(band, rows)| {
            bytes.clear();
            bytes.extend_from_slice(&(band as u64).to_le_bytes());
            for r in rows {
                bytes.extend_from_slice(&r.to_le_bytes());
            }
            xxh3_64(&bytes)
        })
        .collect()
}

/// Clusters of near-duplicates: union-find over texts sharing any band.
/// Returns, per text, the index of its cluster's first (lowest-index) member.
pub fn clusters(signatures: &Signatures, params: &MinHashParams) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..signatures.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut first_with_key: HashMap<u64, usize> = HashMap::new();
    for (doc, sig) in signatures.iter().enumerate() {
        for key in band_keys(sig, params) {
            match first_with_key.get(&key) {
                Some(&other) => {
                    let (ra, rb) = (find(&mut parent, doc), find(&mut parent, other));
                    // The lower index becomes the root, so roots are first members.
                    let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
                    parent[hi] = lo;
                }
                None => {
                    first_with_key.insert(key, doc);
                }
            }
        }
    }
    (0..signatures.len()).map(|d| find(&mut parent, d)).collect()
}

/// Streaming near-duplicate index: texts arrive in input order; the first of
/// a cluster is kept, and every later text sharing a band with the cluster is
/// a duplicate *of that first text*. Keys of duplicates join the cluster too,
/// so chains (a ≈ b ≈ c) stay one cluster. Unlike [`clusters`], a text that
/// bridges two clusters that were both already kept cannot un-keep the later
/// one: it joins the earlier.
#[derive(Debug, Default)]
pub struct StreamingIndex {
    /// band key → index (into `firsts`) of the cluster holding it.
    owner: HashMap<u64, u32>,
    /// The kept first member of each cluster, and its size.
    firsts: Vec<(Box<str>, u64)>,
    /// First member's id → cluster, filled while restoring.
    restored: HashMap<Box<str>, u32>,
}

/// What [`StreamingIndex::offer`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// A new cluster: keep the text.
    First,
    /// A near-duplicate of the cluster's first text, which now has `size` members.
    DuplicateOf {
        /// The id of the cluster's first (kept) text.
        first: Box<str>,
        /// Members of the cluster, this text included.
        size: u64,
    },
}

impl StreamingIndex {
    /// Offers a text's band keys; registers them and says whether to keep it.
    /// Returns also the keys that were new (the state to persist).
    pub fn offer(&mut self, id: &str, keys: &[u64]) -> (Offer, Vec<u64>) {
        let cluster = keys.iter().filter_map(|k| self.owner.get(k)).copied().min();
        let cluster = match cluster {
            Some(c) => c,
            None => {
                self.firsts.push((id.into(), 0));
                (self.firsts.len() - 1) as u32
            }
        };
        let mut new_keys = Vec::new();
        for &k in keys {
            self.owner.entry(k).or_insert_with(|| {
                new_keys.push(k);
                cluster
            });
        }
        let entry = &mut self.firsts[cluster as usize];
        entry.1 += 1;
        let offer =
            if entry.1 == 1 { Offer::First } else { Offer::DuplicateOf { first: entry.0.clone(), size: entry.1 } };
        (offer, new_keys)
    }

    /// Restores one persisted decision: `first` is the id of the cluster's first
    /// text, `keys` the keys the text added.
    pub fn restore(&mut self, first: &str, keys: &[u64]) {
        let next = self.firsts.len() as u32;
        let cluster = *self.restored.entry(first.into()).or_insert(next);
        if cluster == next {
            self.firsts.push((first.into(), 0));
        }
        self.firsts[cluster as usize].1 += 1;
        for &k in keys {
            self.owner.entry(k).or_insert(cluster);
        }
    }

    /// Sizes of the clusters with more than one member.
    pub fn duplicate_cluster_sizes(&self) -> impl Iterator<Item = u64> + '_ {
        self.firsts.iter().map(|(_, n)| *n).filter(|&n| n > 1)
    }

    /// Number of clusters (kept texts).
    pub fn clusters(&self) -> usize {
        self.firsts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MinHashParams, coefficients, cpu};
    use super::*;

    fn texts() -> Vec<String> {
        let base: String = (0..200).map(|i| format!("word{i} ")).collect();
        let near = base.replacen("word100", "changed", 1);
        let other: String = (0..200).map(|i| format!("other{i} ")).collect();
        let near2 = near.replacen("word150", "changed", 1);
        vec![base, other, near, near2]
    }

    #[test]
    fn near_duplicates_cluster_and_distinct_texts_do_not() {
        let p = MinHashParams::default();
        let sigs = cpu::signatures(&texts(), &p, &coefficients(&p));
        assert_eq!(clusters(&sigs, &p), vec![0, 1, 0, 0]);
    }

    #[test]
    fn the_streaming_index_keeps_firsts_and_survives_a_restore() {
        let p = MinHashParams::default();
        let sigs = cpu::signatures(&texts(), &p, &coefficients(&p));
        let ids = ["a", "b", "c", "d"];
        let mut index = StreamingIndex::default();
        let mut saved = Vec::new();
        let mut offers = Vec::new();
        for (i, id) in ids.iter().enumerate().take(3) {
            let (offer, new) = index.offer(id, &band_keys(sigs.get(i), &p));
            let first = match &offer {
                Offer::First => id.to_string(),
                Offer::DuplicateOf { first, .. } => first.to_string(),
            };
            saved.push((first, new));
            offers.push(offer);
        }
        assert_eq!(offers, vec![Offer::First, Offer::First, Offer::DuplicateOf { first: "a".into(), size: 2 }]);
        let mut restored = StreamingIndex::default();
        for (first, keys) in &saved {
            restored.restore(first, keys);
        }
        let last = band_keys(sigs.get(3), &p);
        assert_eq!(index.offer("d", &last).0, Offer::DuplicateOf { first: "a".into(), size: 3 });
        assert_eq!(restored.offer("d", &last).0, Offer::DuplicateOf { first: "a".into(), size: 3 });
        assert_eq!(restored.duplicate_cluster_sizes().collect::<Vec<_>>(), vec![3]);
        assert_eq!(restored.clusters(), 2);
    }
}
