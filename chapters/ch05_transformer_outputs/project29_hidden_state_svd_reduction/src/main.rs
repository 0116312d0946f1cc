//! # Project 29 — Hidden state dimensionality reduction
//!
//! **Question.** What happens to a language model if the hidden-state matrix of one
//! layer is replaced by a low-rank (SVD-truncated) approximation that still keeps 95–99%
//! of its variance? We first practise SVD compression on a photograph (Part 1), then
//! compress one hidden state of GPT-Neo-1.3B offline (Part 2), then do the compression
//! inside the forward pass at block 4 (Part 3) and at every block in turn (Part 4),
//! measuring the impact on later hidden states, on the logits and on the LM loss.
//!
//! Notation: `H[k]`, k = 0..24, are the hidden states as `transformers` reports them
//! (`output_hidden_states=True`): `H[0]` the embeddings, `H[k]` the output of block k−1,
//! `H[24]` = ln_f of the last block's output. Reducing block L's output changes `H[L+1]`.
//!
//! **What to look for.**
//! - Part 1: the singular values fall steeply; 50 components already give a
//!   recognisable picture and the 98%-variance reconstruction is visually close.
//! - Part 2: 95% of the double-centred variance needs far fewer than 167 components, and
//!   the reconstruction correlates with the original at r ≈ 0.99+; rank(hs_R) ≤ r + 2
//!   (the added means contribute at most two dimensions).
//! - Part 3: the hidden-state differences are exactly 0 for blocks 0–3 and non-zero from
//!   block 4 on: the small variance removed at block 4 propagates to every later layer.
//! - Part 4: every layer's reduction raises the loss; how many components 95% needs
//!   varies with depth; logit disruption does not simply track hidden-state disruption;
//!   some token positions (the first especially) are hit much harder than others.
//!
//! Run: `cargo run --release -p project29_hidden_state_svd_reduction` (downloads
//! `EleutherAI/gpt-neo-1.3B`, 5.3 GB, and the Commons photograph once). `--quick` runs
//! offline on the tiny random GPT-Neo in `assets/` (2 blocks, d_model 16, window 4, a
//! small tokenizer) with a passage and a synthetic picture written for the project; its
//! numbers come from random weights and mean nothing.

mod quick_text;
mod reduce;

