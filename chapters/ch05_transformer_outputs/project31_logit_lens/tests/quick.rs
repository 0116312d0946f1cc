//! Runs project 31 in --quick mode (tiny random RoBERTa, offline) and checks the spec's
//! offline checks on what it wrote, against transformers' numbers recorded by
//! scripts/make_fixture.py (RobertaForMaskedLM, its tokenizer, `lm_head` on every hidden
//! state, numpy least squares) and against a second computation through common's API.
//! Check 5 (OLS on an exact line) and check 6's closed form are unit tests in src/lens.rs.

use common::testing::{assert_close, figure_series, json_f64s, read_csv, run_project, ProjectRun};
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use serde_json::Value;

const SENTENCE: &str = "The way you do anything is the way you do everything";

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny_roberta_lens.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(json_f64s).collect()
}

/// The points of one (panel, series) of a figure's CSV.
fn series(run: &ProjectRun, fig: &str, panel_prefix: &str, name: &str) -> Vec<(f64, f64)> {
    let s = figure_series(&run.file(&format!("{fig}.csv"))).unwrap();
    let hits: Vec<_> = s
        .iter()
        .filter(|((p, n), _)| p.starts_with(panel_prefix) && n == name)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{fig}: series {name:?} in panel {panel_prefix:?}"
    );
    hits[0].1.clone()
}

