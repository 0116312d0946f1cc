//! Runs project 27 in --quick mode (tiny random GPT-2, offline) and checks the spec's
//! offline checks: against the same interventions done by hand (the changed block
//! output fed to the remaining blocks with `start_at`, the final layer norm and the
//! unembedding from the raw weights, the noise's std in plain f64), against closed
//! forms, and against `transformers` forward hooks (tests/fixtures/, recorded by
//! scripts/make_reference.py).

// The project's hooks and noise draws, so that the test can draw the same noise (same
// seed, same order) and build the same hooks as the binary.
#[allow(dead_code)]
#[path = "../src/intervention.rs"]
mod intervention;

use common::cli::tiny_gpt2;
use common::testing::{figure_series, run_project, FigureSeries, ProjectRun};
use common::{Batch, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use intervention::{perturbation_hook, NoiseSource, Perturbation};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

/// The prompt's GPT-2 ids and the target id, from the spec.
const PROMPT_IDS: [u32; 8] = [19197, 645, 3241, 284, 326, 582, 2157, 262];
const PROMPT_TOKENS: [&str; 8] = [
    "Pay",
    " no",
    " attention",
    " to",
    " that",
    " man",
    " behind",
    " the",
];
const TARGET: usize = 29461;
/// The spec's constants: noise sd factor, scaling factor; the binary's default seed.
const SD: f64 = 0.5;
const SCALE: f64 = 0.5;
const SEED: u64 = 0;

fn model() -> HookedModel {
    HookedModel::from_pretrained(&tiny_gpt2(), Device::Cpu).unwrap()
}

fn batch(m: &HookedModel) -> Batch {
    m.batch_from_ids(&[PROMPT_IDS.to_vec()], PaddingSide::Right)
        .unwrap()
}

/// The spec's demo layer 15 of 36 at the same relative depth of an n-block model.
fn demo_layer(n: usize) -> usize {
    (15.0 * n as f64 / 36.0).round() as usize
}

/// ln_f's weight and bias and the (tied) unembedding, read by tch from the model file,
/// not through common's loader.
struct Raw {
    ln_w: Tensor,
    ln_b: Tensor,
    wte: Tensor,
    eps: f64,
}

impl Raw {
    fn load(m: &HookedModel) -> Raw {
        let path = PathBuf::from(tiny_gpt2()).join("model.safetensors");
        let all = Tensor::read_safetensors(&path).unwrap();
        let get = |name: &str| {
            all.iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name}"))
                .1
                .to_kind(Kind::Double)
        };
        Raw {
            ln_w: get("transformer.ln_f.weight"),
            ln_b: get("transformer.ln_f.bias"),
            wte: get("transformer.wte.weight"),
            eps: m.cfg.layer_norm_eps,
        }
    }
    /// LayerNorm over the last dimension (population variance), in f64.
    fn ln_f(&self, x: &Tensor) -> Tensor {
        let x = x.to_kind(Kind::Double);
        let mu = x.mean_dim(-1, true, Kind::Double);
        let var = (&x - &mu).square().mean_dim(-1, true, Kind::Double);
        (&x - &mu) / (var + self.eps).sqrt() * &self.ln_w + &self.ln_b
    }
    /// Final-position logits from the normalised `[1, pos, d]` tensor.
    fn logits(&self, normed: &Tensor) -> Vec<f64> {
        let last = normed.to_kind(Kind::Double).select(1, -1).view(-1);
        Vec::<f64>::try_from(self.wte.matmul(&last)).unwrap()
    }
}

/// A forward pass's hidden states H[0..=n] (the embeddings, the outputs of blocks
/// 0..n-2, ln_f of block n-1's output), block outputs and final-position logits (f64).
struct Pass {
    hidden: Vec<Tensor>,
    outs: Vec<Tensor>,
    logits: Vec<f64>,
}

fn hidden_names() -> Names {
    Names::list(&[
        "blocks.0.hook_resid_pre",
        "blocks.*.hook_resid_post",
        "ln_final.hook_normalized",
    ])
}

