//! Project 41's offline checks. The --quick run (tiny random GPT-2, GPT-2's tokenizer,
//! offline) is compared with references that do not come from the program:
//! transformers/torch/numpy on the same model with forward pre-hooks on `attn.c_proj`
//! (`fixtures/reference.json`, written by `scripts/make_fixture.py`), common's model run
//! here one full hooked forward pass per head (no batching, no `start_at`), and closed
//! forms (the spec's token ids, permutation invariants, block-pass counts).

use common::testing::reference::tiny_gpt2_dir;
use common::testing::{
    assert_close, figure_heatmaps, json_f64s, read_csv, run_project, ProjectRun,
};
use common::{Batch, Hook, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use tch::{Device, Kind, Tensor};

const BIN: &str = env!("CARGO_BIN_EXE_project41_ioi_head_patching");
const IDS_ME: [u32; 14] = [
    2215, 4995, 290, 18966, 1816, 284, 262, 26725, 11, 4995, 2921, 257, 6891, 284,
];
const MIKE: u32 = 4995;
const EMMA: u32 = 18966;
/// Two float32 implementations of the same model (ours through libtorch, transformers')
/// agree to about 1e-6.
const TOL: f64 = 1e-5;

fn reference() -> &'static Value {
    static R: OnceLock<Value> = OnceLock::new();
    R.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/reference.json")).expect("reference.json")
    })
}

fn run() -> &'static ProjectRun {
    static RUN: OnceLock<ProjectRun> = OnceLock::new();
    RUN.get_or_init(|| run_project(BIN, &["--quick", "--device", "cpu"]).unwrap())
}

fn model() -> HookedModel {
    HookedModel::from_pretrained(tiny_gpt2_dir().to_str().unwrap(), Device::Cpu).unwrap()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(json_f64s).collect()
}

fn ids_em() -> Vec<u32> {
    let mut v = IDS_ME.to_vec();
    v[9] = EMMA;
    v
}

fn batch(model: &HookedModel, ids: &[u32]) -> Batch {
    model
        .batch_from_ids(&[ids.to_vec()], PaddingSide::Right)
        .unwrap()
}

/// A table the program wrote as `[layer][head] -> column`.
fn per_head(name: &str, col: &str) -> Vec<Vec<f64>> {
    let (h, rows) = read_csv(&run().file(name)).unwrap();
    let j = h.iter().position(|c| c == col).unwrap();
    let mut out: Vec<Vec<f64>> = vec![];
    for r in &rows {
        let (l, hd): (usize, usize) = (r[0].parse().unwrap(), r[1].parse().unwrap());
        if out.len() <= l {
            out.resize(l + 1, vec![]);
        }
        assert_eq!(out[l].len(), hd, "{name}: heads in order");
        out[l].push(r[j].parse().unwrap());
    }
    out
}

/// Last-position logits of one full forward pass with `hooks`, `[vocab]`.
fn last_logits(model: &HookedModel, ids: &[u32], hooks: &[Hook]) -> Tensor {
    let out = model
        .run(
            &batch(model, ids),
            &RunOptions::default().hooks(hooks).logits(LogitsAt::Last),
        )
        .unwrap();
    out.logits.unwrap().squeeze_dim(0)
}

fn ioi(logits: &Tensor) -> f64 {
    logits.double_value(&[MIKE as i64]) - logits.double_value(&[EMMA as i64])
}

fn hook_z(model: &HookedModel, ids: &[u32]) -> Vec<Tensor> {
    let cache = model
        .run(
            &batch(model, ids),
            &RunOptions::default()
                .cache(Names::matching("blocks.*.attn.hook_z"))
                .logits(LogitsAt::None),
        )
        .unwrap()
        .cache;
    (0..model.cfg.n_layers)
        .map(|l| {
            cache
                .get(&format!("blocks.{l}.attn.hook_z"))
                .unwrap()
                .shallow_clone()
        })
        .collect()
}

/// A hook that reorders head `h`'s `[pos, d_head]` values (flattened position-major) by
/// `perm`: new[i] = old[perm[i]].
fn permute_hook(l: usize, h: i64, perm: Vec<i64>) -> Hook {
    Hook::apply(&format!("blocks.{l}.attn.hook_z"), move |x, _| {
        let y = x.copy();
        let (t, dh) = (x.size()[1], x.size()[3]);
        let vals = x.get(0).select(1, h).reshape([t * dh]);
        let idx = Tensor::from_slice(&perm);
        y.get(0)
            .select(1, h)
            .copy_(&vals.index_select(0, &idx).view([t, dh]));
        Ok(y)
    })
}

