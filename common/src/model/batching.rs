//! Many sequences through the model in padded batches.
//!
//! The notebooks loop over sentences one forward pass at a time, which on a CPU spends
//! most of its time in per-call overhead. [`HookedModel::run_sequences`] sorts the
//! sequences by length, packs neighbours into right-padded batches of bounded size (so
//! little compute goes to padding), and hands each sequence's results back in the input
//! order with the padding cut away — the same numbers as one-at-a-time runs.

use super::{HookedModel, LogitsAt, PaddingSide, RunOptions};
use crate::hooks::{layout_of, Names};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use tch::Tensor;

/// One sequence's results from [`HookedModel::run_sequences`].
pub struct SequenceOutput {
    /// Cached hook tensors without the batch dimension and cut to the sequence's own
    /// tokens: `[pos, ...]` (attention scores/patterns `[head, pos, pos]`).
    pub cache: BTreeMap<String, Tensor>,
    /// `[pos, vocab]` when logits were asked for.
    pub logits: Option<Tensor>,
}

impl HookedModel {
    /// Run every sequence, caching `names` (and computing all-position logits when
    /// `logits` is true), in length-sorted padded batches of at most `max_batch_tokens`
    /// padded tokens each. Results come back in input order, unpadded.
    pub fn run_sequences(
        &self,
        seqs: &[Vec<u32>],
        names: &Names,
        logits: bool,
        max_batch_tokens: usize,
    ) -> Result<Vec<SequenceOutput>> {
        if max_batch_tokens == 0 {
            bail!("max_batch_tokens must be at least 1");
        }
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| seqs[i].len());
        let mut out: Vec<Option<SequenceOutput>> = (0..seqs.len()).map(|_| None).collect();
        let pb = crate::progress::bar(seqs.len() as u64, "sequences");
        let mut start = 0;
        while start < order.len() {
            // Sorted ascending, so the last member sets the padded width.
            let mut end = start + 1;
            while end < order.len()
                && seqs[order[end]].len() * (end + 1 - start) <= max_batch_tokens
            {
                end += 1;
            }
            let members = &order[start..end];
            let batch_seqs: Vec<Vec<u32>> = members.iter().map(|&i| seqs[i].clone()).collect();
            let batch = self.batch_from_ids(&batch_seqs, PaddingSide::Right)?;
            let at = if logits {
                LogitsAt::All
            } else {
                LogitsAt::None
            };
            let run = self.run(
                &batch,
                &RunOptions::default().cache(names.clone()).logits(at),
            )?;
            for (b, &i) in members.iter().enumerate() {
                let len = seqs[i].len() as i64;
                let mut cache = BTreeMap::new();
                for name in run.cache.names() {
                    let t = run.cache.get(&name)?.get(b as i64);
                    let pos_dim = layout_of(&name).pos_dim - 1; // batch dim removed
                    let mut t = t.narrow(pos_dim, 0, len);
                    if name.ends_with("hook_pattern") || name.ends_with("hook_attn_scores") {
                        t = t.narrow(2, 0, len); // keys too
                    }
                    cache.insert(name, t);
                }
                let logits = run
                    .logits
                    .as_ref()
                    .map(|l| l.get(b as i64).narrow(0, 0, len));
                out[i] = Some(SequenceOutput { cache, logits });
            }
            pb.inc(members.len() as u64);
            start = end;
        }
        pb.finish_and_clear();
        Ok(out.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_sequences_equal_single_runs() {
        let p = crate::assets_dir().join("models/tiny-gpt2");
        let m = HookedModel::from_pretrained(p.to_str().unwrap(), tch::Device::Cpu).unwrap();
        let texts = [
            "One.",
            "A somewhat longer sentence here.",
            "Two words",
            "The longest sentence of all of these, by far.",
        ];
        let seqs: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| m.tokenizer.encode(t).unwrap())
            .collect();
        let names = Names::matching("blocks.*.hook_resid_post").and("blocks.1.attn.hook_pattern");
        // a small budget forces several batches
        let outs = m.run_sequences(&seqs, &names, true, 20).unwrap();
        assert_eq!(outs.len(), 4);
        for (s, o) in seqs.iter().zip(&outs) {
            let one = m
                .batch_from_ids(std::slice::from_ref(s), PaddingSide::Right)
                .unwrap();
            let (logits, cache) = m.run_with_cache(&one, names.clone()).unwrap();
            let d =
                f64::try_from((o.logits.as_ref().unwrap() - logits.get(0)).abs().max()).unwrap();
            assert!(d < 1e-5, "{d}");
            for n in cache.names() {
                let want = cache.get(&n).unwrap().get(0);
                assert_eq!(o.cache[&n].size(), want.size(), "{n}");
                assert!(
                    f64::try_from((&o.cache[&n] - want).abs().max()).unwrap() < 1e-5,
                    "{n}"
                );
            }
        }
        assert!(m.run_sequences(&seqs, &names, false, 0).is_err());
    }
}