/// A whole forward pass through common's API, with `hooks`.
fn full_pass(m: &HookedModel, hooks: &[common::Hook]) -> Pass {
    let out = m
        .run(
            &batch(m),
            &RunOptions::default()
                .hooks(hooks)
                .cache(hidden_names())
                .logits(LogitsAt::Last),
        )
        .unwrap();
    let n = m.cfg.n_layers;
    let outs: Vec<Tensor> = (0..n)
        .map(|l| {
            out.cache
                .get(&format!("blocks.{l}.hook_resid_post"))
                .unwrap()
                .copy()
        })
        .collect();
    let mut hidden = vec![out.cache.get("blocks.0.hook_resid_pre").unwrap().copy()];
    hidden.extend(outs[..n - 1].iter().map(|t| t.copy()));
    hidden.push(out.cache.get("ln_final.hook_normalized").unwrap().copy());
    let logits = out.logits.unwrap().to_kind(Kind::Double).view(-1);
    Pass {
        hidden,
        outs,
        logits: Vec::<f64>::try_from(logits).unwrap(),
    }
}

/// The pass continued by hand from `x`, the changed output of block `layer`: H[0..=layer]
/// are the clean ones, H[layer+1] = x, blocks layer+1.. run on x (`start_at`), then
/// ln_f and the unembedding from the raw weights.
fn by_hand(m: &HookedModel, raw: &Raw, clean: &Pass, layer: usize, x: &Tensor) -> Pass {
    let n = m.cfg.n_layers;
    let mut posts: Vec<Tensor> = vec![x.copy()]; // outputs of blocks layer..n-1
    if layer + 1 < n {
        let out = m
            .run(
                &batch(m),
                &RunOptions::default()
                    .start_at(layer + 1, x.copy())
                    .cache(Names::matching("blocks.*.hook_resid_post"))
                    .logits(LogitsAt::None),
            )
            .unwrap();
        assert_eq!(out.blocks_run, (layer + 1..n).collect::<Vec<_>>());
        for l in layer + 1..n {
            posts.push(
                out.cache
                    .get(&format!("blocks.{l}.hook_resid_post"))
                    .unwrap()
                    .copy(),
            );
        }
    }
    let mut hidden: Vec<Tensor> = clean.hidden[..=layer].iter().map(|t| t.copy()).collect();
    hidden.extend(posts[..posts.len() - 1].iter().map(|t| t.copy()));
    let normed = raw.ln_f(posts.last().unwrap());
    let logits = raw.logits(&normed);
    hidden.push(normed.to_kind(Kind::Float));
    let mut outs: Vec<Tensor> = clean.outs[..layer].iter().map(|t| t.copy()).collect();
    outs.extend(posts);
    Pass {
        hidden,
        outs,
        logits,
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).view(-1)).unwrap()
}