/// The permutations the program documents: `StdRng::seed_from_u64(seed + 1)`, one
/// shuffle of `0..n` per head, layers then heads in order (seed 0 in the test run).
fn program_perms(n_layers: usize, n_heads: usize, n: i64) -> Vec<Vec<Vec<i64>>> {
    let mut rng = StdRng::seed_from_u64(1);
    (0..n_layers)
        .map(|_| {
            (0..n_heads)
                .map(|_| {
                    let mut p: Vec<i64> = (0..n).collect();
                    p.shuffle(&mut rng);
                    p
                })
                .collect()
        })
        .collect()
}

/// Heatmap cells of panel `panel` in a figure CSV: (column, row) -> value.
fn heatmap(fig: &str, panel: &str) -> BTreeMap<(usize, usize), f64> {
    let all = figure_heatmaps(&run().file(&format!("{fig}.csv"))).unwrap();
    let m = all
        .get(panel)
        .unwrap_or_else(|| panic!("{fig}: no heatmap in panel {panel:?}"));
    m.iter()
        .enumerate()
        .flat_map(|(r, row)| row.iter().enumerate().map(move |(c, &v)| ((c, r), v)))
        .collect()
}

/// (x, y, extra) of every row of `kind` in panel `panel`.
fn rows_of(fig: &str, panel: &str, kind: &str) -> Vec<(f64, f64, String)> {
    let (_, rows) = read_csv(&run().file(&format!("{fig}.csv"))).unwrap();
    rows.iter()
        .filter(|r| r[0] == panel && r[2] == kind)
        .map(|r| (r[3].parse().unwrap(), r[4].parse().unwrap(), r[5].clone()))
        .collect()
}

fn pop_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part1", "part2", "part3a", "part3b", "part4a", "part4b", "part5",
    ] {
        run().check_figure(&format!("ch6_proj41_{f}")).unwrap();
    }
}

/// Offline check 5: the spec's 14 ids, " Mike" at [1, 9] in ME, one differing index (9).
#[test]
fn check5_tokens() {
    let r = reference();
    let (_, rows) = read_csv(&run().file("part1_tokens.csv")).unwrap();
    let me: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let em: Vec<u32> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(me, IDS_ME.to_vec());
    assert_eq!(em, ids_em());
    let want: Vec<f64> = IDS_ME.iter().map(|&i| i as f64).collect();
    assert_eq!(json_f64s(&r["ids_me"]), want, "transformers' tokenizer");
    assert_eq!(
        json_f64s(&r["ids_em"]),
        ids_em().iter().map(|&i| i as f64).collect::<Vec<_>>()
    );
    assert_eq!(json_f64s(&r["mike_positions"]), vec![1.0, 9.0]);
    let differ: Vec<usize> = (0..14).filter(|&i| me[i] != em[i]).collect();
    assert_eq!(differ, vec![9]);
    assert!(run()
        .summary()
        .contains("the sentences differ at position(s) [9]"));
    assert_eq!(
        run()
            .summary_line("Positions of \" Mike\" in ME: ")
            .unwrap(),
        "Positions of \" Mike\" in ME: [1, 9]"
    );
}

