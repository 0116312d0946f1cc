//! Runs project 29 in --quick mode (tiny random GPT-Neo, offline) and checks the spec's
//! offline checks against closed forms and against the same computations done another
//! way in the test (common's own loss, hooked runs without `start_at`, by-hand loops).

#[path = "../src/reduce.rs"]
mod reduce;

use common::testing::{run_project, ProjectRun};
use common::{Batch, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use reduce::{
    cum_pct, double_centre, first_above, full_svd, lm_loss, luma, matrix_rank, reduce,
    reduction_hook, Counts,
};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

#[allow(dead_code)]
#[path = "../src/quick_text.rs"]
mod quick_text;

const BIN: &str = env!("CARGO_BIN_EXE_project29_hidden_state_svd_reduction");
const FIGURES: [&str; 8] = [
    "part1a", "part1b", "part1c", "part1d", "part2a", "part2b", "part3", "part4a",
];

fn neo_dir() -> PathBuf {
    common::assets_dir().join("models/tiny-gpt-neo")
}

fn model() -> HookedModel {
    HookedModel::from_pretrained(&neo_dir().display().to_string(), Device::Cpu).unwrap()
}

fn batch(m: &HookedModel) -> Batch {
    let ids = m.tokenizer.encode(quick_text::QUICK_TEXT).unwrap();
    m.batch_from_ids(&[ids], PaddingSide::Right).unwrap()
}

fn list(run: &ProjectRun, prefix: &str) -> Vec<f64> {
    let line = run.summary_line(prefix).unwrap();
    let inner = line[prefix.len()..]
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']');
    inner
        .split(',')
        .map(|v| v.trim().parse::<f64>().unwrap())
        .collect()
}

