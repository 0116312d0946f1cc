//! Runs the project in --quick mode (tiny random GPT-2 and RoBERTa, the 12 written
//! items, offline) and checks the spec's offline checks:
//! 1. McNemar's statistic and p on the spec's tables, b + c = 0 without a panic, and
//!    Part 6's table recomputed from the per-item correctness.
//! 2. Padding invariance: the run's per-ending scores (one padded 4-prompt batch) equal
//!    four unpadded single runs recomputed here, on the tiny GPT-2 and RoBERTa (1e-5),
//!    and transformers' padded batch (the fixture, 1e-4).
//! 3. Slice alignment on synthetic log-probabilities (GPT-2 and RoBERTa conventions).
//! 4. The decision rule: an oracle scores 100%, ties pick index 0.
//! 5. Parameter counts from the four real configs.

#[allow(dead_code)]
#[path = "../src/params.rs"]
mod params;
#[allow(dead_code)]
#[path = "../src/quick_items.rs"]
mod quick_items;
#[allow(dead_code)]
#[path = "../src/scoring.rs"]
mod scoring;

use common::testing::{assert_close, figure_series, json_f64s, read_csv, run_project, ProjectRun};
use common::{HookedModel, LogitsAt, PaddingSide, RunOptions};
use std::path::PathBuf;
use tch::{Kind, Tensor};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> serde_json::Value {
    let p = crate_dir().join("tests/fixtures/reference_scores.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn quick_run() -> ProjectRun {
    run_project(
        env!("CARGO_BIN_EXE_project22_hellaswag_eval"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap()
}

/// The run's part5_scores.csv rows of one model: (item, scores, target, prediction, correct).
fn scores_of(run: &ProjectRun, model: &str) -> Vec<(usize, [f64; 4], usize, usize, bool)> {
    let (header, rows) = read_csv(&run.file("part5_scores.csv")).unwrap();
    assert_eq!(
        header,
        [
            "item",
            "model",
            "score_0",
            "score_1",
            "score_2",
            "score_3",
            "target",
            "prediction",
            "correct"
        ]
    );
    rows.iter()
        .filter(|r| r[1] == model)
        .map(|r| {
            let s = |k: usize| r[2 + k].parse::<f64>().unwrap();
            (
                r[0].parse().unwrap(),
                [s(0), s(1), s(2), s(3)],
                r[6].parse().unwrap(),
                r[7].parse().unwrap(),
                r[8] == "1",
            )
        })
        .collect()
}

/// Score one ending by the recipe, here on its own (no padding): full logits of the one
/// prompt, log-softmax in float64, mean of log p(token[i+1] | ≤ i) for i from
/// context_len − 1 to the second-to-last token.
fn unpadded_score(model: &HookedModel, ctx: &str, ending: &str) -> f64 {
    let tok = &model.tokenizer;
    let context_len = tok.encode_with_special_tokens(ctx).unwrap().len();
    let ids = tok
        .encode_with_special_tokens(&format!("{ctx} {ending}"))
        .unwrap();
    let batch = model
        .batch_from_ids(std::slice::from_ref(&ids), PaddingSide::Right)
        .unwrap();
    assert_eq!(
        batch.seq_len() as usize,
        ids.len(),
        "a batch of one has no padding"
    );
    let logits = model
        .run(&batch, &RunOptions::default().logits(LogitsAt::All))
        .unwrap()
        .logits
        .unwrap();
    let logp = logits
        .get(0)
        .to_kind(Kind::Double)
        .log_softmax(-1, Kind::Double);
    let vals: Vec<f64> = (context_len - 1..ids.len() - 1)
        .map(|i| logp.double_value(&[i as i64, ids[i + 1] as i64]))
        .collect();
    vals.iter().sum::<f64>() / vals.len() as f64
}

/// The first index of the maximum, written out here.
fn first_argmax(s: &[f64; 4]) -> usize {
    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    s.iter().position(|&x| x == m).unwrap()
}

/// 1 df chi-square survival function: erfc(sqrt(x / 2)).
fn chi2_sf_1df(x: f64) -> f64 {
    statrs::function::erf::erfc((x / 2.0).sqrt())
}

#[test]
fn quick_run_checks() {
    let run = quick_run();
    for f in ["part3", "part5a", "part5b", "part6"] {
        run.check_figure(&format!("ch4_proj22_{f}")).unwrap();
    }
    let items = quick_items::quick_items().unwrap();
    assert_eq!(items.len(), 12);
    let fx = fixture();

    // --- 2. Padding invariance, and the recipe against transformers -------------------
    let assets = common::assets_dir().join("models");
    // Each ending on its own, once per tiny model (the quick run uses each for two slots).
    let unpadded = |dir: &str| -> Vec<Vec<f64>> {
        let model =
            HookedModel::from_pretrained(assets.join(dir).to_str().unwrap(), tch::Device::Cpu)
                .unwrap();
        items
            .iter()
            .map(|it| {
                it.endings
                    .iter()
                    .map(|e| unpadded_score(&model, &it.ctx, e))
                    .collect()
            })
            .collect()
    };
    let (single_gpt2, single_roberta) = (unpadded("tiny-gpt2"), unpadded("tiny-roberta"));
    for (key, single, fx_key) in [
        ("GPT-s", &single_gpt2, "gpt2"),
        ("GPT-l", &single_gpt2, "gpt2"),
        ("RoB-s", &single_roberta, "roberta"),
        ("RoB-l", &single_roberta, "roberta"),
    ] {
        let got = scores_of(&run, key);
        assert_eq!(got.len(), 12, "{key}: one row per item");
        let reference = fx[fx_key]["scores"].as_array().unwrap();
        for (j, (item_no, scores, target, pred, correct)) in got.iter().enumerate() {
            assert_eq!(*item_no, j);
            let it = &items[j];
            assert_close(
                scores,
                &single[j],
                1e-5,
                &format!("{key} item {j}: padded vs unpadded"),
            )
            .unwrap();
            assert_close(
                scores,
                &json_f64s(&reference[j]),
                1e-4,
                &format!("{key} item {j}: vs transformers"),
            )
            .unwrap();
            assert_eq!(*target, it.label);
            // 4. the decision: the first index of the highest score
            assert_eq!(*pred, first_argmax(scores), "{key} item {j}");
            assert_eq!(*correct, pred == target);
        }
        // Part 5's printed accuracy from the fixture's scores.
        let right = reference
            .iter()
            .zip(items.iter())
            .filter(|(s, it)| {
                let s = json_f64s(s);
                first_argmax(&[s[0], s[1], s[2], s[3]]) == it.label
            })
            .count();
        let name = match key {
            "GPT-s" => "GPT2 small",
            "GPT-l" => "GPT2 large",
            "RoB-s" => "RoBERTa small",
            _ => "RoBERTa large",
        };
        let pct = run.summary_value(&format!("accuracy {name}: ")).unwrap();
        assert!(
            (pct - (100.0 * right as f64 / 12.0 * 10.0).round() / 10.0).abs() < 1e-9,
            "{name}: {pct} vs {right}/12"
        );
    }

    // Part 3: the two curves as transformers computes them, the context boundary, the
    // shared context identical.
    let s3 = figure_series(&run.file("ch4_proj22_part3.csv")).unwrap();
    let curve = |prefix: &str| -> Vec<f64> {
        let (_, pts) = s3
            .iter()
            .find(|((_, s), _)| s.starts_with(prefix))
            .unwrap_or_else(|| panic!("series {prefix}"));
        pts.iter().map(|p| p.1).collect()
    };
    let (cw, cc) = (curve("Incorrect"), curve("Correct"));
    assert_close(
        &cc,
        &json_f64s(&fx["part3"]["correct"]),
        1e-4,
        "Part 3 correct",
    )
    .unwrap();
    assert_close(
        &cw,
        &json_f64s(&fx["part3"]["incorrect"]),
        1e-4,
        "Part 3 incorrect",
    )
    .unwrap();
    let n_ctx = fx["part3"]["context_len"].as_u64().unwrap() as usize;
    let (_, rows3) = read_csv(&run.file("ch4_proj22_part3.csv")).unwrap();
    let vlines: Vec<f64> = rows3
        .iter()
        .filter(|r| r[2] == "vline")
        .map(|r| r[3].parse().unwrap())
        .collect();
    assert_eq!(vlines, [n_ctx as f64 - 1.5], "the context boundary");
    assert_eq!(&cc[..n_ctx - 1], &cw[..n_ctx - 1], "shared context");
    assert_ne!(cc[n_ctx - 1], cw[n_ctx - 1], "the endings differ");
    let mean = |v: &[f64]| v[n_ctx - 1..].iter().sum::<f64>() / (v.len() - n_ctx + 1) as f64;
    let sc = run.summary_value("score of the correct ending: ").unwrap();
    let sw = run
        .summary_value("score of the incorrect ending: ")
        .unwrap();
    assert!((sc - mean(&cc)).abs() < 6e-4 && (sw - mean(&cw)).abs() < 6e-4);
    assert!(run
        .summary()
        .contains("ln(0.01·0.003) = -10.414 = ln 0.01 + ln 0.003"));

    // --- 1. McNemar ---------------------------------------------------------------------
    use common::ml::hypothesis::mcnemar;
    let t = mcnemar([[0, 10], [2, 0]]).unwrap();
    assert!((t.statistic - 4.0833).abs() < 1e-4 && (t.pvalue - 0.04331).abs() < 1e-5);
    let t = mcnemar([[3, 5], [5, 7]]).unwrap();
    assert!((t.statistic - 0.1).abs() < 1e-12 && (t.pvalue - 0.7518).abs() < 1e-4);
    let t = mcnemar([[7, 0], [0, 9]]).unwrap(); // b + c = 0: documented as statistic 0, p 1
    assert_eq!((t.statistic, t.pvalue), (0.0, 1.0));
    // Part 6's table from the per-item correctness of part5_scores.csv.
    let keys = ["GPT-s", "GPT-l", "RoB-s", "RoB-l"];
    let correct: Vec<Vec<bool>> = keys
        .iter()
        .map(|k| scores_of(&run, k).iter().map(|r| r.4).collect())
        .collect();
    let (header, rows) = read_csv(&run.file("part6_mcnemar.csv")).unwrap();
    assert_eq!(
        header[..4],
        [
            "model_i",
            "model_j",
            "b_i_wrong_j_right",
            "c_i_right_j_wrong"
        ]
    );
    assert_eq!(rows.len(), 6);
    let (hr, hrows) = read_csv(&run.file("ch4_proj22_part6.csv")).unwrap();
    assert_eq!(hr[2], "kind");
    let cells: Vec<(usize, usize, f64)> = hrows
        .iter()
        .filter(|r| r[2] == "heatmap")
        .map(|r| {
            (
                r[4].parse().unwrap(),
                r[3].parse().unwrap(),
                r[5].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(cells.len(), 16);
    let texts: Vec<(usize, usize, String)> = hrows
        .iter()
        .filter(|r| r[2] == "text")
        .map(|r| (r[4].parse().unwrap(), r[3].parse().unwrap(), r[5].clone()))
        .collect();
    let mut k = 0;
    for i in 0..4 {
        for j in 0..4 {
            let cell = cells.iter().find(|c| c.0 == i && c.1 == j).unwrap().2;
            if j <= i {
                assert!(
                    cell.is_nan(),
                    "lower triangle and diagonal are NaN ({i},{j})"
                );
                continue;
            }
            let r = &rows[k];
            k += 1;
            assert_eq!((r[0].as_str(), r[1].as_str()), (keys[i], keys[j]));
            let b = (0..12).filter(|&n| !correct[i][n] && correct[j][n]).count() as f64;
            let c = (0..12).filter(|&n| correct[i][n] && !correct[j][n]).count() as f64;
            assert_eq!(
                (r[2].parse::<f64>().unwrap(), r[3].parse::<f64>().unwrap()),
                (b, c)
            );
            let (stat, p) = if b + c == 0.0 {
                (0.0, 1.0)
            } else {
                let s = ((b - c).abs() - 1.0).powi(2) / (b + c);
                (s, chi2_sf_1df(s))
            };
            assert!((r[4].parse::<f64>().unwrap() - stat).abs() < 1e-9);
            assert!((r[5].parse::<f64>().unwrap() - p).abs() < 1e-9);
            let acc = |m: usize| correct[m].iter().filter(|&&x| x).count() as f64 / 12.0;
            let d = 100.0 * (acc(i) - acc(j));
            if d == 0.0 {
                assert!(
                    cell.is_nan(),
                    "an exactly zero difference is NaN (the quirk)"
                );
                assert!(!texts.iter().any(|t| t.0 == i && t.1 == j));
            } else {
                assert!((cell - d).abs() < 1e-9, "({i},{j}) {cell} vs {d}");
                let star = if p < 0.05 / 6.0 { "*" } else { "" };
                let t = texts.iter().find(|t| t.0 == i && t.1 == j).unwrap();
                assert_eq!(t.2, format!("{d:.1}{star}"));
            }
        }
    }

    // Part 5b: each point is (number of models right)/4 plus jitter of σ 0.005.
    let s5b = figure_series(&run.file("ch4_proj22_part5b.csv")).unwrap();
    let (_, pts) = s5b.iter().next().unwrap();
    assert_eq!(pts.len(), 12);
    for (n, (x, y)) in pts.iter().enumerate() {
        assert_eq!(*x, n as f64);
        let right = (0..4).filter(|&m| correct[m][n]).count() as f64 / 4.0;
        assert!((y - right).abs() < 0.03, "item {n}: {y} vs {right}");
    }
    // Part 5a: one bar per model at its accuracy.
    let s5a = figure_series(&run.file("ch4_proj22_part5a.csv")).unwrap();
    let bars = &s5a[&("HellaSwag accuracy".to_string(), "accuracy".to_string())];
    for (m, (x, h)) in bars.iter().enumerate() {
        assert_eq!(*x, m as f64);
        let want = 100.0 * correct[m].iter().filter(|&&c| c).count() as f64 / 12.0;
        assert!((h - want).abs() < 1e-9);
    }

    // --- 5. Parameter counts: the tiny models' rows from their tensors' shapes ----------
    let (_, p1) = read_csv(&run.file("part1_models.csv")).unwrap();
    for (row, dir) in p1
        .iter()
        .zip(["tiny-gpt2", "tiny-gpt2", "tiny-roberta", "tiny-roberta"])
    {
        let bytes = std::fs::read(assets.join(dir).join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        // every stored tensor (tied matrices are stored once, no pooler here)
        let n: usize = st
            .tensors()
            .iter()
            .map(|(_, t)| t.shape().iter().product::<usize>())
            .sum();
        assert_eq!(row[5], n.to_string(), "{dir}");
    }
    let book = run
        .summary_line("the book's models from their config.json shapes (no weights): ")
        .unwrap();
    assert!(book.ends_with(
        "gpt2 124,439,808, gpt2-large 774,030,080, roberta-base 124,697,433, roberta-large 355,412,057"
    ));
}

#[test]
fn parameter_counts_from_the_real_configs() {
    let want = [
        ("gpt2", 124_439_808),
        ("gpt2-large", 774_030_080),
        ("roberta-base", 124_697_433),
        ("roberta-large", 355_412_057),
    ];
    for ((name, text), (wname, n)) in params::BOOK_CONFIGS.iter().zip(want) {
        assert_eq!(*name, wname);
        let cfg: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(params::config_param_count(&cfg).unwrap(), Some(n), "{name}");
        // common reads them as the models it would load
        let path = crate_dir().join(format!("data/book_configs/{name}.json"));
        common::model::ModelConfig::from_file(&path).unwrap();
    }
}

/// Padded ids of prompts: context c, ending e, then pads.
fn pad_rows(rows: &[Vec<i64>], pad: i64) -> Vec<Vec<i64>> {
    let w = rows.iter().map(Vec::len).max().unwrap();
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            r.resize(w, pad);
            r
        })
        .collect()
}

#[test]
fn slice_alignment_on_synthetic_log_probs() {
    // GPT-2 convention: n = 5 context tokens, endings of 1..4 tokens, pad = 50.
    let (n, pad, v) = (5usize, 50i64, 60i64);
    let ctx: Vec<i64> = (10..10 + n as i64).collect();
    let rows: Vec<Vec<i64>> = (1..=4)
        .map(|m| {
            let mut r = ctx.clone();
            r.extend((0..m).map(|k| 20 + k));
            r
        })
        .collect();
    let ids = pad_rows(&rows, pad);
    let w = ids[0].len();
    // −1 wherever the predicted token (position i + 1) is inside the context, −3 where it
    // is an ending token (or a pad, never read).
    let mut vals = vec![0f64; 4 * w * v as usize];
    for r in 0..4 {
        for i in 0..w {
            let x = if i + 1 < n { -1.0 } else { -3.0 };
            for t in 0..v as usize {
                vals[(r * w + i) * v as usize + t] = x;
            }
        }
    }
    let logp = Tensor::from_slice(&vals).view([4, w as i64, v]);
    let scores = scoring::ending_scores(&logp, 0, &ids, pad, &[n; 4]).unwrap();
    assert_eq!(scores, vec![-3.0; 4]);
    // The scored positions predict exactly the m ending tokens.
    for (m, row) in ids.iter().enumerate() {
        let pos = scoring::scored_positions(row, pad, n);
        let targets: Vec<i64> = pos.iter().map(|&i| row[i + 1]).collect();
        assert_eq!(
            targets,
            (0..m as i64 + 1).map(|k| 20 + k).collect::<Vec<_>>()
        );
    }
    // The same from a slice of the slots (what the run computes): slots 3.. only.
    let part = logp.narrow(1, 3, w as i64 - 3);
    assert_eq!(
        scoring::ending_scores(&part, 3, &ids, pad, &[n; 4]).unwrap(),
        vec![-3.0; 4]
    );

    // RoBERTa convention: <s>=0 c1..cn e1..em </s>=2, pad 1, context_len = n + 2.
    let (bos, eos, rpad) = (0i64, 2i64, 1i64);
    let rows: Vec<Vec<i64>> = (1..=4)
        .map(|m| {
            let mut r = vec![bos];
            r.extend(10..10 + n as i64);
            r.extend((0..m).map(|k| 20 + k));
            r.push(eos);
            r
        })
        .collect();
    let ids = pad_rows(&rows, rpad);
    let w = ids[0].len();
    for (mi, row) in ids.iter().enumerate() {
        let m = mi as i64 + 1;
        let targets: Vec<i64> = scoring::scored_positions(row, rpad, n + 2)
            .iter()
            .map(|&i| row[i + 1])
            .collect();
        // ending tokens 2..m, then </s>
        let mut want: Vec<i64> = (1..m).map(|k| 20 + k).collect();
        want.push(eos);
        assert_eq!(targets, want, "m = {m}");
    }
    // With log p = −(id of the predicted token) / 100 everywhere, each score is minus
    // the mean of those ids / 100.
    let mut vals = vec![0f64; 4 * w * v as usize];
    for r in 0..4 {
        for i in 0..w {
            for t in 0..v as usize {
                vals[(r * w + i) * v as usize + t] = -(t as f64) / 100.0;
            }
        }
    }
    let logp = Tensor::from_slice(&vals).view([4, w as i64, v]);
    let scores = scoring::ending_scores(&logp, 0, &ids, rpad, &[n + 2; 4]).unwrap();
    for (mi, s) in scores.iter().enumerate() {
        let m = mi as i64 + 1;
        let mut t: Vec<f64> = (1..m).map(|k| (20 + k) as f64).collect();
        t.push(eos as f64);
        let want = -t.iter().sum::<f64>() / t.len() as f64 / 100.0;
        assert!((s - want).abs() < 1e-12, "m = {m}: {s} vs {want}");
    }
}

#[test]
fn decision_rule() {
    let items = quick_items::quick_items().unwrap();
    let labels: Vec<usize> = items.iter().map(|i| i.label).collect();
    // an oracle: the highest score at the label
    let oracle: Vec<[f64; 4]> = labels
        .iter()
        .map(|&l| {
            let mut s = [-5.0; 4];
            s[l] = -1.0;
            s
        })
        .collect();
    assert_eq!(scoring::accuracy(&oracle, &labels), 1.0);
    // all four equal: index 0 is chosen, so accuracy is the share of label 0
    let ties = vec![[-2.5; 4]; labels.len()];
    let share0 = labels.iter().filter(|&&l| l == 0).count() as f64 / labels.len() as f64;
    assert_eq!(scoring::accuracy(&ties, &labels), share0);
    assert_eq!(share0, 0.25);
    assert_eq!(scoring::predict(&[-1.0, -0.5, -0.5, -2.0]), 1);
    assert_eq!(scoring::predict(&[f64::NAN, -3.0, -0.5, -0.5]), 2);
}

#[test]
fn batching_items_changes_nothing() {
    // 5 items (20 prompts of different contexts) per forward pass vs one at a time.
    let one = quick_run();
    let batched = run_project(
        env!("CARGO_BIN_EXE_project22_hellaswag_eval"),
        &["--quick", "--device", "cpu", "--batch-items", "5"],
    )
    .unwrap();
    assert!(batched.summary().contains("(5 item(s) per forward pass)"));
    for key in ["GPT-s", "RoB-s"] {
        let (a, b) = (scores_of(&one, key), scores_of(&batched, key));
        assert_eq!(a.len(), 12);
        for (x, y) in a.iter().zip(&b) {
            assert_close(&x.1, &y.1, 1e-5, &format!("{key} item {}", x.0)).unwrap();
        }
    }
}