/// x + z · σ · f with σ the unbiased std of all of x's elements, in plain f64.
fn noised_by_hand(x: &Tensor, z: &Tensor, f: f64) -> Tensor {
    let xv = values(x);
    let zv = values(z);
    let n = xv.len() as f64;
    let mean = xv.iter().sum::<f64>() / n;
    let sigma = (xv.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let new: Vec<f32> = xv
        .iter()
        .zip(&zv)
        .map(|(a, b)| (a + b * sigma * f) as f32)
        .collect();
    Tensor::from_slice(&new).view(x.size().as_slice())
}

fn log_softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    z.iter().map(|v| v - lse).collect()
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn frob(a: &Tensor, b: &Tensor) -> f64 {
    values(a)
        .iter()
        .zip(values(b))
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// The y values of the one series of a figure whose panel starts with `panel` and whose
/// series is `series`.
fn ys(fs: &FigureSeries, panel: &str, series: &str) -> Vec<f64> {
    let hits: Vec<_> = fs
        .iter()
        .filter(|((p, s), _)| p.starts_with(panel) && s == series)
        .collect();
    assert_eq!(hits.len(), 1, "{panel:?} / {series:?} in {:?}", fs.keys());
    hits[0].1.iter().map(|p| p.1).collect()
}

fn xs(fs: &FigureSeries, panel: &str, series: &str) -> Vec<f64> {
    let hits: Vec<_> = fs
        .iter()
        .filter(|((p, s), _)| p.starts_with(panel) && s == series)
        .collect();
    assert_eq!(hits.len(), 1, "{panel:?} / {series:?}");
    hits[0].1.iter().map(|p| p.0).collect()
}

fn num_column(run: &ProjectRun, table: &str, name: &str) -> Vec<f64> {
    run.f64_column(table, name).unwrap()
}

/// The two completion lines of layer `l`: Part 3's (noise), then Part 4b's (scaling).
fn sweep_lines(run: &ProjectRun, l: usize) -> Vec<String> {
    let prefix = format!("L{l}: ");
    let found: Vec<String> = run
        .summary()
        .lines()
        .filter(|x| x.starts_with(&prefix))
        .map(String::from)
        .collect();
    assert_eq!(found.len(), 2, "{prefix}: {found:?}");
    found
}

fn pct(lsm: f64) -> String {
    format!("{:.2}%", 100.0 * lsm.exp())
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    common::testing::assert_close(got, want, tol, what).unwrap();
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project27_layer_noise_scaling"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["part1", "part2", "part3", "part4a", "part4b"] {
        run.check_figure(&format!("ch5_proj27_{f}")).unwrap();
    }
    let m = model();
    let raw = Raw::load(&m);
    let n = m.cfg.n_layers;
    let v = m.cfg.vocab_size;
    let layer = demo_layer(n);
    let clean = full_pass(&m, &[]);
    // H[n] is ln_f of the last block's output; the by-hand final layer norm and
    // unembedding of that output agree with the model's own logits and H[n].
    let clean_post = clean.outs[n - 1].copy();
    assert!(max_abs_diff(&raw.logits(&raw.ln_f(&clean_post)), &clean.logits) < 1e-5);
    assert!(frob(&raw.ln_f(&clean_post), &clean.hidden[n]) < 1e-5);
    let lsm_clean = log_softmax(&clean.logits);
    let t_clean = lsm_clean[TARGET];
    let best = argmax(&lsm_clean);

    // Check 6: the prompt and the target tokenize as the spec says, with GPT-2's BPE
    // and with the tiny model's tokenizer.json, and the run printed each token.
    let gpt2 = common::tokenizer::Tokenizer::gpt2();
    assert_eq!(gpt2.encode(&PROMPT_TOKENS.concat()).unwrap(), PROMPT_IDS);
    assert_eq!(gpt2.encode(" curtain").unwrap(), vec![TARGET as u32]);
    assert_eq!(
        m.tokenizer.encode(&PROMPT_TOKENS.concat()).unwrap(),
        PROMPT_IDS
    );
    assert_eq!(m.tokenizer.encode(" curtain").unwrap(), vec![TARGET as u32]);
    for (i, (id, text)) in PROMPT_IDS.iter().zip(PROMPT_TOKENS).enumerate() {
        assert_eq!(
            run.summary_line(&format!("token {i}: ")).unwrap(),
            format!("token {i}: {id} {text:?}")
        );
    }
    assert_eq!(
        run.summary_line("target ").unwrap(),
        format!("target \" curtain\": token ids [{TARGET}]; target id {TARGET} (\" curtain\")")
    );

    // Part 1 and check 5: the figure holds the log-softmax of all V logits, recomputed
    // here; a log-softmax row has logsumexp 0 and its max is at least -ln V.
    let s1 = figure_series(&run.file("ch5_proj27_part1.csv")).unwrap();
    let lsm1 = ys(&s1, "log-softmax of final token", "All tokens");
    assert_eq!(lsm1.len(), v);
    assert_close(&lsm1, &lsm_clean, 1e-5, "Part 1 log-softmax");
    let mx = lsm1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = mx + lsm1.iter().map(|x| (x - mx).exp()).sum::<f64>().ln();
    assert!(lse.abs() < 1e-9, "logsumexp {lse}");
    eprintln!(
        "check 5: logsumexp of lsm_clean {lse:.3e}; P(argmax) {:.3e} >= 1/V {:.3e}; max |lsm - recomputed| {:.3e}",
        mx.exp(),
        1.0 / v as f64,
        max_abs_diff(&lsm1, &lsm_clean)
    );
    assert!(mx.exp() >= 1.0 / v as f64, "P(argmax) {}", mx.exp());
    let vl = s1
        .iter()
        .find(|((_, s), _)| s.starts_with("\" curtain\""))
        .unwrap();
    assert_eq!(vl.1[0].0, TARGET as f64);
    let hl = s1
        .iter()
        .find(|((_, s), _)| s.starts_with("log-softmax of \" curtain\""))
        .unwrap();
    assert!((hl.1[0].1 - t_clean).abs() < 1e-5);
    assert_eq!(
        run.summary_line("Next word is ").unwrap(),
        format!(
            "Next word is {:?} (token index {best}) with {} probability",
            m.tokenizer.decode_one(best as u32).unwrap(),
            pct(t_clean)
        )
    );

    // The noise the binary drew: seed 0, Part 2's demo first, then Part 3's layers.
    let mut noise = NoiseSource::new(SEED);
    let shape = clean.hidden[1].size();

    // Part 2 and check 2: noise at the demo block. The diff norms are exactly 0 up to
    // H[layer] and equal, from H[layer+1] on, those of the pass continued by hand.
    let z = noise.draw(&shape, Device::Cpu);
    let x = noised_by_hand(&clean.outs[layer], &z, SD);
    let noised = by_hand(&m, &raw, &clean, layer, &x);
    let want: Vec<f64> = (0..n)
        .map(|k| frob(&clean.hidden[k], &noised.hidden[k]))
        .collect();
    let s2 = figure_series(&run.file("ch5_proj27_part2.csv")).unwrap();
    let got = ys(&s2, "Noise added", "Difference norm");
    assert_eq!(
        xs(&s2, "Noise added", "Difference norm"),
        (0..n).map(|k| k as f64).collect::<Vec<_>>()
    );
    for (k, &d) in got.iter().enumerate().take(layer + 1) {
        assert_eq!(d, 0.0, "Part 2 diffnorm[{k}] must be exactly 0");
    }
    assert!(got[layer + 1] > 0.0);
    assert_close(&got, &want, 1e-4, "Part 2 diff norms");
    assert_eq!(
        xs(
            &s2,
            "Noise added",
            &format!("H[{}] = output of block {layer}", layer + 1)
        ),
        vec![(layer + 1) as f64]
    );
    let lsm_n = log_softmax(&noised.logits);
    let nb = argmax(&lsm_n);
    assert_eq!(
        run.summary_line("noised: ").unwrap(),
        format!(
            "noised: Next word is {:?} (token index {nb}) with {} probability; P(\" curtain\") = {}",
            m.tokenizer.decode_one(nb as u32).unwrap(),
            pct(lsm_n[nb]),
            pct(lsm_n[TARGET])
        )
    );

    // Part 3: one fresh draw per layer; each layer's result equals the pass continued by
    // hand from X + z·std(X)/2, and the noise changes the logits.
    let s3 = figure_series(&run.file("ch5_proj27_part3.csv")).unwrap();
    let a3 = ys(
        &s3,
        "A) Impact of noise on log-softmax of \" curtain\"",
        "Noisified",
    );
    let b3 = ys(
        &s3,
        "B) Impact of noise on log-softmax of max logit",
        "Noisified",
    );
    assert!((ys(&s3, "A)", "Clean")[0] - t_clean).abs() < 1e-5);
    assert!((ys(&s3, "B)", "Clean")[0] - t_clean).abs() < 1e-5);
    let t3 = "part3_noise_sweep.csv";
    let ids3 = num_column(&run, t3, "argmax_id");
    let d3 = num_column(&run, t3, "max_abs_dlogit");
    let std3 = num_column(&run, t3, "std_X_all");
    assert_eq!((a3.len(), b3.len(), ids3.len()), (n, n, n));
    for l in 0..n {
        let z = noise.draw(&shape, Device::Cpu);
        let x = noised_by_hand(&clean.outs[l], &z, SD);
        let p = by_hand(&m, &raw, &clean, l, &x);
        let lsm = log_softmax(&p.logits);
        let b = argmax(&lsm);
        assert!(
            (a3[l] - lsm[TARGET]).abs() < 1e-4,
            "L{l}: {} vs {}",
            a3[l],
            lsm[TARGET]
        );
        assert!(
            (b3[l] - lsm[b]).abs() < 1e-4,
            "L{l}: {} vs {}",
            b3[l],
            lsm[b]
        );
        assert_eq!(ids3[l] as usize, b, "L{l} argmax");
        let d = max_abs_diff(&p.logits, &clean.logits);
        assert!(
            d > 0.0 && (d3[l] - d).abs() < 1e-4 * d.max(1.0),
            "L{l}: {} vs {d}",
            d3[l]
        );
        assert!(lsm[b].exp() >= 1.0 / v as f64);
        let xs_ = values(&clean.outs[l]);
        let mean = xs_.iter().sum::<f64>() / xs_.len() as f64;
        let sd =
            (xs_.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (xs_.len() as f64 - 1.0)).sqrt();
        assert!((std3[l] - sd).abs() < 1e-6, "L{l} std {} vs {sd}", std3[l]);
        assert_eq!(
            sweep_lines(&run, l)[0],
            format!(
                "L{l}: {}\"{}\"",
                PROMPT_TOKENS.concat(),
                m.tokenizer.decode_one(b as u32).unwrap()
            )
        );
    }

    // Part 4a: scaling at the demo block: exact zeros up to H[layer], then
    // ‖X − X/2‖ = ‖X‖/2 at H[layer+1] (closed form), and the by-hand pass after it.
    let s4 = figure_series(&run.file("ch5_proj27_part4a.csv")).unwrap();
    let got = ys(&s4, "Output of block", "Difference norm");
    for (k, &d) in got.iter().enumerate().take(layer + 1) {
        assert_eq!(d, 0.0, "Part 4a diffnorm[{k}] must be exactly 0");
    }
    let norm_x = values(&clean.outs[layer])
        .iter()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt();
    assert!((got[layer + 1] - (1.0 - SCALE) * norm_x).abs() < 1e-5 * norm_x);
    let scaled = by_hand(&m, &raw, &clean, layer, &(&clean.outs[layer] * SCALE));
    let want: Vec<f64> = (0..n)
        .map(|k| frob(&clean.hidden[k], &scaled.hidden[k]))
        .collect();
    assert_close(&got, &want, 1e-4, "Part 4a diff norms");

    // Part 4b: the scaling sweep, by hand.
    let s4b = figure_series(&run.file("ch5_proj27_part4b.csv")).unwrap();
    let a4 = ys(
        &s4b,
        "A) Impact of down-scaling on log-softmax of \" curtain\"",
        "Scaled",
    );
    let b4 = ys(
        &s4b,
        "B) Impact of down-scaling on log-softmax of max logit",
        "Scaled",
    );
    let t4 = "part4_scaling_sweep.csv";
    let ids4 = num_column(&run, t4, "argmax_id");
    let d4 = num_column(&run, t4, "max_abs_dlogit");
    for l in 0..n {
        let p = by_hand(&m, &raw, &clean, l, &(&clean.outs[l] * SCALE));
        let lsm = log_softmax(&p.logits);
        let b = argmax(&lsm);
        assert!((a4[l] - lsm[TARGET]).abs() < 1e-4, "L{l}");
        assert!((b4[l] - lsm[b]).abs() < 1e-4, "L{l}");
        assert_eq!(ids4[l] as usize, b, "L{l} argmax");
        assert_eq!(
            sweep_lines(&run, l)[1],
            format!(
                "L{l}: {}\"{}\"",
                PROMPT_TOKENS.concat(),
                m.tokenizer.decode_one(b as u32).unwrap()
            )
        );
        if l + 1 < n {
            let d = max_abs_diff(&p.logits, &clean.logits);
            assert!(
                (d4[l] - d).abs() < 1e-4 * d.max(1.0),
                "L{l}: {} vs {d}",
                d4[l]
            );
        }
    }

    // Check 3: scaling the last block's output by s changes the logits only through
    // ln_f's ε. LN(s·x) = LN(x) with its normalised part times
    // r = sqrt(v + ε) / sqrt(v + ε/s²) (v: the position's variance), so
    // Δlogit = (r − 1) · (logit − β·W_U). The binary's max |Δlogit| at L = n − 1 is
    // this closed form, and tiny next to the logits.
    let last = values(&clean_post.select(1, -1));
    let d = last.len() as f64;
    let mu = last.iter().sum::<f64>() / d;
    let var = last.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / d;
    let eps = raw.eps;
    assert!(var > 1e3 * eps, "hidden variance {var} must be ≫ ε");
    let r = (var + eps).sqrt() / (var + eps / (SCALE * SCALE)).sqrt();
    let bias_logits = Vec::<f64>::try_from(raw.wte.matmul(&raw.ln_b)).unwrap();
    let predicted = clean
        .logits
        .iter()
        .zip(&bias_logits)
        .map(|(z, b)| ((r - 1.0) * (z - b)).abs())
        .fold(0.0, f64::max);
    let max_logit = clean.logits.iter().fold(0.0f64, |a, z| a.max(z.abs()));
    assert!(
        predicted > 0.0 && predicted < 1e-3 * max_logit,
        "{predicted}"
    );
    let got = d4[n - 1];
    eprintln!(
        "check 3: max |Δlogit| at L = {}: {got:.6e}, closed form {predicted:.6e}, relative to max |logit| {:.3e}",
        n - 1,
        got / max_logit
    );
    assert!(
        (got - predicted).abs() < 1e-6 + 0.05 * predicted,
        "max |Δlogit| at the last block: {got} vs closed form {predicted}"
    );
    assert!(got < 1e-3 * max_logit);
    // The prediction cannot change when the top two clean logits are further apart
    // than twice the largest change.
    let mut sorted = clean.logits.clone();
    sorted.sort_by(|a, b| b.partial_cmp(a).unwrap());
    if sorted[0] - sorted[1] > 2.0 * predicted {
        assert_eq!(ids4[n - 1] as usize, best);
    }

    // The work-saving line: the sweeps ran n - L blocks at layer L.
    let run_blocks: usize = 2 * (0..n).map(|l| n - l).sum::<usize>();
    let full = 2 * n * n;
    assert!(run
        .summary_line("sweeps (Parts 3-4): ")
        .unwrap()
        .contains(&format!(
            "{run_blocks} block evaluations instead of {full} ({} saved",
            full - run_blocks
        )));
}

/// Check 1: interventions that change nothing (scale 1, noise × 0, a layer index that
/// matches no block) reproduce the clean logits and hidden states exactly.
#[test]
fn no_op_interventions_reproduce_the_clean_run() {
    let m = model();
    let n = m.cfg.n_layers;
    let clean = full_pass(&m, &[]);
    let mut noise = NoiseSource::new(3);
    let z = noise.draw(&clean.hidden[1].size(), Device::Cpu);
    let cases = [
        ("scale 1.0", 1, Perturbation::Scale { factor: 1.0 }),
        ("noise x 0", 1, Perturbation::Noise { sd_factor: 0.0 }),
        ("no such block", n, Perturbation::Noise { sd_factor: SD }),
        (
            "no such block",
            n + 5,
            Perturbation::Scale { factor: SCALE },
        ),
    ];
    for (what, layer, p) in cases {
        let hook = perturbation_hook(layer, p, Some(z.copy()));
        let run = full_pass(&m, &[hook]);
        assert_eq!(run.logits, clean.logits, "{what}: logits");
        for l in 0..n {
            assert!(
                run.outs[l].equal(&clean.outs[l]),
                "{what}: block {l} output"
            );
        }
        for k in 0..=n {
            assert!(
                run.hidden[k].equal(&clean.hidden[k]),
                "{what}: H[{k}] differs"
            );
        }
    }
}

/// Check 2, at every block and for both interventions: H[k] is bit-identical to the
/// clean run for k ≤ L and differs at L+1; the hooked pass equals the pass continued by
/// hand from the changed block output; noise changes the logits.
#[test]
fn hooks_change_only_what_follows_and_match_doing_it_by_hand() {
    let m = model();
    let raw = Raw::load(&m);
    let n = m.cfg.n_layers;
    let clean = full_pass(&m, &[]);
    let mut noise = NoiseSource::new(11);
    let (mut worst_h, mut worst_z) = (0.0f64, 0.0f64);
    for l in 0..n {
        let z = noise.draw(&clean.hidden[1].size(), Device::Cpu);
        for p in [
            Perturbation::Noise { sd_factor: SD },
            Perturbation::Scale { factor: SCALE },
        ] {
            let hooked = full_pass(&m, &[perturbation_hook(l, p, Some(z.copy()))]);
            for k in 0..=l {
                assert!(
                    hooked.hidden[k].equal(&clean.hidden[k]),
                    "{p:?} L{l}: H[{k}]"
                );
            }
            assert!(frob(&hooked.outs[l], &clean.outs[l]) > 0.0, "{p:?} L{l}");
            assert!(
                frob(&hooked.hidden[l + 1], &clean.hidden[l + 1]) > 0.0,
                "{p:?} L{l}"
            );
            let x = match p {
                Perturbation::Noise { .. } => noised_by_hand(&clean.outs[l], &z, SD),
                Perturbation::Scale { factor } => &clean.outs[l] * factor,
            };
            let hand = by_hand(&m, &raw, &clean, l, &x);
            for k in 0..=n {
                let d = frob(&hooked.hidden[k], &hand.hidden[k]);
                assert!(
                    d < 1e-5,
                    "{p:?} L{l}: H[{k}] hooked vs by hand differ by {d}"
                );
                worst_h = worst_h.max(d);
            }
            let d = max_abs_diff(&hooked.logits, &hand.logits);
            assert!(
                d < 1e-5,
                "{p:?} L{l}: logits hooked vs by hand differ by {d}"
            );
            worst_z = worst_z.max(d);
            if matches!(p, Perturbation::Noise { .. }) {
                assert!(max_abs_diff(&hooked.logits, &clean.logits) > 1e-3, "L{l}");
            }
        }
    }
    eprintln!("check 2: hooked vs by hand: max ‖ΔH[k]‖ {worst_h:.3e}, max |Δlogit| {worst_z:.3e}");
}

/// The project's hooks against transformers: a forward hook on `transformer.h[L]` that
/// scales the block output by 0.5 or adds `z * output.std() / 2` (torch's unbiased std),
/// with the fixture's z.
#[test]
fn hooks_match_transformers_forward_hooks() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny_gpt2_reference.safetensors");
    let fx = Tensor::read_safetensors(&path).unwrap();
    let get = |name: &str| {
        fx.iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("{name} not in the fixture"))
            .1
            .copy()
    };
    let m = model();
    let n = m.cfg.n_layers;
    let pick = Vec::<i64>::try_from(get("pick")).unwrap();
    let draws = get("noise_draws");
    let mut runs = vec![("clean".to_string(), None)];
    for l in 0..n {
        runs.push((
            format!("scale{l}"),
            Some((l, Perturbation::Scale { factor: 0.5 })),
        ));
        runs.push((
            format!("noise{l}"),
            Some((l, Perturbation::Noise { sd_factor: 0.5 })),
        ));
    }
    let (mut worst_h, mut worst_z) = (0.0f64, 0.0f64);
    for (name, what) in runs {
        let hooks: Vec<common::Hook> = what
            .map(|(l, p)| perturbation_hook(l, p, Some(draws.get(l as i64))))
            .into_iter()
            .collect();
        let got = full_pass(&m, &hooks);
        let hidden = get(&format!("{name}.hidden")); // [n+1, 1, pos, d]
        for k in 0..=n {
            let d = frob(&got.hidden[k], &hidden.get(k as i64));
            assert!(d < 1e-4, "{name}: H[{k}] differs from transformers by {d}");
            worst_h = worst_h.max(d);
        }
        let want = values(&get(&format!("{name}.logits")));
        let mine: Vec<f64> = pick.iter().map(|&i| got.logits[i as usize]).collect();
        assert_close(&mine, &want, 1e-4, &format!("{name}: logits"));
        worst_z = worst_z.max(max_abs_diff(&mine, &want));
        let lsm = log_softmax(&got.logits);
        let b = argmax(&lsm);
        assert_eq!(
            b as i64,
            get(&format!("{name}.argmax")).int64_value(&[0]),
            "{name}"
        );
        let t = get(&format!("{name}.lsm_target")).double_value(&[0]);
        assert!(
            (lsm[TARGET] - t).abs() < 1e-4,
            "{name}: {} vs {t}",
            lsm[TARGET]
        );
        let a = get(&format!("{name}.lsm_argmax")).double_value(&[0]);
        assert!((lsm[b] - a).abs() < 1e-4, "{name}");
    }
    eprintln!(
        "transformers hooks: max ‖ΔH[k]‖ {worst_h:.3e}, max |Δlogit| {worst_z:.3e} over {} runs",
        1 + 2 * n
    );
}