fn maxabs(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

fn hidden_run(m: &HookedModel, b: &Batch, hooks: &[common::Hook]) -> (Vec<Tensor>, Tensor) {
    let mut run = m
        .run(
            b,
            &RunOptions::default()
                .hooks(hooks)
                .cache(Names::list(&m.hidden_state_names()).and("blocks.*.hook_resid_post"))
                .logits(LogitsAt::All),
        )
        .unwrap();
    let n = m.cfg.n_layers;
    let last = run
        .cache
        .get(&format!("blocks.{}.hook_resid_post", n - 1))
        .unwrap()
        .get(0);
    let mut h: Vec<Tensor> = m
        .take_hidden_states(&mut run.cache)
        .unwrap()
        .into_iter()
        .map(|t| t.get(0))
        .collect();
    h.push(last); // h[n+1]: the last block's output before ln_f
    (h, run.logits.unwrap().get(0))
}

#[test]
fn quick_run_and_offline_checks() {
    let run = run_project(BIN, &["--quick", "--device", "cpu"]).unwrap();
    for f in FIGURES
        .iter()
        .map(|f| format!("ch5_proj29_{f}"))
        .chain(["ch5_proj29_part4b".to_string()])
    {
        run.check_figure(&f).unwrap();
    }
    let m = model();
    let b = batch(&m);
    let n = m.cfg.n_layers;
    let t = b.seq_len() as usize;
    let d = m.cfg.d_model;
    tch::manual_seed(0);

    // ---- Check 1: the SVD helper.
    let x = Tensor::randn([20, 12], (Kind::Float, Device::Cpu));
    let svd = full_svd(&x);
    let full = svd.reconstruct(12);
    let rel = maxabs(&full, &x) / x.abs().max().double_value(&[]);
    assert!(rel < 1e-4, "all components: relative error {rel}");
    for r in [1usize, 5, 11] {
        assert_eq!(
            matrix_rank(&svd.reconstruct(r)).unwrap(),
            r,
            "rank of r = {r}"
        );
    }
    let cum = cum_pct(&svd.s_vec().unwrap());
    assert!(
        (cum[cum.len() - 1] - 100.0).abs() < 1e-9,
        "cum ends at {}",
        cum[cum.len() - 1]
    );
    // the binary's image: cum ends at 100; recon 1 has rank 50 (the spec's k); recon 2 rank r
    let end = run
        .summary_value("image cumulative % variance ends at")
        .unwrap();
    assert!((end - 100.0).abs() < 1e-6, "image cum ends at {end}");
    assert_eq!(
        run.summary_value("image rank: reconstruction 1 =").unwrap(),
        50.0
    );
    let image_r = run
        .summary_value("image r (components for > 98%) =")
        .unwrap();
    assert!(image_r > 0.0);
    assert_eq!(
        run.summary_value("image rank: reconstruction 2 =").unwrap(),
        image_r
    );
    // the synthetic picture is 192 × 256 → 96 × 128: full rank 96
    assert_eq!(run.summary_value("image rank: original =").unwrap(), 96.0);

    // ---- Check 2: double-centring, on a random matrix and on the model's H[2].
    let (clean_h, clean_logits) = hidden_run(&m, &b, &[]);
    for hs in [
        Tensor::randn([t as i64, d as i64], (Kind::Float, Device::Cpu)),
        clean_h[n.min(4)].shallow_clone(),
    ] {
        let dc = double_centre(&hs);
        let row_means =
            dc.d.mean_dim(1, false, Kind::Double)
                .abs()
                .max()
                .double_value(&[]);
        let col_means =
            dc.d.mean_dim(0, false, Kind::Double)
                .abs()
                .max()
                .double_value(&[]);
        assert!(
            row_means < 1e-5 && col_means < 1e-5,
            "means {row_means} {col_means}"
        );
        assert!(maxabs(&dc.restore(&dc.d), &hs) < 1e-5);
    }
    // Part 2 of the binary on H[n] (quick clamps the spec's H[4]): r and rank(hs_R) ≤ r + 2
    let red = reduce(&clean_h[n.min(4)], 95.0).unwrap();
    let r2 = run
        .summary_value("part2 r (components for > 95%) =")
        .unwrap();
    assert_eq!(r2, red.r as f64);
    let rank_r = run.summary_value("part2 rank(hs_R) =").unwrap();
    assert!(
        rank_r <= r2 + 2.0 && rank_r >= r2,
        "rank(hs_R) {rank_r}, r {r2}"
    );
    assert_eq!(
        run.summary_value("part2 rank(hs) =").unwrap(),
        t.min(d) as f64
    );

    // ---- Check 3: the intervention inside the pass.
    let counts: Counts = Default::default();
    let (sent, sent_logits) = hidden_run(&m, &b, &[reduction_hook(4000, 95.0, counts.clone())]);
    for k in 0..=n {
        assert_eq!(
            maxabs(&sent[k], &clean_h[k]),
            0.0,
            "sentinel changed H[{k}]"
        );
    }
    assert_eq!(maxabs(&sent_logits, &clean_logits), 0.0);
    assert!(counts.borrow().is_empty());
    for l in 0..n {
        let (h, _) = hidden_run(&m, &b, &[reduction_hook(l, 99.0, counts.clone())]);
        for k in 1..=l {
            assert_eq!(maxabs(&h[k], &clean_h[k]), 0.0, "L={l}: H[{k}] changed");
        }
        assert!(
            maxabs(&h[l + 1], &clean_h[l + 1]) > 1e-3,
            "L={l}: H[{}] unchanged",
            l + 1
        );
        // block L's output equals the reduction of the clean output done by hand
        let clean_out = if l + 1 < n {
            &clean_h[l + 1]
        } else {
            &clean_h[n + 1]
        };
        let hand = reduce(clean_out, 99.0).unwrap().recon;
        let got = if l + 1 < n { &h[l + 1] } else { &h[n + 1] };
        assert!(maxabs(got, &hand) < 1e-5, "L={l}: hook output vs by hand");
        // a threshold that keeps every component (none is above 100%): no change
        let (h_all, _) = hidden_run(&m, &b, &[reduction_hook(l, 100.0, counts.clone())]);
        assert!(
            maxabs(&h_all[l + 1], &clean_h[l + 1]) < 1e-4,
            "L={l}: full rank changed H"
        );
    }
    // the binary's Part 3 (block n-1 under --quick): zeros before, non-zero at the block
    let block = n - 1;
    let dn = list(&run, "part3 diffnorm =");
    assert_eq!(dn.len(), n);
    assert!(dn[..block].iter().all(|&v| v == 0.0), "{dn:?}");
    assert!(dn[block] > 0.0);

    // ---- Part 4 against full hooked runs (no start_at) and common's loss.
    let comps = list(&run, "part4 compsCount =");
    let losses = list(&run, "part4 loss =");
    let hid = list(&run, "part4 hidden diffnorms =");
    for l in 0..n {
        let clean_out = if l + 1 < n {
            &clean_h[l + 1]
        } else {
            &clean_h[n + 1]
        };
        assert_eq!(
            comps[l],
            reduce(clean_out, 95.0).unwrap().r as f64,
            "comps L={l}"
        );
        let c: Counts = Default::default();
        let hooks = [reduction_hook(l, 95.0, c)];
        let want = m.loss_with_hooks(&b, &hooks).unwrap();
        assert!(
            (losses[l] - want).abs() < 1e-4,
            "loss L={l}: {} vs {want}",
            losses[l]
        );
        let (h, _) = hidden_run(&m, &b, &hooks);
        let want_h = (&h[l + 1] - &clean_h[l + 1])
            .to_kind(Kind::Double)
            .norm()
            .double_value(&[]);
        assert!(
            (hid[l] - want_h).abs() < 1e-3 * want_h.max(1.0),
            "diffnorm L={l}"
        );
    }

    // ---- Check 4: the loss helper.
    let clean_loss = run.summary_value("clean loss =").unwrap();
    let common_loss = m.loss(&b).unwrap();
    assert!(
        (clean_loss - common_loss).abs() < 1e-5,
        "{clean_loss} vs {common_loss}"
    );
    let ids: Vec<i64> = Vec::<i64>::try_from(b.ids.get(0)).unwrap();
    let lsm = clean_logits
        .to_kind(Kind::Double)
        .log_softmax(-1, Kind::Double);
    let by_hand = -(0..t - 1)
        .map(|i| lsm.double_value(&[i as i64, ids[i + 1]]))
        .sum::<f64>()
        / (t - 1) as f64;
    assert!((lm_loss(&clean_logits, &b.ids.get(0)).unwrap() - by_hand).abs() < 1e-9);
    let v = m.cfg.vocab_size as i64;
    let uniform = Tensor::zeros([7, v], (Kind::Float, Device::Cpu));
    let u = lm_loss(&uniform, &Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6, 7])).unwrap();
    assert!((u - (v as f64).ln()).abs() < 1e-6, "uniform loss {u}");

    // ---- Check 5: GPT-Neo attention. A copy of the tiny model whose layers are all
    // global gives the same outputs as the local/global original when the sequence is no
    // longer than the window (4), and different ones when it is longer.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(neo_dir().join("config.json")).unwrap())
            .unwrap();
    let window = cfg["window_size"].as_i64().unwrap() as usize;
    cfg["attention_layers"] = serde_json::json!(vec!["global"; n]);
    cfg["attention_types"] = serde_json::json!([[["global"], n]]);
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(neo_dir().join(f), dir.path().join(f)).unwrap();
    }
    let g = HookedModel::from_pretrained(&dir.path().display().to_string(), Device::Cpu).unwrap();
    let all_ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
    let logits_of = |mm: &HookedModel, k: usize| {
        let bb = mm
            .batch_from_ids(&[all_ids[..k].to_vec()], PaddingSide::Right)
            .unwrap();
        mm.run(&bb, &RunOptions::default().logits(LogitsAt::All))
            .unwrap()
            .logits
            .unwrap()
    };
    assert!(maxabs(&logits_of(&m, window), &logits_of(&g, window)) < 1e-5);
    assert!(
        maxabs(&logits_of(&m, t), &logits_of(&g, t)) > 1e-4,
        "local mask inactive"
    );
    // no 1/sqrt(d_head): the scores are q·k exactly
    let opts = RunOptions::default().cache(Names::list(&[
        "blocks.0.attn.hook_q",
        "blocks.0.attn.hook_k",
        "blocks.0.attn.hook_attn_scores",
    ]));
    let c = m.run(&b, &opts).unwrap().cache;
    let q = c
        .get("blocks.0.attn.hook_q")
        .unwrap()
        .get(0)
        .transpose(0, 1); // [h, p, dh]
    let k = c
        .get("blocks.0.attn.hook_k")
        .unwrap()
        .get(0)
        .transpose(0, 1);
    let s = c.get("blocks.0.attn.hook_attn_scores").unwrap().get(0); // [h, p, p]
    let qk = q.matmul(&k.transpose(1, 2));
    let causal = Tensor::ones([t as i64, t as i64], (Kind::Bool, Device::Cpu)).tril(0);
    let diff = (s - qk)
        .masked_select(&causal)
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-4, "scores vs q·k: {diff}");

    // ---- Check 6: grayscale conversion (PIL integer rounding).
    assert_eq!(luma(255, 0, 0), 76);
    assert_eq!(luma(0, 255, 0), 150);
    assert_eq!(luma(0, 0, 255), 29);
    assert_eq!(luma(255, 255, 255), 255);
    let _ = first_above(&[50.0, 100.0], 99.0);
}
