//! Runs the project in --quick mode (tiny random GPT-2, the project's own passage,
//! offline) and checks the spec's offline checks on what it wrote. The expected values
//! come from the spec (mask counts, GPT-2 ids) or are recomputed here: the tiny model is
//! run again through common's API on sequences this test builds itself, and cosines,
//! variances, t-values and histograms are computed in plain f64 loops.
#![allow(clippy::needless_range_loop)]

use common::cli::tiny_gpt2;
use common::testing::{read_csv, run_project, ProjectRun};
use common::{HookedModel, Names, PaddingSide, RunOptions};
use tch::{Kind, Tensor};

const WORDS: [&str; 34] = [
    "galaxy", "asteroid", "comet", "cosmos", "space", "sun", "planet", "moon", "star", "orbit",
    "ceiling", "sofa", "couch", "carpet", "door", "window", "lamp", "chair", "table", "rug", "bed",
    "floor", "wall", "pear", "grape", "banana", "cherry", "peach", "apple", "seed", "jelly",
    "orange", "lime", "fruit",
];
/// The spec's GPT-2 ids of " years", " garage", " lawn".
const TARGET_IDS: [u32; 3] = [812, 15591, 21133];
const PASSAGE: &str = include_str!("../src/quick_text.txt");
const CONTEXT: usize = 50;

fn labels34() -> Vec<u32> {
    (0..34)
        .map(|i| {
            if i < 10 {
                1
            } else if i < 23 {
                2
            } else {
                3
            }
        })
        .collect()
}

/// All hidden states `[batch, pos, d]` (f64) of the tiny 3-block GPT-2, by hook name:
/// the embeddings, the outputs of blocks 0 and 1, and ln_f of block 2's output.
fn hidden_states(model: &HookedModel, seqs: &[Vec<u32>]) -> Vec<Tensor> {
    let names = [
        "blocks.0.hook_resid_pre",
        "blocks.0.hook_resid_post",
        "blocks.1.hook_resid_post",
        "ln_final.hook_normalized",
    ];
    let batch = model.batch_from_ids(seqs, PaddingSide::Right).unwrap();
    let run = model
        .run(&batch, &RunOptions::default().cache(Names::list(&names)))
        .unwrap();
    names
        .iter()
        .map(|n| run.cache.get(n).unwrap().to_kind(Kind::Double))
        .collect()
}

/// Rows `[n, d]` of a tensor as f64 vectors.
fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    let (n, d) = (t.size()[0], t.size()[1]);
    let flat = Vec::<f64>::try_from(t.contiguous().view([-1])).unwrap();
    (0..n as usize)
        .map(|i| flat[i * d as usize..(i + 1) * d as usize].to_vec())
        .collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Pairs i < j whose label product is in `codes`, in code order then row-major.
fn pairs(labels: &[u32], codes: &[u32]) -> Vec<(usize, usize)> {
    let n = labels.len();
    let mut out = vec![];
    for &c in codes {
        for i in 0..n {
            for j in i + 1..n {
                if labels[i] * labels[j] == c {
                    out.push((i, j));
                }
            }
        }
    }
    out
}

/// Student's pooled-variance t, written out.
fn pooled_t(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let m1 = a.iter().sum::<f64>() / n1;
    let m2 = b.iter().sum::<f64>() / n2;
    let v1 = a.iter().map(|x| (x - m1).powi(2)).sum::<f64>() / (n1 - 1.0);
    let v2 = b.iter().map(|x| (x - m2).powi(2)).sum::<f64>() / (n2 - 1.0);
    let sp = (((n1 - 1.0) * v1 + (n2 - 1.0) * v2) / (n1 + n2 - 2.0)).sqrt();
    (m1 - m2) / (sp * (1.0 / n1 + 1.0 / n2).sqrt())
}

fn table(run: &ProjectRun, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&run.file(name)).unwrap()
}