use anyhow::{anyhow, ensure, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::DataCache;
use common::output::{fmt_floats, thousands, Output};
use common::plot::tab::{BLUE, RED};
use common::plot::BLACK;
use common::plot::{Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Series, Style};
use common::{Batch, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use reduce::{
    cum_pct, double_centre, first_above, full_svd, lm_loss, matrix_rank, reduction_hook, Counts,
};
use tch::{Kind, Tensor};

const PROJECT: &str = "project29_hidden_state_svd_reduction";
const FIG: &str = "ch5_proj29";
const MODEL: &str = "EleutherAI/gpt-neo-1.3B";
const TINY_NEO: &str = "models/tiny-gpt-neo";
const IMAGE_URL: &str = "https://upload.wikimedia.org/wikipedia/commons/6/61/De_nieuwe_vleugel_van_het_Stedelijk_Museum_Amsterdam.jpg";
/// Wikimedia refuses requests without a browser-like User-Agent.
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
/// The lead paragraph of the English Wikipedia article "Stedelijk Museum Amsterdam", as
/// the spec reproduces it (a one-paragraph quotation: the book's stimulus).
const TEXT: &str = "The Stedelijk Museum Amsterdam (Dutch pronunciation: [ˈsteːdələk myˈzeːjʏm ˌɑmstərˈdɑm]; Municipal Museum Amsterdam), colloquially known as the Stedelijk, is a museum for modern art, contemporary art, and design located in Amsterdam, Netherlands.[6] The 19th-century building was designed by Adriaan Willem Weissman. The connecting 21st-century wing, which houses the current entrance, was designed by Benthem Crouwel Architects. The museum is located at the Museum Square in the borough Amsterdam South,[2] where it is close to the Van Gogh Museum, the Rijksmuseum, and the Concertgebouw.";

/// The book's "no layer" sentinel: matches no block, so the hook does nothing.
const NO_LAYER: usize = 4000;

/// Replace one layer's hidden state by a low-rank SVD reconstruction and follow the
/// change through the rest of GPT-Neo's forward pass.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Part 1: components of the first image reconstruction.
    #[arg(long, default_value_t = 50)]
    image_components: usize,
    /// Part 1: % variance of the second image reconstruction.
    #[arg(long, default_value_t = 98.0)]
    image_threshold: f64,
    /// Parts 2 and 4: % variance kept.
    #[arg(long, default_value_t = 95.0)]
    threshold: f64,
    /// Part 3: % variance kept.
    #[arg(long, default_value_t = 99.0)]
    part3_threshold: f64,
    /// Part 2: index k of the hidden state H[k] reduced offline (clamped to the model's
    /// last hidden state under --quick).
    #[arg(long, default_value_t = 4)]
    hidden_index: usize,
    /// Part 3: the block whose output is reduced (clamped to the last block under
    /// --quick).
    #[arg(long, default_value_t = 4)]
    block: usize,
    /// The image URL of Part 1.
    #[arg(long, default_value = IMAGE_URL)]
    image_url: String,
}

/// The grayscale, downsampled picture of Part 1 (float64, rows × cols).
struct Picture {
    img: Tensor,
    source: String,
}

/// The clean run: every hidden state (`[T, d]`, float32), the logits `[T, V]`, the loss.
struct Clean {
    hidden: Vec<Tensor>,
    logits: Tensor,
    loss: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    for t in [args.image_threshold, args.threshold, args.part3_threshold] {
        ensure!(
            (0.0..=100.0).contains(&t),
            "thresholds are percentages in 0..=100, got {t}"
        );
    }

    // Fail fast: the model (its config checked) and the picture are resolved before
    // anything is computed or written.
    let model_id = match (&args.common.model, args.common.quick) {
        (Some(m), _) => m.clone(),
        (None, true) => common::assets_dir().join(TINY_NEO).display().to_string(),
        (None, false) => MODEL.to_string(),
    };
    args.common.resolve_decoder(
        &model_id,
        "this project needs a causal language model with an LM head (GPT-Neo, GPT-2, GPT-NeoX): Part 4 measures the next-token loss",
    )?;
    let picture = load_picture(&args)?;

    let mut out = args.common.output(PROJECT)?;
    let model = args.common.load_model(&model_id)?;
    let n = model.cfg.n_layers;
    let (hidden_index, block) = if args.common.quick {
        (args.hidden_index.min(n), args.block.min(n - 1))
    } else {
        (args.hidden_index, args.block)
    };
    ensure!(
        hidden_index <= n,
        "--hidden-index {hidden_index}: {model_id} has H[0..={n}]"
    );
    ensure!(
        block < n,
        "--block {block}: {model_id} has blocks 0..={}",
        n - 1
    );
    let text = if args.common.quick {
        quick_text::QUICK_TEXT
    } else {
        TEXT
    };
    let ids = model.tokenizer.encode(text)?;
    ensure!(ids.len() >= 2, "the text needs at least two tokens");
    let batch = model.batch_from_ids(std::slice::from_ref(&ids), PaddingSide::Right)?;
    if args.common.quick {
        out.say(format!(
            "--quick: tiny random GPT-Neo from assets/ ({n} blocks, d_model {}, local window \
             {}), a passage and a synthetic picture written for the project; H[{hidden_index}] \
             and block {block} instead of H[4] and block 4 (the tiny model has only {n} \
             blocks). The numbers come from random weights and mean nothing.",
            model.cfg.d_model,
            model.cfg.raw["window_size"].as_u64().unwrap_or(0)
        ));
    }
    out.say(format!(
        "model (--model): {} ({n} blocks, d_model {}, {} heads; {} parameters) on {}",
        model.id,
        model.cfg.d_model,
        model.cfg.n_heads,
        thousands(model.n_params()),
        common::device::describe(model.device())
    ));
    out.say(format!("text: {} tokens", ids.len()));

    part1_image_svd(&picture, &args, &mut out)?;
    let clean = clean_run(&model, &batch)?;
    out.say(format!("clean loss = {:.6}", clean.loss));
    part2_reduce_one_hidden_state(&clean, hidden_index, args.threshold, &mut out)?;
    part3_intervention_one_block(
        &model,
        &batch,
        &clean,
        block,
        args.part3_threshold,
        &mut out,
    )?;
    part4_laminar_sweep(
        &model,
        &batch,
        &clean,
        args.threshold,
        args.common.quick,
        &mut out,
    )?;
    out.finish()
}

/// Part 1's picture: the spec's photograph (fetched once, cached), or under --quick the
/// project's synthetic one; PIL "L" luma, float64, every 2nd row and column.
fn load_picture(args: &Args) -> Result<Picture> {
    let (h, w, px, source) = if args.common.quick {
        let (h, w, px) = quick_text::quick_image();
        (h, w, px, "synthetic picture (quick_text.rs)".to_string())
    } else {
        let path = DataCache::from_env().web_file(&args.image_url, Some(USER_AGENT))?;
        let t = tch::vision::image::load(&path)
            .map_err(|e| anyhow!("decoding the image {}: {e}", path.display()))?; // [3, H, W] u8
        let sz = t.size();
        let (h, w) = (sz[1] as usize, sz[2] as usize);
        let flat = Vec::<u8>::try_from(t.permute([1, 2, 0]).contiguous().view(-1))?;
        let px = flat.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        (h, w, px, args.image_url.clone())
    };
    let gray: Vec<f64> = px
        .iter()
        .map(|c| reduce::luma(c[0], c[1], c[2]) as f64)
        .collect();
    let img = Tensor::from_slice(&gray)
        .view([h as i64, w as i64])
        .slice(0, 0, None, 2)
        .slice(1, 0, None, 2)
        .contiguous();
    Ok(Picture { img, source })
}

/// Rows of a 2-D tensor as `Vec<Vec<f64>>` (for heatmaps).
fn rows(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    let t = t.to_kind(Kind::Double).contiguous();
    let c = t.size()[1] as usize;
    let flat = Vec::<f64>::try_from(t.view(-1))?;
    Ok(flat.chunks(c).map(|r| r.to_vec()).collect())
}

fn image_panel(t: &Tensor, title: &str, cmap: Colormap, lim: (f64, f64)) -> Result<Panel> {
    Ok(Panel::new(title).heatmap(Heatmap::new(rows(t)?, cmap).range(lim.0, lim.1)))
}

/// The 2×3 figure of U, diag(s), Vᵀ over the spectrum (parts 1b and 2a).
fn svd_figure(
    svd: &reduce::FullSvd,
    s: &[f64],
    lims: (f64, f64, f64),
    what: &str,
) -> Result<Figure> {
    let m = svd.u.size()[0];
    let nn = svd.vt.size()[0];
    let k = s.len() as i64;
    let sigma = Tensor::zeros([m, nn], (Kind::Double, svd.s.device()));
    sigma
        .narrow(0, 0, k)
        .narrow(1, 0, k)
        .copy_(&svd.s.to_kind(Kind::Double).diag(0));
    let x: Vec<f64> = (0..s.len()).map(|i| i as f64).collect();
    Ok(Figure::grid(12.0, 8.0, 2, 3)
        .panel(image_panel(
            &svd.u,
            "U",
            Colormap::Plasma,
            (-lims.0, lims.0),
        )?)
        .panel(image_panel(
            &sigma,
            "Σ (diag(s))",
            Colormap::Gray,
            (0.0, lims.1),
        )?)
        .panel(image_panel(
            &svd.vt,
            "Vᵀ",
            Colormap::Plasma,
            (-lims.2, lims.2),
        )?)
        .panel_at(
            Panel::new(&format!("Singular values of the {what}"))
                .xlabel("Component index")
                .ylabel("Singular value")
                .add(Series::line(
                    x,
                    s.to_vec(),
                    Style::markers(BLACK, Marker::Square).size(3).solid(),
                )),
            1,
            0,
            1,
            3,
        ))
}

/// Part 1: SVD compression of a photograph.
fn part1_image_svd(p: &Picture, args: &Args, out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: SVD compression of an image");
    let sz = p.img.size();
    out.say(format!(
        "image: {} ({} x {} after downsampling)",
        p.source, sz[0], sz[1]
    ));
    out.figure(
        &Figure::new(8.0, 6.0).panel(image_panel(
            &p.img,
            "Downsampled grayscale image",
            Colormap::Gray,
            (0.0, 255.0),
        )?),
        &format!("{FIG}_part1a"),
    )?;

    let svd = full_svd(&p.img); // float64
    let s = svd.s_vec()?;
    out.figure(
        &svd_figure(&svd, &s, (0.01, 200.0, 0.01), "image")?,
        &format!("{FIG}_part1b"),
    )?;
    let cum = cum_pct(&s);
    out.say(format!(
        "image cumulative % variance ends at {:.6}",
        cum[cum.len() - 1]
    ));

    // Reconstruction 1: the first k singular values. The book's title prints cum[k],
    // i.e. the variance of k+1 components; kept for parity.
    let k = args.image_components.min(s.len());
    let rec1 = svd.reconstruct(k);
    let t1 = format!(
        "Recon. with {k}/{} components ({:.2}% var.)",
        s.len(),
        cum[k.min(s.len() - 1)]
    );
    // Reconstruction 2: r = first index with cum > threshold; keep r components.
    let r = first_above(&cum, args.image_threshold);
    let rec2 = svd.reconstruct(r);
    let t2 = format!(
        "Recon. with {:.2}% variance ({r} comps)",
        cum[r.min(s.len() - 1)]
    );
    let lim = (0.0, 255.0);
    for (rec, title, name) in [(&rec1, &t1, "part1c"), (&rec2, &t2, "part1d")] {
        out.figure(
            &Figure::grid(12.0, 5.0, 1, 2)
                .panel(image_panel(&p.img, "Original", Colormap::Gray, lim)?)
                .panel(image_panel(rec, title, Colormap::Gray, lim)?),
            &format!("{FIG}_{name}"),
        )?;
    }
    out.say(format!("{t1}; {t2}"));
    out.say(format!("image rank: original = {}", matrix_rank(&p.img)?));
    out.say(format!(
        "image rank: reconstruction 1 = {}",
        matrix_rank(&rec1)?
    ));
    out.say(format!(
        "image rank: reconstruction 2 = {}",
        matrix_rank(&rec2)?
    ));
    out.say(format!(
        "image r (components for > {}%) = {r}",
        args.image_threshold
    ));
    Ok(())
}

/// The clean forward pass: every hidden state, the logits at all positions, the loss.
fn clean_run(model: &HookedModel, batch: &Batch) -> Result<Clean> {
    let mut run = model.run(
        batch,
        &RunOptions::default()
            .cache(Names::list(&model.hidden_state_names()))
            .logits(LogitsAt::All),
    )?;
    let hidden = model
        .take_hidden_states(&mut run.cache)?
        .into_iter()
        .map(|h| h.get(0).to_kind(Kind::Float))
        .collect();
    let logits = run.logits.ok_or_else(|| anyhow!("no logits"))?.get(0);
    let loss = lm_loss(&logits, &batch.ids.get(0))?;
    Ok(Clean {
        hidden,
        logits,
        loss,
    })
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

fn hs_panel(t: &Tensor, title: &str) -> Result<Panel> {
    // matplotlib's "rainbow" is not among common's colormaps: RdBu (diverging, centred
    // on 0) is used for the ±2 range instead.
    Ok(image_panel(t, title, Colormap::RdBu, (-2.0, 2.0))?
        .xlabel("Embeddings indices")
        .ylabel("Token position"))
}

/// Part 2: double-centre, SVD and reconstruct one hidden state (no intervention).
fn part2_reduce_one_hidden_state(
    clean: &Clean,
    k: usize,
    threshold: f64,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 2: dimension-reduce H[{k}]"));
    let hs = &clean.hidden[k];
    let dc = double_centre(hs);
    let svd = full_svd(&dc.d); // float32
    let s = svd.s_vec()?;
    out.figure(
        &svd_figure(&svd, &s, (0.1, 100.0, 0.01), "hidden state")?,
        &format!("{FIG}_part2a"),
    )?;
    let cum = cum_pct(&s);
    let r = first_above(&cum, threshold);
    let hs_r = dc.restore(&svd.reconstruct(r));
    out.say(format!(
        "hs shape {:?}, hs_R shape {:?}",
        hs.size(),
        hs_r.size()
    ));
    out.say(format!(
        "part2 r (components for > {threshold}%) = {r} of {}",
        s.len()
    ));

    let a = Vec::<f64>::try_from(hs.to_kind(Kind::Double).view(-1))?;
    let b = Vec::<f64>::try_from(hs_r.to_kind(Kind::Double).view(-1))?;
    let (xa, xb): (Vec<f64>, Vec<f64>) =
        a.iter().zip(&b).step_by(10).map(|(x, y)| (*x, *y)).unzip();
    let rho = pearson(&xa, &xb);
    out.say(format!("part2 pearson r (every 10th value) = {rho:.5}"));
    let fig = Figure::grid(12.0, 9.0, 2, 2)
        .panel(hs_panel(hs, "Original")?)
        .panel(hs_panel(
            &hs_r,
            &format!("Reconstruction (r={r}, {threshold:.0}% var.)"),
        )?)
        .panel(hs_panel(
            &(hs - &hs_r),
            "Difference (original − reconstruction)",
        )?)
        .panel(
            Panel::new(&format!("r = {rho:.5}"))
                .xlabel("Original values")
                .ylabel("Reconstructed values")
                .add(Series::scatter(
                    xa,
                    xb,
                    Style::markers(BLUE, Marker::Circle).size(2).alpha(0.4),
                )),
        );
    out.figure(&fig, &format!("{FIG}_part2b"))?;
    out.say(format!("part2 rank(hs) = {}", matrix_rank(hs)?));
    out.say(format!("part2 rank(hs_R) = {}", matrix_rank(&hs_r)?));
    Ok(())
}

/// A reduced run over the whole pass: every hidden state and the logits.
fn reduced_full_run(
    model: &HookedModel,
    batch: &Batch,
    layer: usize,
    threshold: f64,
    counts: &Counts,
) -> Result<(Vec<Tensor>, Tensor)> {
    let hooks = [reduction_hook(layer, threshold, counts.clone())];
    let mut run = model.run(
        batch,
        &RunOptions::default()
            .hooks(&hooks)
            .cache(Names::list(&model.hidden_state_names()))
            .logits(LogitsAt::All),
    )?;
    let hidden = model
        .take_hidden_states(&mut run.cache)?
        .into_iter()
        .map(|h| h.get(0).to_kind(Kind::Float))
        .collect();
    Ok((
        hidden,
        run.logits.ok_or_else(|| anyhow!("no logits"))?.get(0),
    ))
}

/// Integer ticks on a layer axis: every layer for a few, else every 4th.
fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    let step = if n <= 12 { 1 } else { 4 };
    (0..n)
        .step_by(step)
        .map(|k| (k as f64, k.to_string()))
        .collect()
}

fn fro(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .norm()
        .double_value(&[])
}

/// Part 3: the reduction as an intervention at one block.
fn part3_intervention_one_block(
    model: &HookedModel,
    batch: &Batch,
    clean: &Clean,
    block: usize,
    threshold: f64,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 3: reduction at block {block} ({threshold}% variance)"
    ));
    let counts: Counts = Default::default();
    // The sentinel: the hook is installed but matches no block.
    let (h_sent, _) = reduced_full_run(model, batch, NO_LAYER, threshold, &counts)?;
    let sentinel_max = (0..h_sent.len())
        .map(|i| fro(&h_sent[i], &clean.hidden[i]))
        .fold(0.0, f64::max);
    out.say(format!(
        "sentinel layer {NO_LAYER}: max diffnorm vs clean = {sentinel_max:.3e}"
    ));
    let (h_red, _) = reduced_full_run(model, batch, block, threshold, &counts)?;
    for &(l, r, c, n) in counts.borrow().iter() {
        out.say(format!(
            "Changed layer {l} with {c:.2}% variance ({r}/{n} comps)"
        ));
    }
    let n = model.cfg.n_layers;
    let diffnorm: Vec<f64> = (0..n)
        .map(|i| fro(&clean.hidden[i + 1], &h_red[i + 1]))
        .collect();
    out.say(format!("part3 diffnorm = {}", fmt_floats(&diffnorm, 6)));
    let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let panel = Panel::new(&format!("Impact of reducing block {block}'s output"))
        .xlabel("Transformer block")
        .x_ticks(layer_ticks(n))
        .ylabel("‖H_clean − H_reduced‖ (Frobenius)")
        .add(Series::hline(0.0, Style::line(BLACK).dotted()))
        .add(Series::vline(
            block as f64,
            Style::line(BLACK).dashed().label("Reduced block"),
        ))
        .add(Series::scatter(
            x,
            diffnorm,
            Style::markers(BLUE, Marker::Hexagon)
                .size(6)
                .label("Hidden-state difference"),
        ))
        .legend_at(LegendPos::Best);
    out.figure(&Figure::new(9.0, 4.5).panel(panel), &format!("{FIG}_part3"))?;
    Ok(())
}