/// Part 1 and offline check 4: IOI scores, argmax tokens and log-softmax against
/// transformers; antisymmetry of the score.
#[test]
fn part1_and_check4_scores() {
    let p1 = &reference()["part1"];
    let s = run();
    for name in ["ME", "EM"] {
        let want = p1[name]["ioi"].as_f64().unwrap();
        let got = s.summary_value(&format!("IOI_{name} = ")).unwrap();
        assert!((got - want).abs() < 6e-4, "IOI_{name}: {got} vs {want}");
        assert!(
            (p1[name]["logit_mike"].as_f64().unwrap()
                - p1[name]["logit_emma"].as_f64().unwrap()
                - want)
                .abs()
                < 1e-6
        );
    }
    let tok = common::tokenizer::Tokenizer::gpt2();
    for (name, text) in [
        (
            "ME",
            "When Mike and Emma went to the cafe, Mike gave a coffee to",
        ),
        (
            "EM",
            "When Mike and Emma went to the cafe, Emma gave a coffee to",
        ),
    ] {
        let id = p1[name]["argmax"].as_u64().unwrap() as u32;
        let next = tok.decode(&[id]).unwrap();
        assert_eq!(s.summary_line(text).unwrap(), format!("{text} \"{next}\""));
    }
    // Panels A and B: log-softmax at the two names (transformers, float64 log-softmax).
    for (panel, name) in [
        ("A) Emma gave a coffee to...", "EM"),
        ("B) Mike gave a coffee to...", "ME"),
    ] {
        let m = rows_of("ch6_proj41_part1", panel, "scatter");
        let all: Vec<&(f64, f64, String)> = m.iter().collect();
        assert_eq!(
            all.len(),
            50257 + 2,
            "{panel}: every token plus the two names"
        );
        let at = |id: u32| all[id as usize].1;
        assert!((at(MIKE) - p1[name]["logsoftmax_mike"].as_f64().unwrap()).abs() < TOL);
        assert!((at(EMMA) - p1[name]["logsoftmax_emma"].as_f64().unwrap()).abs() < TOL);
    }
    // Check 4 with common directly: swapping the targets negates the score, and the
    // metric equals logits[M] − logits[E] from transformers.
    let model = model();
    let l = last_logits(&model, &ids_em(), &[]).unsqueeze(0);
    let ab = common::patching::logit_difference(MIKE as i64, EMMA as i64)(&l).unwrap();
    let ba = common::patching::logit_difference(EMMA as i64, MIKE as i64)(&l).unwrap();
    assert_eq!(ab.double_value(&[0]), -ba.double_value(&[0]));
    let want = p1["EM"]["ioi"].as_f64().unwrap();
    assert!((ab.double_value(&[0]) - want).abs() < TOL);
}