/// A mask table (row, col, mask) as a matrix.
fn mask_matrix(run: &ProjectRun, name: &str, n: usize) -> Vec<Vec<u32>> {
    let (_, r) = table(run, name);
    assert_eq!(r.len(), n * n, "{name}");
    let mut m = vec![vec![u32::MAX; n]; n];
    for row in r {
        let (i, j): (usize, usize) = (row[0].parse().unwrap(), row[1].parse().unwrap());
        m[i][j] = row[2].parse().unwrap();
    }
    m
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project25_category_selectivity"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in [
        "part1", "part2a", "part2b", "part3", "part5a", "part5b", "part6",
    ] {
        run.check_figure(&format!("ch5_proj25_{f}")).unwrap();
    }
    let model = HookedModel::from_pretrained(&tiny_gpt2(), tch::Device::Cpu).unwrap();
    let tok = &model.tokenizer;

    // ---- Offline check 1: the category mask of the 34 words.
    let m = mask_matrix(&run, "part2a_mask.csv", 34);
    let count = |c: u32| m.iter().flatten().filter(|&&v| v == c).count();
    assert_eq!([1, 4, 9].map(count), [45, 78, 55]);
    assert_eq!([2, 3, 6].map(count), [130, 110, 143]);
    assert_eq!(count(1) + count(4) + count(9), 178);
    assert_eq!(count(2) + count(3) + count(6), 383);
    for (i, row) in m.iter().enumerate() {
        for (j, &v) in row.iter().enumerate().take(i + 1) {
            assert_eq!(v, 0, "mask ({i}, {j}) on or below the diagonal");
        }
    }
    // the word tokens the program printed: one token per " word", as the tokenizer says
    let (_, words) = table(&run, "part1_word_tokens.csv");
    assert_eq!(words.len(), 34);
    for (r, w) in words.iter().zip(WORDS) {
        assert_eq!(r[1], w);
        assert_eq!(
            vec![r[3].parse::<u32>().unwrap()],
            tok.encode(&format!(" {w}")).unwrap()
        );
    }

    // ---- Offline check 2: across-sentence variance is exactly 0 at positions 0-3 of
    // every hidden state (causality), non-zero at position 4.
    let seqs: Vec<Vec<u32>> = WORDS
        .iter()
        .map(|w| tok.encode(&format!("The next word is {w}")).unwrap())
        .collect();
    assert!(seqs.iter().all(|s| s.len() == 5 && s[..4] == seqs[0][..4]));
    let h = hidden_states(&model, &seqs);
    assert_eq!(h.len(), 4);
    let variance = |k: usize, pos: i64| -> Vec<f64> {
        let x = rows(&h[k].select(1, pos)); // [34, d]
        let d = x[0].len();
        (0..d)
            .map(|j| {
                let m = x.iter().map(|r| r[j]).sum::<f64>() / 34.0;
                x.iter().map(|r| (r[j] - m).powi(2)).sum::<f64>() / 33.0
            })
            .collect()
    };
    for k in 0..4 {
        for pos in 0..4 {
            assert!(
                variance(k, pos).iter().all(|&v| v == 0.0),
                "H[{k}] pos {pos}"
            );
        }
        assert!(variance(k, 4).iter().all(|&v| v > 0.0), "H[{k}] pos 4");
    }
    // the figure's dots are those variances (of H[3])
    let (_, fig1) = table(&run, "ch5_proj25_part1.csv");
    for pos in 0..5 {
        let got: Vec<f64> = fig1
            .iter()
            .filter(|r| r[1] == format!("position {pos}"))
            .map(|r| r[4].parse().unwrap())
            .collect();
        let want = variance(3, pos);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1e-6),
                "pos {pos}: {g} vs {w}"
            );
        }
        if pos < 4 {
            assert!(got.iter().all(|&v| v == 0.0));
        }
    }

    // ---- Offline check 4 (and Part 2): the cosine matrix of the last-token vectors at
    // the layer used (the tiny model's last hidden state, 3): symmetric, unit diagonal,
    // equal to cosines computed here.
    let last: Vec<Vec<Vec<f64>>> = (0..4).map(|k| rows(&h[k].select(1, 4))).collect();
    let (_, fig2) = table(&run, "ch5_proj25_part2b.csv");
    let mut s = vec![vec![f64::NAN; 34]; 34];
    for r in fig2.iter().filter(|r| r[2] == "heatmap") {
        let (c, row): (usize, usize) = (r[3].parse().unwrap(), r[4].parse().unwrap());
        s[row][c] = r[5].parse().unwrap();
    }
    for i in 0..34 {
        assert!((s[i][i] - 1.0).abs() < 1e-12, "diagonal {i}: {}", s[i][i]);
        for j in 0..34 {
            assert_eq!(s[i][j], s[j][i], "({i}, {j})");
            let want = cosine(&last[3][i], &last[3][j]);
            assert!(
                (s[i][j] - want).abs() < 1e-9,
                "({i}, {j}): {} vs {want}",
                s[i][j]
            );
        }
    }

    // ---- Offline check 5 on real data: Part 3's metrics per layer from this test's own
    // cosines and its own pooled t (the textbook value is a unit test of the helper).
    let labels = labels34();
    let (_, metrics) = table(&run, "part3_metrics.csv");
    assert_eq!(metrics.len(), 4);
    for (k, r) in metrics.iter().enumerate() {
        let group = |codes: &[u32]| -> Vec<f64> {
            pairs(&labels, codes)
                .iter()
                .map(|&(i, j)| cosine(&last[k][i], &last[k][j]).min(1.0))
                .collect()
        };
        let (w, a) = (group(&[1, 4, 9]), group(&[2, 3, 6]));
        assert_eq!((w.len(), a.len()), (178, 383));
        let mw = w.iter().sum::<f64>() / 178.0;
        let ma = a.iter().sum::<f64>() / 383.0;
        let got: Vec<f64> = r[1..].iter().map(|v| v.parse().unwrap()).collect();
        let want = [mw, ma, mw - ma, pooled_t(&w, &a)];
        for (g, wv) in got.iter().zip(want) {
            assert!((g - wv).abs() < 1e-7, "layer {k}: {got:?} vs {want:?}");
        }
    }
    let (_, preds) = table(&run, "part3_predictions.csv");
    assert_eq!(preds.len(), 34);

    // ---- Offline check 3: the context batch, built here from the passage.
    let ids = tok.encode(PASSAGE).unwrap();
    let mut occ = vec![];
    for (l, &t) in TARGET_IDS.iter().enumerate() {
        for p in (CONTEXT..ids.len()).filter(|&p| ids[p] == t) {
            occ.push((p, l as u32 + 1));
        }
    }
    assert!(ids[..CONTEXT].iter().all(|i| !TARGET_IDS.contains(i)));
    assert_eq!(occ.len(), 10);
    let (_, ctx) = table(&run, "part4_contexts.csv");
    assert_eq!(ctx.len(), occ.len());
    for (r, &(p, l)) in ctx.iter().zip(&occ) {
        assert_eq!(r[1], p.to_string());
        assert_eq!(r[2], l.to_string());
        assert_eq!(r[3], "51");
        assert_eq!(r[4], ids[p - CONTEXT].to_string());
        assert_eq!(r[5], TARGET_IDS[l as usize - 1].to_string());
    }
    let occ_labels: Vec<u32> = occ.iter().map(|o| o.1).collect();
    let m5 = mask_matrix(&run, "part5a_mask.csv", occ.len());
    for i in 0..occ.len() {
        for j in 0..occ.len() {
            let want = if j > i {
                occ_labels[i] * occ_labels[j]
            } else {
                0
            };
            assert_eq!(m5[i][j], want);
        }
    }
    let cseqs: Vec<Vec<u32>> = occ
        .iter()
        .map(|&(p, _)| ids[p - CONTEXT..=p].to_vec())
        .collect();
    let hc = hidden_states(&model, &cseqs);
    let lastc: Vec<Vec<Vec<f64>>> = (0..4).map(|k| rows(&hc[k].select(1, -1))).collect();
    // at H[0] two occurrences of one word are the same vector: cosine 1 after clamping
    for &(i, j) in &pairs(&occ_labels, &[1, 4, 9]) {
        assert_eq!(lastc[0][i], lastc[0][j]);
        assert_eq!(
            cosine(&lastc[0][i], &lastc[0][j]).min(1.0),
            1.0,
            "({i}, {j})"
        );
    }

    // ---- Offline check 6 and Part 6: per-bin probabilities over 34 bins in [0.4, 1],
    // recomputed here; they sum to 1 whenever all values are in range.
    let (_, p6) = table(&run, "part6_probabilities.csv");
    assert_eq!(p6.len(), 4 * 3);
    let dx = 0.6 / 34.0;
    let codes: [&[u32]; 3] = [&[1, 4, 9], &[2, 3], &[6]];
    let mut checked_full = 0;
    for k in 0..4 {
        for (g, c) in codes.iter().enumerate() {
            let vals: Vec<f64> = pairs(&occ_labels, c)
                .iter()
                .map(|&(i, j)| cosine(&lastc[k][i], &lastc[k][j]).min(1.0))
                .collect();
            let inside: Vec<f64> = vals
                .iter()
                .copied()
                .filter(|v| (0.4..=1.0).contains(v))
                .collect();
            let mut want = vec![0.0; 34];
            for v in &inside {
                let b = (((v - 0.4) / dx).floor() as usize).min(33);
                want[b] += 1.0 / inside.len() as f64;
            }
            let got: Vec<f64> = p6[k * 3 + g][2..]
                .iter()
                .map(|v| v.parse().unwrap())
                .collect();
            for (b, (x, y)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (x - y).abs() < 1e-9,
                    "layer {k} group {g} bin {b}: {x} vs {y}"
                );
            }
            if inside.len() == vals.len() {
                assert!((got.iter().sum::<f64>() - 1.0).abs() < 1e-8);
                checked_full += 1;
            }
        }
    }
    assert!(checked_full >= 3, "{checked_full}");
    // layer 0: the within-word distribution is one spike in the top bin
    let within0: Vec<f64> = p6[0][2..].iter().map(|v| v.parse().unwrap()).collect();
    assert!((within0[33] - 1.0).abs() < 1e-12);
    assert!(within0[..33].iter().all(|&v| v == 0.0));
}