fn logsumexp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// OLS slope and intercept of y on √k in closed form: cov(x, y) / var(x).
fn sqrt_line(y: &[f64]) -> (f64, f64) {
    let x: Vec<f64> = (0..y.len()).map(|k| (k as f64).sqrt()).collect();
    let n = y.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let b1 = sxy / sxx;
    (my - b1 * mx, b1)
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project31_logit_lens"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["part1", "part2", "part3", "part5", "part6"] {
        run.check_figure(&format!("ch5_proj31_{f}")).unwrap();
    }
    let fx = fixture();
    let ids = u32s(&fx["ids"]);
    let masked = u32s(&fx["masked_ids"]);
    let mask_id = fx["mask_id"].as_u64().unwrap() as u32;
    let mask_pos = fx["mask_pos"].as_u64().unwrap() as usize;
    let n = ids.len();
    let n_hidden = fx["n_hidden"].as_u64().unwrap() as usize;
    let layer = fx["lens_layer"].as_u64().unwrap() as usize;
    assert_eq!((n, n_hidden, layer, mask_pos, mask_id), (16, 3, 1, 9, 4));

    // Check 3, tokeniser: the program's ids are transformers' (whose RoBERTa tokenizer
    // lets <mask> absorb the space before it); same length, one difference, at the mask;
    // <s> = 0 first and </s> = 2 last (the spec's ids); decoding round-trips.
    let (header, rows) = read_csv(&run.file("tokens.csv")).unwrap();
    assert_eq!(header, ["position", "id", "masked_id", "token"]);
    let got_ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let got_masked: Vec<u32> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(got_ids, ids);
    assert_eq!(got_masked, masked);
    let differ: Vec<usize> = (0..n).filter(|&i| got_ids[i] != got_masked[i]).collect();
    assert_eq!(differ, [mask_pos]);
    assert_eq!(got_masked[mask_pos], mask_id);
    assert_eq!((got_ids[0], got_ids[n - 1]), (0, 2));
    let tokens: Vec<String> = rows.iter().map(|r| r[3].clone()).collect();
    let want_tokens: Vec<String> = fx["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(tokens, want_tokens);
    assert_eq!(fx["decoded"].as_str().unwrap(), SENTENCE);
    let line = run.summary_line("Check 3: ").unwrap();
    assert!(
        line.contains(&format!(
            "decode without the special tokens = {SENTENCE:?} (round trip: true)"
        )),
        "{line}"
    );

    // Check 1: the lens on the last hidden state equals the model's MLM logits exactly.
    // The program's own comparison, then the same in this test through common's API, and
    // the lens against transformers' logits (which equal lm_head(H[-1]) exactly there).
    let diff = run
        .summary_value(&format!(
            "Check 1: max |lens(H[{}]) - MLM logits| = ",
            n_hidden - 1
        ))
        .unwrap();
    assert_eq!(diff, 0.0);
    assert_eq!(fx["check1_max_abs_diff"].as_f64().unwrap(), 0.0);
    let model = HookedModel::from_pretrained(
        &common::assets_dir()
            .join("models/tiny-roberta")
            .display()
            .to_string(),
        tch::Device::Cpu,
    )
    .unwrap();
    let batch = model
        .batch_from_ids(std::slice::from_ref(&ids), PaddingSide::Right)
        .unwrap();
    let last = format!("blocks.{}.hook_normalized_resid_post", n_hidden - 2);
    let r = model
        .run(
            &batch,
            &RunOptions::default()
                .cache(Names::list(&[last.as_str()]))
                .logits(LogitsAt::All),
        )
        .unwrap();
    let logits = r.logits.unwrap();
    let lens_last = model.logit_lens(r.cache.get(&last).unwrap()).unwrap();
    assert_eq!(lens_last.size(), logits.size());
    assert_eq!((&lens_last - &logits).abs().max().double_value(&[]), 0.0);
    let ours: Vec<f64> =
        Vec::<f64>::try_from(lens_last.to_kind(tch::Kind::Double).reshape([-1])).unwrap();
    let theirs: Vec<f64> = matrix(&fx["logits_unmasked"]).concat();
    assert_close(
        &ours,
        &theirs,
        1e-5,
        "lens(H[last]) vs transformers' MLM logits",
    )
    .unwrap();

    // Parts 1 and 2: the lens at layer n_hidden - 2 over the whole vocabulary (position 3
    // unmasked, the mask position masked), its argmax circled; check 2 on both rows.
    for (fig, key) in [
        ("ch5_proj31_part1", "part1_logsoftmax"),
        ("ch5_proj31_part2", "part2_logsoftmax"),
    ] {
        let want = json_f64s(&fx[key]);
        let pts = series(&run, fig, "Layer 1 lens", "series0");
        let xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
        assert_eq!(xs, (0..want.len()).map(|i| i as f64).collect::<Vec<_>>());
        assert_close(&ys, &want, 1e-5, fig).unwrap();
        assert!(
            logsumexp(&ys).abs() < 1e-9,
            "{fig}: logsumexp {}",
            logsumexp(&ys)
        );
        let best = (0..want.len())
            .max_by(|&a, &b| want[a].total_cmp(&want[b]))
            .unwrap();
        let circled = series(&run, fig, "Layer 1 lens", "argmax");
        assert_eq!(circled.len(), 1);
        assert_eq!(circled[0].0, best as f64, "{fig}: argmax");
        assert!((circled[0].1 - want[best]).abs() < 1e-5);
    }
    let p1 = run
        .summary_value("position 3: predicted log-softmax ")
        .unwrap();
    let want1 = json_f64s(&fx["part1_logsoftmax"]);
    let max1 = want1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!((p1 - max1).abs() < 1e-5, "{p1} vs {max1}");

    // Part 3: the laminar profile at the mask and its OLS fit on √k.
    let (header, rows) = read_csv(&run.file("part3_laminar.csv")).unwrap();
    assert_eq!(
        header,
        ["layer", "pred_id", "pred_token", "target_logsoftmax"]
    );
    assert_eq!(rows.len(), n_hidden);
    let target3: Vec<f64> = rows.iter().map(|r| r[3].parse().unwrap()).collect();
    let pred3: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let want3 = json_f64s(&fx["part3_target"]);
    assert_close(&target3, &want3, 1e-5, "Part 3 target").unwrap();
    assert_eq!(pred3, u32s(&fx["part3_pred"]));
    let (b0, b1) = (
        fx["part3_const"].as_f64().unwrap(),
        fx["part3_slope"].as_f64().unwrap(),
    );
    let (c0, c1) = sqrt_line(&want3);
    assert!((b0 - c0).abs() < 1e-9 && (b1 - c1).abs() < 1e-9);
    let line = run.summary_line("OLS target ~ 1 + sqrt(layer): ").unwrap();
    assert_eq!(
        line,
        format!("OLS target ~ 1 + sqrt(layer): const = {b0:.2}, slope = {b1:.2}")
    );
    let sign = if b1 < 0.0 { '−' } else { '+' };
    let fit_name = format!("ŷ = {b0:.3} {sign} {:.3}·√k", b1.abs());
    let fit = series(&run, "ch5_proj31_part3", "Log-probability", &fit_name);
    for (k, y) in &fit {
        assert!((y - (b0 + b1 * k.sqrt())).abs() < 1e-5, "fit at {k}");
    }
    let obs = series(&run, "ch5_proj31_part3", "Log-probability", "Observed");
    assert_close(
        &obs.iter().map(|p| p.1).collect::<Vec<_>>(),
        &want3,
        1e-5,
        "Part 3 observed",
    )
    .unwrap();
    for k in 0..n_hidden {
        let l = run.summary_line(&format!("Layer {k} lens: ")).unwrap();
        assert!(l.ends_with(" you do everything</s>"), "{l}");
    }

    // Check 4: masked copy i differs from the sentence exactly at position i.
    let (_, rows) = read_csv(&run.file("part4_sequences.csv")).unwrap();
    assert_eq!(rows.len(), n);
    for (i, r) in rows.iter().enumerate() {
        let seq: Vec<u32> = r[1].split(' ').map(|t| t.parse().unwrap()).collect();
        let differ: Vec<usize> = (0..n).filter(|&j| seq[j] != ids[j]).collect();
        assert_eq!(differ, [i], "sequence {i}");
        assert_eq!(seq[i], mask_id);
        assert_eq!(seq, u32s(&fx["part4_sequences"][i]));
    }

    // Part 5: target, max log-prob and argmax at every (layer, masked position), against
    // transformers; check 2's target <= max cell by cell; the slopes on √k.
    let (_, rows) = read_csv(&run.file("part5_lens.csv")).unwrap();
    assert_eq!(rows.len(), n * n_hidden);
    let (wt, wm, wp) = (
        matrix(&fx["part5_target"]),
        matrix(&fx["part5_maxlp"]),
        fx["part5_pred"].clone(),
    );
    for r in &rows {
        let (i, k): (usize, usize) = (r[0].parse().unwrap(), r[1].parse().unwrap());
        let (t, m): (f64, f64) = (r[5].parse().unwrap(), r[6].parse().unwrap());
        assert!(
            (t - wt[k][i]).abs() < 1e-5,
            "target [{k}][{i}] {t} vs {}",
            wt[k][i]
        );
        assert!(
            (m - wm[k][i]).abs() < 1e-5,
            "max [{k}][{i}] {m} vs {}",
            wm[k][i]
        );
        assert_eq!(
            r[3].parse::<u64>().unwrap(),
            wp[k][i].as_u64().unwrap(),
            "pred [{k}][{i}]"
        );
        assert_eq!(r[2], want_tokens[i]);
        assert!(t <= m, "target above max at [{k}][{i}]");
    }
    let line = run
        .summary_line("Check 2: target > max log-softmax in ")
        .unwrap();
    assert_eq!(
        line,
        format!(
            "Check 2: target > max log-softmax in 0 of {} (layer, position) cells",
            n * n_hidden
        )
    );
    let lse = run
        .summary_value("Check 2: max |logsumexp| of the lens rows = ")
        .unwrap();
    assert!(lse < 1e-12, "{lse}");
    for (name, key, m) in [
        ("Target", "part5_slope_target", &wt),
        ("Max token", "part5_slope_max", &wm),
    ] {
        let got: Vec<f64> = series(&run, "ch5_proj31_part5", "C)", name)
            .iter()
            .map(|p| p.1)
            .collect();
        assert_close(&got, &json_f64s(&fx[key]), 1e-5, name).unwrap();
        let closed: Vec<f64> = (0..n)
            .map(|i| sqrt_line(&m.iter().map(|r| r[i]).collect::<Vec<_>>()).1)
            .collect();
        assert_close(&got, &closed, 1e-5, name).unwrap();
    }
    // Heatmaps: row r of the drawn matrix is layer n_hidden-1-r (layer 0 at the bottom).
    let (_, cells) = read_csv(&run.file("ch5_proj31_part5.csv")).unwrap();
    let mut seen = 0;
    for c in cells.iter().filter(|c| c[2] == "heatmap") {
        let (i, r): (usize, usize) = (c[3].parse().unwrap(), c[4].parse().unwrap());
        let v: f64 = c[5].parse().unwrap();
        let want = if c[0].starts_with("A)") { &wt } else { &wm };
        assert!((v - want[n_hidden - 1 - r][i]).abs() < 1e-5, "{c:?}");
        seen += 1;
    }
    assert_eq!(seen, 2 * n * n_hidden);

    // Check 6 and Part 6: min-max scaling of the max log-prob matrix, min -> 0, max -> 1,
    // and each cell (v - min) / (max - min) of transformers' matrix.
    let (_, rows) = read_csv(&run.file("part6_text_heat_map.csv")).unwrap();
    assert_eq!(rows.len(), n * n_hidden);
    let scaled: Vec<f64> = rows.iter().map(|r| r[5].parse().unwrap()).collect();
    let lo = scaled.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!((lo, hi), (0.0, 1.0));
    let flat: Vec<f64> = wm.concat();
    let (mlo, mhi) = (
        flat.iter().copied().fold(f64::INFINITY, f64::min),
        flat.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    for r in &rows {
        let (k, i): (usize, usize) = (r[0].parse().unwrap(), r[1].parse().unwrap());
        let s: f64 = r[5].parse().unwrap();
        assert!(
            (s - (wm[k][i] - mlo) / (mhi - mlo)).abs() < 1e-5,
            "scaled [{k}][{i}]"
        );
        assert_eq!(r[2].parse::<u64>().unwrap(), wp[k][i].as_u64().unwrap());
    }
    // The figure: one text per (layer, position) at (i/n, 1 - k/n_hidden) plus the layer
    // names and the bold target row.
    let (_, items) = read_csv(&run.file("ch5_proj31_part6.csv")).unwrap();
    let texts: Vec<&Vec<String>> = items.iter().filter(|c| c[2] == "text").collect();
    assert_eq!(texts.len(), n * n_hidden + n_hidden + 1 + n);
    for k in 0..n_hidden {
        for i in 0..n {
            let (x, y) = (i as f64 / n as f64, 1.0 - k as f64 / n_hidden as f64);
            assert!(
                texts
                    .iter()
                    .any(|c| (c[3].parse::<f64>().unwrap() - x).abs() < 1e-12
                        && (c[4].parse::<f64>().unwrap() - y).abs() < 1e-12),
                "no text at layer {k}, position {i}"
            );
        }
    }
}
