//! Runs the project in --quick mode (tiny random GPT-2, offline) and checks the spec's
//! offline checks. The patched runs are recomputed here another way: full forward
//! passes through common's hook API (a `Hook::replace` at `blocks.L.hook_resid_post`,
//! no `start_at`), and the final LayerNorm by hand from the weights in f64.

use common::cli::tiny_gpt2;
use common::ml::curve_fit::{fit_sigmoid, sigmoid};
use common::testing::{figure_series, read_csv, reference, run_project};
use common::{Hook, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use ndarray::Array1;
use tch::{Kind, Tensor};

// The spec's token ids (GPT-2's tokenizer).
const IDS_ME: [u32; 14] = [
    2215, 4995, 290, 18966, 1816, 284, 262, 26725, 11, 4995, 2921, 257, 6891, 284,
];
const MIKE: u32 = 4995;
const EMMA: u32 = 18966;

fn ids_em() -> Vec<u32> {
    let mut v = IDS_ME.to_vec();
    v[9] = EMMA;
    v
}

fn vec64(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

struct Run {
    logits: Tensor, // [1, pos, vocab]
    hs: Vec<Tensor>,
    resid_post: Vec<Tensor>,
}

/// A full forward pass (all positions' logits, every hidden state and every raw block
/// output), optionally with hooks.
fn full_run(model: &HookedModel, ids: &[u32], hooks: &[Hook]) -> Run {
    let batch = model
        .batch_from_ids(&[ids.to_vec()], PaddingSide::Right)
        .unwrap();
    let names = Names::list(&model.hidden_state_names()).and("blocks.*.hook_resid_post");
    let mut out = model
        .run(
            &batch,
            &RunOptions::default()
                .cache(names)
                .hooks(hooks)
                .logits(LogitsAt::All),
        )
        .unwrap();
    let n = model.cfg.n_layers;
    let resid_post = (0..n)
        .map(|l| {
            out.cache
                .get(&format!("blocks.{l}.hook_resid_post"))
                .unwrap()
                .shallow_clone()
        })
        .collect();
    let hs = model.take_hidden_states(&mut out.cache).unwrap();
    Run {
        logits: out.logits.unwrap(),
        hs,
        resid_post,
    }
}

fn patch_hook(layer: usize, src: &Tensor, d: i64) -> Hook {
    Hook::replace(
        &format!("blocks.{layer}.hook_resid_post"),
        src.view([1, 1, d]),
    )
    .positions(&[-1])
}

fn last(run: &Run) -> Vec<f64> {
    vec64(&run.logits.get(0).get(-1))
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project32_ioi_patching"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["part1", "part2", "part3", "part4a", "part4b", "part5"] {
        run.check_figure(&format!("ch5_proj32_{f}")).unwrap();
    }

    // Check 6: the tokeniser gives the spec's ids.
    let tok = common::tokenizer::Tokenizer::gpt2();
    assert_eq!(tok.encode(" Mike").unwrap(), vec![MIKE]);
    assert_eq!(tok.encode(" Emma").unwrap(), vec![EMMA]);
    let (_, rows) = read_csv(&run.file("part1_tokens.csv")).unwrap();
    let me: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let em: Vec<u32> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(me, IDS_ME.to_vec());
    assert_eq!(em, ids_em());

    let model = HookedModel::from_pretrained(&tiny_gpt2(), tch::Device::Cpu).unwrap();
    let (n, d, t) = (model.cfg.n_layers, model.cfg.d_model as i64, 14i64);
    assert_eq!(n, 3);
    let clean_me = full_run(&model, &IDS_ME, &[]);
    let clean_em = full_run(&model, &ids_em(), &[]);
    let (lme, lem) = (last(&clean_me), last(&clean_em));
    let ioi = |l: &[f64]| l[MIKE as usize] - l[EMMA as usize];

    // Check 4: antisymmetry, and Part 1's scores and logits as the program reports them.
    assert_eq!(lem[EMMA as usize] - lem[MIKE as usize], -ioi(&lem));
    assert!((run.summary_value("IOI_EM = ").unwrap() - ioi(&lem)).abs() < 6e-4);
    assert!((run.summary_value("IOI_ME = ").unwrap() - ioi(&lme)).abs() < 6e-4);
    let s1 = figure_series(&run.file("ch5_proj32_part1.csv")).unwrap();
    let panel_a = &s1[&(
        "A) Emma gave a coffee to...".to_string(),
        "All tokens".to_string(),
    )];
    let csv_em: Vec<f64> = panel_a.iter().map(|p| p.1).collect();
    common::testing::assert_close(&csv_em, &lem, 1e-5, "Part 1 EM logits").unwrap();
    assert!(((csv_em[EMMA as usize] - csv_em[MIKE as usize]) + ioi(&lem)).abs() < 1e-5);

    // Check 1: patching EM with its own hidden state is an exact no-op (L < n-1).
    for l in 0..n - 1 {
        let own = clean_em.hs[l + 1].get(0).get(t - 1);
        let p = full_run(&model, &ids_em(), &[patch_hook(l, &own, d)]);
        assert_eq!(
            max_abs_diff(&p.logits, &clean_em.logits),
            0.0,
            "self-patch L{l} logits"
        );
        for k in 0..=n {
            assert_eq!(
                max_abs_diff(&p.hs[k], &clean_em.hs[k]),
                0.0,
                "self-patch L{l} H[{k}]"
            );
        }
    }
    let line = run.summary_line("Self-patch").unwrap();
    let v: f64 = line.rsplit("= ").next().unwrap().parse().unwrap();
    assert_eq!(v, 0.0, "{line}");

    // Check 2 and Part 3: the sweep recomputed by full hooked runs.
    let (_, check) = read_csv(&run.file("part3_check.csv")).unwrap();
    assert_eq!(check.len(), n);
    let mut patched_last = Vec::new();
    for (l, row) in check.iter().enumerate() {
        let src = clean_me.hs[l + 1].get(0).get(t - 1);
        let p = full_run(&model, &ids_em(), &[patch_hook(l, &src, d)]);
        let score = ioi(&last(&p));
        let got: f64 = row[3].parse().unwrap();
        assert!((got - score).abs() < 2e-6, "IOI[{l}]: {got} vs {score}");
        let dist = |pos: i64| {
            let a = vec64(&p.hs[l + 1].get(0).get(pos));
            let b = vec64(&clean_me.hs[l + 1].get(0).get(pos));
            reference::norm(&a.iter().zip(&b).map(|(x, y)| x - y).collect::<Vec<_>>())
        };
        let (c0, c1): (f64, f64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
        assert!((c0 - dist(t - 2)).abs() < 1e-6 * (1.0 + c0), "check[{l},0]");
        assert!(c0 > 1e-3, "check[{l},0] = {c0} should be non-zero");
        if l + 1 < n {
            assert_eq!(c1, 0.0, "check[{l},1]");
            // H[L+1] at T-1 is the source; earlier positions and layers are untouched.
            assert_eq!(max_abs_diff(&p.hs[l + 1].get(0).get(t - 1), &src), 0.0);
            for k in 0..=n {
                let early = |h: &Tensor| h.narrow(1, 0, t - 1);
                assert_eq!(max_abs_diff(&early(&p.hs[k]), &early(&clean_em.hs[k])), 0.0);
                if k <= l {
                    assert_eq!(max_abs_diff(&p.hs[k], &clean_em.hs[k]), 0.0, "H[{k}] L{l}");
                }
            }
        } else {
            assert!((c1 - dist(t - 1)).abs() < 1e-6 * (1.0 + c1), "check[{l},1]");
            assert!(c1 > 1e-3, "check[{l},1] = {c1} should be non-zero");
        }
        patched_last.push(last(&p));
    }

    // Check 3: the last block. ln_f has non-trivial gain and bias in the tiny model.
    let weights = Tensor::read_safetensors(tiny_gpt2() + "/model.safetensors").unwrap();
    let get = |name: &str| vec64(&weights.iter().find(|(k, _)| k == name).unwrap().1);
    let (gain, bias) = (get("transformer.ln_f.weight"), get("transformer.ln_f.bias"));
    assert!(gain.iter().any(|g| (g - 1.0).abs() > 0.02) && bias.iter().any(|b| b.abs() > 0.02));
    let last_l = n - 1;
    // The raw block output of ME: a no-op on the last position's logits (they become ME's).
    let raw = clean_me.resid_post[last_l].get(0).get(t - 1);
    let p_raw = full_run(&model, &ids_em(), &[patch_hook(last_l, &raw, d)]);
    common::testing::assert_close(&last(&p_raw), &lme, 1e-5, "raw last-block patch").unwrap();
    // The reported (ln_f-applied) H[n]: ln_f twice; check[n-1,1] = ‖LN(h) − h‖ by hand.
    let h = vec64(&clean_me.hs[n].get(0).get(t - 1));
    let mean = h.iter().sum::<f64>() / h.len() as f64;
    let var = h.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / h.len() as f64;
    let ln: Vec<f64> = (0..h.len())
        .map(|i| (h[i] - mean) / (var + 1e-5).sqrt() * gain[i] + bias[i])
        .collect();
    let want = reference::norm(&ln.iter().zip(&h).map(|(a, b)| a - b).collect::<Vec<_>>());
    let c1: f64 = check[last_l][2].parse().unwrap();
    assert!(
        (c1 - want).abs() < 1e-4 * want,
        "double ln_f: {c1} vs {want}"
    );
    let dmax = patched_last[last_l]
        .iter()
        .zip(&lme)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        dmax > 1e-3,
        "patching with the reported H[n] must not equal ME: {dmax}"
    );

    // Part 2 (block n-2): the patched score and the 20 largest |Δ|.
    let l2 = n - 2;
    let patched = run
        .summary_value(&format!("Patched IOI (block {l2}) = "))
        .unwrap();
    assert!((patched - ioi(&patched_last[l2])).abs() < 6e-4);
    let delta: Vec<f64> = lem
        .iter()
        .zip(&patched_last[l2])
        .map(|(a, b)| a - b)
        .collect();
    let abs: Vec<f64> = delta.iter().map(|v| v.abs()).collect();
    let top = reference::extreme_indices(&abs, 20, true);
    let (_, rows) = read_csv(&run.file("part2_top20.csv")).unwrap();
    assert_eq!(rows.len(), 20);
    for (r, &i) in rows.iter().zip(&top) {
        assert_eq!(r[0], i.to_string());
        assert!((r[2].parse::<f64>().unwrap() - delta[i]).abs() < 1e-5);
    }

    // Check 5: noiseless sigmoid recovered; a decreasing one fitted with R² ≈ 1.
    let x = Array1::linspace(-10.0, 10.0, 50);
    let y = x.mapv(|v| sigmoid(v, &[10.0, 0.0, 1.0, 2.0]));
    let fit = fit_sigmoid(x.view(), y.view(), None).unwrap();
    for (g, w) in fit.params.iter().zip([10.0, 0.0, 1.0, 2.0]) {
        assert!((g - w).abs() < 1e-4, "{g} vs {w}");
    }
    let y = x.mapv(|v| sigmoid(v, &[10.0, 0.0, -0.5, 2.0]));
    let fit = fit_sigmoid(x.view(), y.view(), None).unwrap();
    assert!(fit.r_squared(y.view()).unwrap() > 1.0 - 1e-8);

    // Part 4: the table is the fit of the figure's data, close to the truth.
    let s4 = figure_series(&run.file("ch5_proj32_part4a.csv")).unwrap();
    let pts = &s4[&("Simulated sigmoid data".to_string(), "Data".to_string())];
    assert_eq!(pts.len(), 50);
    let (xs, ys): (Vec<f64>, Vec<f64>) = pts.iter().copied().unzip();
    common::testing::assert_close(&xs, &x.to_vec(), 1e-12, "Part 4 x").unwrap();
    let fit = fit_sigmoid(Array1::from(xs).view(), Array1::from(ys).view(), None).unwrap();
    let (_, rows) = read_csv(&run.file("part4_fit.csv")).unwrap();
    for (i, r) in rows.iter().enumerate() {
        let est: f64 = r[2].parse().unwrap();
        assert!((est - fit.params[i]).abs() < 1e-6, "Part 4 param {i}");
    }
    let truth = [10.0, 0.0, 1.0, 2.0];
    let tol = [1.5, 0.5, 0.6, 1.0];
    for i in 0..4 {
        assert!(
            (fit.params[i] - truth[i]).abs() < tol[i],
            "param {i}: {}",
            fit.params[i]
        );
    }
    // Part 5 on the 3-block model: the fit is skipped (2 points for 4 parameters).
    assert!(run.summary_line("Sigmoid fit skipped").is_ok());
}
