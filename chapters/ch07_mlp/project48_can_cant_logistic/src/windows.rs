//! The book's extraction loop: 11-token windows ending in " can", sorted by what follows
//! (a normal word: **can**; "'t": **can't**), their on-disk cache, and the balancing.

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Tokens of context before " can" (the book's context_pre).
pub const CONTEXT_PRE: usize = 10;
/// The id of " can" (cantok).
pub const CAN: u32 = 460;
/// The id of "'t" (attok).
pub const APOS_T: u32 = 470;
/// Followers that make " can" a noun or a negation by other means: " of", " with",
/// " from", " in", " on", " for", " not".
pub const EXCLUDED: [u32; 7] = [286, 351, 422, 287, 319, 329, 407];

/// The two window lists of the extraction loop, unbalanced, in corpus order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Windows {
    /// Windows where " can" is followed by a space-initial word (not excluded).
    pub can: Vec<Vec<u32>>,
    /// Windows where " can" is followed by "'t".
    pub cant: Vec<Vec<u32>>,
    /// Documents read (the last one included).
    pub docs: usize,
    /// Tokens of those documents.
    pub tokens: usize,
    /// Where the documents came from.
    pub source: String,
}

impl Windows {
    /// The extraction step for one document's token ids: for every position `ti` in
    /// `CONTEXT_PRE..len-1` holding " can", the window `tokens[ti-10..=ti]` goes to
    /// **can** when the next token decodes to text starting with a space and is not
    /// excluded, to **can't** when the next token is "'t". Returns how many can't windows
    /// this document added.
    pub fn add_document(
        &mut self,
        tokens: &[u32],
        starts_with_space: impl Fn(u32) -> bool,
    ) -> usize {
        let before = self.cant.len();
        self.docs += 1;
        self.tokens += tokens.len();
        if tokens.len() < CONTEXT_PRE + 2 {
            return 0;
        }
        for ti in CONTEXT_PRE..tokens.len() - 1 {
            if tokens[ti] != CAN {
                continue;
            }
            let next = tokens[ti + 1];
            let window = || tokens[ti - CONTEXT_PRE..=ti].to_vec();
            if starts_with_space(next) && !EXCLUDED.contains(&next) {
                self.can.push(window());
            }
            if next == APOS_T {
                self.cant.push(window());
            }
        }
        self.cant.len() - before
    }

    /// Read a cache file written by [`Windows::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let w: Windows = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a window cache of this project (delete it or pass \
                 --refresh-windows)",
                path.display()
            )
        })?;
        for (name, list) in [("can", &w.can), ("can't", &w.cant)] {
            if let Some(bad) = list
                .iter()
                .find(|v| v.len() != CONTEXT_PRE + 1 || v[CONTEXT_PRE] != CAN)
            {
                bail!(
                    "{}: a {name} window {bad:?} is not 11 tokens ending in {CAN}; delete the \
                     file or pass --refresh-windows",
                    path.display()
                );
            }
        }
        Ok(w)
    }

    /// Write the windows atomically (a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path
            .parent()
            .with_context(|| format!("{} has no parent folder", path.display()))?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        serde_json::to_writer(std::io::BufWriter::new(tmp.as_file()), self)?;
        tmp.persist(path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// The balanced batches: `min_n` can windows chosen at random (the first `min_n` of a
/// random permutation) and the can't windows shuffled (the first `min_n` of a random
/// permutation, i.e. all of them when there are no more than can windows).
pub struct Balanced {
    pub can: Vec<Vec<u32>>,
    pub cant: Vec<Vec<u32>>,
}

pub fn balance<R: Rng + ?Sized>(w: &Windows, rng: &mut R) -> Result<Balanced> {
    let min_n = w.can.len().min(w.cant.len());
    if min_n < 2 {
        bail!(
            "{} can and {} can't windows: too few for the analysis (raise --max-docs or \
             lower --min-samples)",
            w.can.len(),
            w.cant.len()
        );
    }
    let pick = |list: &[Vec<u32>], rng: &mut R| -> Vec<Vec<u32>> {
        let mut perm: Vec<usize> = (0..list.len()).collect();
        perm.shuffle(rng);
        perm[..min_n].iter().map(|&i| list[i].clone()).collect()
    };
    let can = pick(&w.can, rng);
    let cant = pick(&w.cant, rng);
    Ok(Balanced { can, cant })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offline check 1 on a synthetic token list. Ids: 460 " can", 470 "'t", 466 " do"
    /// (space-initial), 286 " of", 407 " not", 13 "." (not space-initial), 1..10 filler.
    #[test]
    fn extraction_on_synthetic_tokens() {
        let space = |id: u32| id != 13 && id != APOS_T;
        let filler: Vec<u32> = (1..=10).collect();
        // a " can" inside the first ten tokens is skipped, even before "'t"
        let mut doc = vec![1, 2, CAN, APOS_T, 5];
        doc.extend(&filler); // positions 5..14
        let cant_at = doc.len();
        doc.extend([CAN, APOS_T]); // X can't
        doc.extend(&filler);
        let can_at = doc.len();
        doc.extend([CAN, 466]); // X can do
        doc.extend(&filler);
        doc.extend([CAN, 286, 3, CAN, 407, 4, CAN, 13]); // can of / can not / can.
        doc.push(CAN); // a final " can" with no next token
        let mut w = Windows::default();
        assert_eq!(w.add_document(&doc, space), 1);
        assert_eq!(w.cant, vec![doc[cant_at - 10..=cant_at].to_vec()]);
        assert_eq!(w.can, vec![doc[can_at - 10..=can_at].to_vec()]);
        for v in w.can.iter().chain(&w.cant) {
            assert_eq!(v.len(), 11);
            assert_eq!(v[10], CAN);
        }
        assert_eq!((w.docs, w.tokens), (1, doc.len()));
        // a document shorter than 12 tokens adds nothing
        assert_eq!(w.add_document(&[CAN, APOS_T], space), 0);
        assert_eq!(w.docs, 2);
    }

    #[test]
    fn balancing_keeps_every_cant_window() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let w = Windows {
            can: (0..20).map(|i| vec![i; 11]).collect(),
            cant: (100..107).map(|i| vec![i; 11]).collect(),
            ..Default::default()
        };
        let b = balance(&w, &mut rng).unwrap();
        assert_eq!((b.can.len(), b.cant.len()), (7, 7));
        let mut cant = b.cant.clone();
        cant.sort();
        assert_eq!(cant, w.cant);
        let mut can = b.can.clone();
        can.sort();
        can.dedup();
        assert_eq!(can.len(), 7);
    }

    #[test]
    fn cache_round_trip_and_bad_cache() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("w.json");
        let mut win = vec![1; 10];
        win.push(CAN);
        let w = Windows {
            can: vec![win.clone()],
            cant: vec![win],
            docs: 3,
            tokens: 99,
            source: "test".into(),
        };
        w.save(&p).unwrap();
        assert_eq!(Windows::load(&p).unwrap(), w);
        std::fs::write(
            &p,
            r#"{"can":[[1,2]],"cant":[],"docs":1,"tokens":2,"source":""}"#,
        )
        .unwrap();
        assert!(Windows::load(&p).is_err());
    }
}