/// Check 4: on a large tensor the added noise has mean ≈ 0 and std ≈ std(X)/2, where
/// std(X) is the unbiased std over all elements (exactly so: with z ≡ 1 the added value
/// is std(X)·f).
#[test]
fn noise_statistics() {
    tch::manual_seed(5);
    // GPT-2-like: a first position with much larger values inflates std(X).
    let x = Tensor::randn([1, 512, 1280], (Kind::Float, Device::Cpu));
    let _ = x.select(1, 0).f_mul_(&Tensor::from(30.0)).unwrap();
    let xv = values(&x);
    let n = xv.len() as f64;
    let mean = xv.iter().sum::<f64>() / n;
    let sigma = (xv.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let mut src = NoiseSource::new(42);
    let z = src.draw(&x.size(), Device::Cpu);
    let added = values(&(intervention::add_noise(&x, &z, SD) - &x));
    let m = added.iter().sum::<f64>() / n;
    let sd = (added.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let want = SD * sigma;
    assert!(m.abs() < 0.01 * want, "mean {m} vs sd {want}");
    assert!((sd / want - 1.0).abs() < 0.02, "sd {sd} vs {want}");
    eprintln!(
        "check 4: noise mean {m:.3e} ({:.2e} of σ/2), std / (σ/2) = {:.5} on {} elements",
        m / want,
        sd / want,
        xv.len()
    );
    // fresh draws differ, and a seed reproduces them
    let z2 = src.draw(&x.size(), Device::Cpu);
    assert!(!z.equal(&z2));
    assert!(NoiseSource::new(42).draw(&x.size(), Device::Cpu).equal(&z));

    // unbiased, not population: [1, 2, 3, 4] has std sqrt(5/3), not sqrt(5/4)
    let small = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([1, 2, 2]);
    let ones = Tensor::ones([1, 2, 2], (Kind::Float, Device::Cpu));
    let added = values(&(intervention::add_noise(&small, &ones, 0.5) - &small));
    for a in added {
        assert!((a - 0.5 * (5.0f64 / 3.0).sqrt()).abs() < 1e-6, "{a}");
    }
}