/// Part 2 and offline checks 3 and 6: the demo is a permutation; the program's
/// scrambled scores equal one full hooked run per head with the documented permutations
/// (check 6, 1e-5); the head norms are transformers' and permutation-invariant; an
/// identity permutation changes nothing; transformers' own permutations through common's
/// hook give transformers' scores.
#[test]
fn part2_scrambling_and_checks3_6() {
    let r = reference();
    let s = run();
    // the demo
    let line = s.summary_line("Demo one-liner: ").unwrap();
    let perm: Vec<i64> = line
        .rsplit("-> [")
        .next()
        .unwrap()
        .trim_end_matches(']')
        .split(", ")
        .map(|v| v.parse().unwrap())
        .collect();
    let mut sorted = perm.clone();
    sorted.sort();
    assert_eq!(sorted, (0..12).collect::<Vec<i64>>());
    assert_ne!(perm, (0..12).collect::<Vec<i64>>());
    let summary = s.summary();
    let after_rows: Vec<String> = perm
        .chunks(4)
        .map(|c| {
            format!(
                "  [{}]",
                c.iter().map(|v| format!("{v:>3}")).collect::<String>()
            )
        })
        .collect();
    assert!(summary.contains(&after_rows.join("\n")), "reshaped demo");

    let model = model();
    let (n, nh, dh) = (model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_head);
    let t = 14i64;
    let ioi_em = r["ioi_em"].as_f64().unwrap();
    let got_ioi = per_head("part2_scramble.csv", "ioi");
    let got_norm = per_head("part2_scramble.csv", "headnorm");
    let got_delta = per_head("part2_scramble.csv", "delta_ioi");
    assert_eq!((got_ioi.len(), got_ioi[0].len()), (n, nh));
    let perms = program_perms(n, nh, t * dh as i64);
    let z_em = hook_z(&model, &ids_em());
    let want_norm = matrix(&r["scramble_norm"]);
    for l in 0..n {
        for h in 0..nh {
            let hook = permute_hook(l, h as i64, perms[l][h].clone());
            let want = ioi(&last_logits(&model, &ids_em(), &[hook]));
            assert!(
                (got_ioi[l][h] - want).abs() < TOL,
                "scrambled L{l}H{h}: {} vs one hooked run {want}",
                got_ioi[l][h]
            );
            assert!((got_delta[l][h] - (got_ioi[l][h] - ioi_em)).abs() < 1e-6);
            assert!((got_norm[l][h] - want_norm[l][h]).abs() < TOL);
            // check 3: the permuted values are the same multiset with the same norm
            let head = z_em[l].get(0).select(1, h as i64).reshape([-1]);
            let permuted = head.index_select(0, &Tensor::from_slice(&perms[l][h]));
            let (a, _) = head.sort(0, false);
            let (b, _) = permuted.sort(0, false);
            assert_eq!((&a - &b).abs().max().double_value(&[]), 0.0);
            let norm = |x: &Tensor| x.to_kind(Kind::Double).norm().double_value(&[]);
            assert!((norm(&head) - norm(&permuted)).abs() < 1e-12);
            assert!((norm(&head) - got_norm[l][h]).abs() < 1e-6);
        }
    }
    // the scrambles change something (the test above could not pass on a no-op)
    assert!(got_delta.iter().flatten().any(|d| d.abs() > 1e-3));
    // check 3: an identity permutation leaves the logits unchanged
    let clean = last_logits(&model, &ids_em(), &[]);
    for l in 0..n {
        let id: Vec<i64> = (0..t * dh as i64).collect();
        let same = last_logits(&model, &ids_em(), &[permute_hook(l, 1, id)]);
        assert_eq!((&same - &clean).abs().max().double_value(&[]), 0.0);
    }
    // transformers' permutations through common's hook give transformers' scores
    let py_perms = r["perms"].as_array().unwrap();
    let py_ioi = matrix(&r["scramble_ioi"]);
    for l in 0..n {
        for h in 0..nh {
            let p: Vec<i64> = json_f64s(&py_perms[l][h])
                .iter()
                .map(|&v| v as i64)
                .collect();
            let got = ioi(&last_logits(
                &model,
                &ids_em(),
                &[permute_hook(l, h as i64, p)],
            ));
            assert!((got - py_ioi[l][h]).abs() < TOL, "numpy perm L{l}H{h}");
        }
    }
    // the figure: heat map = ΔIOI (x = layer, y = head), B = mean ± population stdev
    let cells = heatmap("ch6_proj41_part2", "A) Δ IOI (silenced - clean)");
    assert_eq!(cells.len(), n * nh);
    for l in 0..n {
        for h in 0..nh {
            assert!((cells[&(l, h)] - got_delta[l][h]).abs() < 1e-6);
        }
    }
    let bars = rows_of("ch6_proj41_part2", "B) Mean over heads", "errorbar");
    assert_eq!(bars.len(), n);
    for (l, (x, y, e)) in bars.iter().enumerate() {
        let (m, sd) = pop_sd(&got_delta[l]);
        assert_eq!(*x, l as f64);
        assert!((y - m).abs() < 1e-6 && (e.parse::<f64>().unwrap() - sd).abs() < 1e-6);
    }
    let pts = rows_of("ch6_proj41_part2", "C) Norm vs effect", "scatter");
    assert_eq!(pts.len(), n * nh);
    let mut got: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
    let mut want: Vec<(f64, f64)> = (0..n)
        .flat_map(|l| (0..nh).map(move |h| (l, h)))
        .map(|(l, h)| (got_norm[l][h], got_delta[l][h]))
        .collect();
    got.sort_by(|a, b| a.0.total_cmp(&b.0));
    want.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (g, w) in got.iter().zip(&want) {
        assert!((g.0 - w.0).abs() < 1e-6 && (g.1 - w.1).abs() < 1e-6);
    }
    let mean_abs = got_delta.iter().flatten().map(|v| v.abs()).sum::<f64>() / (n * nh) as f64;
    let range = s
        .summary()
        .lines()
        .find(|l| l.starts_with("Colour range"))
        .unwrap()
        .to_string();
    let v: f64 = range.rsplit('±').next().unwrap().parse().unwrap();
    assert!((v - 2.0 * mean_abs).abs() < 1e-4, "{range}");
    // work: 1 caching run of n blocks + a batch from each block L to the end
    let blocks = n + (0..n).map(|l| n - l).sum::<usize>();
    let line = s
        .summary_line("Work saved by the sweep: 4 forward passes")
        .unwrap();
    assert!(
        line.contains(&format!("{blocks} block passes instead of {}", n * nh * n)),
        "{line}"
    );
}