/// Part 4: reduce each block's output in turn.
fn part4_laminar_sweep(
    model: &HookedModel,
    batch: &Batch,
    clean: &Clean,
    threshold: f64,
    quick: bool,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 4: laminar sweep ({threshold}% variance)"
    ));
    let n = model.cfg.n_layers;
    let names = model.hidden_state_names();
    let counts: Counts = Default::default();
    let ids = batch.ids.get(0);
    let (mut hid, mut logit, mut loss, mut per_tok) = (vec![], vec![], vec![], vec![]);
    let pb = common::progress::bar(n as u64, "reducing each block");
    for l in 0..n {
        // Work saving: blocks 0..L-1 are unchanged, so the reduced run starts at block L
        // from the clean run's H[L] (start_at) and caches only H[L+1].
        let hooks = [reduction_hook(l, threshold, counts.clone())];
        let resid_pre = clean.hidden[l].unsqueeze(0).to_kind(model.dtype());
        let mut run = model.run(
            batch,
            &RunOptions::default()
                .hooks(&hooks)
                .cache(Names::list(&[&names[l + 1]]))
                .logits(LogitsAt::All)
                .start_at(l, resid_pre),
        )?;
        let h = run
            .cache
            .remove(&names[l + 1])
            .ok_or_else(|| anyhow!("{} not cached", names[l + 1]))?
            .get(0)
            .to_kind(Kind::Float);
        let logits = run.logits.ok_or_else(|| anyhow!("no logits"))?.get(0);
        let diff = (&clean.hidden[l + 1] - &h).to_kind(Kind::Double);
        hid.push(diff.norm().double_value(&[]));
        per_tok.push(Vec::<f64>::try_from(diff.linalg_norm(
            2.0,
            [1i64].as_slice(),
            false,
            Kind::Double,
        ))?);
        logit.push(fro(&logits, &clean.logits));
        loss.push(lm_loss(&logits, &ids)?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    for &(l, r, c, n) in counts.borrow().iter() {
        out.say(format!(
            "Changed layer {l} with {c:.2}% variance ({r}/{n} comps)"
        ));
    }
    let comps: Vec<f64> = counts.borrow().iter().map(|c| c.1 as f64).collect();
    ensure!(
        comps.len() == n,
        "the hook ran {} times for {n} blocks",
        comps.len()
    );
    out.say(format!("part4 compsCount = {}", fmt_floats(&comps, 0)));
    out.say(format!("part4 hidden diffnorms = {}", fmt_floats(&hid, 6)));
    out.say(format!("part4 logit diffnorms = {}", fmt_floats(&logit, 6)));
    out.say(format!("part4 loss = {}", fmt_floats(&loss, 6)));
    out.say(format!(
        "layers whose reduction raised the loss above the clean {:.6}: {} of {n}",
        clean.loss,
        loss.iter().filter(|&&v| v > clean.loss).count()
    ));
    let rows_t: Vec<Vec<String>> = (0..n)
        .map(|l| {
            vec![
                l.to_string(),
                format!("{}", comps[l]),
                format!("{:.6}", hid[l]),
                format!("{:.6}", logit[l]),
                format!("{:.6}", loss[l]),
            ]
        })
        .collect();
    out.table(
        "part4_sweep",
        &[
            "layer",
            "components",
            "hidden_diffnorm",
            "logit_diffnorm",
            "loss",
        ],
        &rows_t,
    )?;
    let t = ids.size()[0];
    let blocks_full = n * n;
    let blocks_run: usize = (0..n).map(|l| n - l).sum();
    out.say(format!(
        "work saved (start_at): {blocks_run} block evaluations instead of {blocks_full} in Part 4"
    ));

    let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let max_h = hid.iter().cloned().fold(f64::MIN, f64::max);
    let max_l = logit.iter().cloned().fold(f64::MIN, f64::max);
    let full_dim = (t as usize).min(model.cfg.d_model) as f64;
    let pct: Vec<f64> = comps.iter().map(|c| 100.0 * c / full_dim).collect();
    let a = Panel::new(&format!(
        "Components to achieve
        .x_ticks(layer_ticks(n)) {threshold:.0}% variance"
    ))
    .xlabel("Transformer layer")
    .ylabel("Number of components")
    .add(Series::line(
        x.clone(),
        comps.clone(),
        Style::markers(BLACK, Marker::Hexagon)
            .size(5)
            .solid()
            .width(1),
    ));
    let b = Panel::new("Impact on logits and hidden states")
        .x_ticks(layer_ticks(n))
        .xlabel("Transformer layer")
        .ylabel("Norm of difference (/ max)")
        .add(Series::scatter(
            x.clone(),
            hid.iter().map(|v| v / max_h).collect(),
            Style::markers(BLUE, Marker::Square)
                .size(5)
                .label("Hidden states"),
        ))
        .add(Series::scatter(
            x.clone(),
            logit.iter().map(|v| v / max_l).collect(),
            Style::markers(RED, Marker::Circle).size(5).label("Logits"),
        ))
        .legend_at(LegendPos::Best);
    let c = Panel::new("Impact of reduction on loss")
        .x_ticks(layer_ticks(n))
        .xlabel("Transformer layer")
        .ylabel("Loss")
        .add(Series::hline(
            clean.loss,
            Style::line(BLACK).dashed().label("Clean loss"),
        ))
        .add(Series::scatter(
            x.clone(),
            loss.clone(),
            Style::markers(BLUE, Marker::Pentagon)
                .size(6)
                .label("Reduced"),
        ))
        .legend_at(LegendPos::Best);
    // matplotlib's CMRmap is not among common's colormaps: Plasma (dark → bright) instead;
    // the colour values are the layer indices normalised by the colormap's range.
    let d = Panel::new("Dimensionality vs loss")
        .xlabel("Hidden state dimensionality (% total)")
        .ylabel("Loss")
        .add(Series::scatter_colored(
            pct,
            loss.clone(),
            Style::markers(BLACK, Marker::Circle)
                .size(6)
                .label("Hidden layer"),
            x.clone(),
            Colormap::Plasma,
        ));
    out.figure(
        &Figure::grid(12.0, 9.0, 2, 2)
            .panel(a)
            .panel(b)
            .panel(c)
            .panel(d),
        &format!("{FIG}_part4a"),
    )?;

    // origin "lower": layer 0 at the bottom (row 0 of a Heatmap is drawn at the top).
    per_tok.reverse();
    // The book's colour limits [20, 120] suit GPT-Neo-1.3B's norms; the tiny model's are
    // ~1, so --quick uses the data's own range.
    let (lo, hi) = if quick {
        let v = per_tok.iter().flatten();
        (
            v.clone().cloned().fold(f64::MAX, f64::min),
            v.cloned().fold(f64::MIN, f64::max),
        )
    } else {
        (20.0, 120.0)
    };
    let heat = Panel::new("Impact of reduction on hidden states")
        .xlabel("Token position")
        .ylabel("Reduced layer")
        .y_ticks(layer_ticks(n))
        .heatmap(
            Heatmap::new(per_tok, Colormap::Magma)
                .range(lo, hi)
                .label("‖H_clean[t] − H_reduced[t]‖")
                .extent((-0.5, t as f64 - 0.5), (-0.5, n as f64 - 0.5)),
        );
    out.figure(
        &Figure::new(12.0, 5.0).panel(heat),
        &format!("{FIG}_part4b"),
    )?;
    Ok(())
}