/// Part 3: MEattn (common's hook_z) equals transformers' c_proj input; the norms and
/// percentile limits are numpy's.
#[test]
fn part3_me_activations() {
    let r = reference();
    let model = model();
    let (n, nh, dh) = (model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_head);
    let z_me = hook_z(&model, &IDS_ME);
    let want = r["me_attn"].as_array().unwrap();
    for l in 0..n {
        let got: Vec<f64> = Vec::try_from(z_me[l].to_kind(Kind::Double).reshape([-1])).unwrap();
        assert_close(&got, &json_f64s(&want[l]), TOL, &format!("MEattn[{l}]")).unwrap();
    }
    assert_eq!(
        run().summary_line("MEattn: ").unwrap(),
        format!(
            "MEattn: {n} tensors (blocks.L.attn.hook_z = c_proj input viewed per head) of \
             shape [1, 14, {nh}, {dh}]"
        )
    );
    let (_, rows) = read_csv(&run().file("part3b_norms.csv")).unwrap();
    let norms = matrix(&r["norms"]);
    assert_eq!(rows.len(), n);
    for (l, row) in rows.iter().enumerate() {
        let got: Vec<f64> = row[1..].iter().map(|v| v.parse().unwrap()).collect();
        assert_close(&got, &norms[l], TOL, &format!("norms[{l}]")).unwrap();
    }
    // the image: origin lower (stored row 0 is the last layer)
    let cells = heatmap("ch6_proj41_part3b", "Average attention head norms");
    for l in 0..n {
        for t in 0..14 {
            assert!((cells[&(t, n - 1 - l)] - norms[l][t]).abs() < TOL);
        }
    }
    let lim = json_f64s(&r["norm_lim"]);
    let line = run().summary_line("Average head norms").unwrap();
    assert!(
        line.ends_with(&format!("{:.4}, {:.4}", lim[0], lim[1])),
        "{line} vs {lim:?}"
    );
    // Part 3a: the last block stands in for layer 4 under --quick
    let layer = r["layer3a"].as_u64().unwrap();
    assert!(run()
        .summary()
        .contains(&format!("block {layer} (the last) stands in")));
    let (_, rows) = read_csv(&run().file("part3a_limits.csv")).unwrap();
    let want = r["lim3a"].as_array().unwrap();
    assert_eq!(rows.len(), 14);
    for (t, row) in rows.iter().enumerate() {
        let got = [row[2].parse().unwrap(), row[3].parse().unwrap()];
        assert_close(
            &got,
            &json_f64s(&want[t]),
            TOL,
            &format!("2/98 percentiles at {t}"),
        )
        .unwrap();
    }
    // each token's block is scaled to its limits: its cells at (p - p2) / (p98 - p2)
    let cells = heatmap(
        "ch6_proj41_part3a",
        &format!("Head activation heatmaps from layer {layer}"),
    );
    let me = json_f64s(&r["me_attn"][layer as usize]);
    for t in [0usize, 9, 13] {
        let w = json_f64s(&want[t]);
        for h in 0..nh {
            for d in 0..dh {
                let v = me[(t * nh + h) * dh + d];
                let col = t * (nh + 1) + h;
                let got = cells[&(col, dh - 1 - d)];
                assert!(
                    (got - (v - w[0]) / (w[1] - w[0])).abs() < 1e-4,
                    "3a t{t} h{h} d{d}"
                );
            }
        }
    }
}

/// Part 4: the selectivity ratios are numpy's; the difference image is MEattn[L][0,1] −
/// MEattn[L][0,9].
#[test]
fn part4_two_mikes() {
    let r = reference();
    let (_, rows) = read_csv(&run().file("part4b_selectivity.csv")).unwrap();
    let got: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let want = json_f64s(&r["ratios"]);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-4 * w.abs().max(1.0), "ratio {g} vs {w}");
    }
    assert_eq!(got.len(), want.len());
    let (nh, dh) = (
        r["n_head"].as_u64().unwrap() as usize,
        r["d_head"].as_u64().unwrap() as usize,
    );
    let cells = heatmap("ch6_proj41_part4a", "The difference of the Mikes");
    let n = r["n_layer"].as_u64().unwrap() as usize;
    for l in 0..n {
        let me = json_f64s(&r["me_attn"][l]);
        for h in 0..nh {
            for d in 0..dh {
                let want = me[(nh + h) * dh + d] - me[(9 * nh + h) * dh + d];
                let got = cells[&(l * (nh + 1) + h, dh - 1 - d)];
                assert!((got - want).abs() < TOL, "4a L{l} h{h} d{d}");
            }
        }
    }
}

/// Part 5 and offline checks 1, 2, 6: head_patch_sweep's scores equal one full hooked run
/// per head (1e-5) and transformers' pre-hook patching; patching EM with its own
/// activations is a no-op; an ME patch leaves every position before 9 unchanged.
#[test]
fn part5_patching_and_checks1_2_6() {
    let r = reference();
    let model = model();
    let (n, nh) = (model.cfg.n_layers, model.cfg.n_heads);
    let z_me = hook_z(&model, &IDS_ME);
    let z_em = hook_z(&model, &ids_em());
    let got = per_head("part5_patch.csv", "ioi");
    let delta = per_head("part5_patch.csv", "delta_ioi");
    let want_py = matrix(&r["patch_ioi"]);
    let ioi_em = r["ioi_em"].as_f64().unwrap();
    let clean = model
        .run(
            &batch(&model, &ids_em()),
            &RunOptions::default()
                .cache(Names::matching("blocks.*.hook_resid_post"))
                .logits(LogitsAt::All),
        )
        .unwrap();
    let clean_logits = clean.logits.as_ref().unwrap();
    for l in 0..n {
        let name = format!("blocks.{l}.attn.hook_z");
        for h in 0..nh {
            let hooks = [Hook::replace(&name, z_me[l].shallow_clone()).heads(&[h as i64])];
            let out = model
                .run(
                    &batch(&model, &ids_em()),
                    &RunOptions::default()
                        .hooks(&hooks)
                        .cache(Names::matching("blocks.*.hook_resid_post"))
                        .logits(LogitsAt::All),
                )
                .unwrap();
            let logits = out.logits.as_ref().unwrap();
            let one = ioi(&logits.get(0).get(-1));
            assert!(
                (got[l][h] - one).abs() < TOL,
                "sweep L{l}H{h} {} vs {one}",
                got[l][h]
            );
            assert!(
                (got[l][h] - want_py[l][h]).abs() < TOL,
                "transformers L{l}H{h}"
            );
            assert!((delta[l][h] - (got[l][h] - ioi_em)).abs() < TOL);
            // check 2: nothing changes before position 9
            for k in 0..n {
                let rp = format!("blocks.{k}.hook_resid_post");
                let a = out.cache.get(&rp).unwrap().narrow(1, 0, 9);
                let b = clean.cache.get(&rp).unwrap().narrow(1, 0, 9);
                assert_eq!(
                    (a - b).abs().max().double_value(&[]),
                    0.0,
                    "L{l}H{h} block {k}"
                );
            }
            let early = (logits.narrow(1, 0, 9) - clean_logits.narrow(1, 0, 9))
                .abs()
                .max()
                .double_value(&[]);
            assert_eq!(early, 0.0);
            // check 1: EM's own activations change nothing
            let own = [Hook::replace(&name, z_em[l].shallow_clone()).heads(&[h as i64])];
            let same = model
                .run(
                    &batch(&model, &ids_em()),
                    &RunOptions::default().hooks(&own).logits(LogitsAt::All),
                )
                .unwrap()
                .logits
                .unwrap();
            assert_eq!((same - clean_logits).abs().max().double_value(&[]), 0.0);
        }
    }
    assert!(
        delta.iter().flatten().any(|d| d.abs() > 1e-3),
        "patches change something"
    );
    assert_eq!(r["self_patch_max"].as_f64().unwrap(), 0.0);
    // check 1 through the batched sweep itself: EM patched with EM gives IOI_EM (1e-6)
    let em = batch(&model, &ids_em());
    let self_sweep = common::patching::head_patch_sweep(
        &model,
        &em,
        &em,
        common::patching::logit_difference(MIKE as i64, EMMA as i64),
    )
    .unwrap();
    let clean_ioi = ioi(&clean_logits.get(0).get(-1));
    let dev = (self_sweep - clean_ioi).abs().max().double_value(&[]);
    assert!(dev < 1e-6, "self-patch sweep deviates by {dev}");
    // the figure
    let cells = heatmap("ch6_proj41_part5", "A) Δ IOI (patched - clean)");
    assert_eq!(cells.len(), n * nh);
    for l in 0..n {
        for h in 0..nh {
            assert!((cells[&(l, h)] - delta[l][h]).abs() < 1e-6);
        }
    }
    let sds = rows_of("ch6_proj41_part5", "C) Head-variability results", "scatter");
    assert_eq!(sds.len(), n);
    for (l, p) in sds.iter().enumerate() {
        assert!((p.1 - pop_sd(&delta[l]).1).abs() < 1e-6);
    }
    let bars = rows_of("ch6_proj41_part5", "B) Mean over heads", "errorbar");
    assert_eq!(bars.len(), n);
    // work: 2 caching runs of n blocks + a batch from each block L to the end
    let blocks = 2 * n + (0..n).map(|l| n - l).sum::<usize>();
    let line = run()
        .summary_line("Work saved by the sweep: 5 forward passes")
        .unwrap();
    assert!(
        line.contains(&format!("{blocks} block passes instead of {}", n * nh * n)),
        "{line}"
    );
}
