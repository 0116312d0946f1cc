"""Reference side of the benchmark (see scripts/bench): transformers and TransformerLens
running the same workloads on the same weights as the Rust side.

  python bench/reference.py make-model DIR     # random gpt2-small-shaped weights, saved once
  python bench/reference.py run W DIR OUT.json # one workload, one process (for peak memory)
  (W7 runs on a model folder of bench/load.py make, e.g. the gpt2-xl shape)

Each `run` prints nothing but writes a JSON object: {"workload", "variant" -> {"median_s",
"times_s", "peak_rss_mb"}, "values" (W4: the 144 logit differences)}.
"""

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

REPS = 5
torch.set_grad_enabled(False)
if os.environ.get("BENCH_THREADS"):
    torch.set_num_threads(int(os.environ["BENCH_THREADS"]))

DEVICE = os.environ.get("BENCH_DEVICE", "cpu")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn):
    fn()  # warm-up
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()
    times = []
    for _ in range(REPS):
        t = time.perf_counter()
        fn()
        if DEVICE.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    out = {"median_s": statistics.median(times), "times_s": times, "peak_rss_mb": peak_rss_mb()}
    if DEVICE.startswith("cuda"):
        # GPU memory, for reading next to the table; the table's memory columns are host RSS
        # on both sides (tch does not expose the CUDA caching allocator's statistics).
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def inputs():
    """The shared inputs: written by make-model, read by both sides."""
    return json.loads(Path(sys.argv[3], "inputs.json").read_text())


def hf_model(d):
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(d, attn_implementation="eager").eval().to(DEVICE)


def make_model(d: str) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    out = Path(d)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()  # gpt2-small shape: 12 layers, d 768
    model.save_pretrained(out, safe_serialization=True)
    g = torch.Generator().manual_seed(1)
    w1 = torch.randint(0, 50257, (8, 128), generator=g).tolist()
    lens = torch.randint(8, 25, (200,), generator=g).tolist()
    w2 = [torch.randint(0, 50257, (n,), generator=g).tolist() for n in lens]
    # W4: an indirect-object-identification pair of prompts of the same length.
    from transformers import GPT2TokenizerFast

    tok = GPT2TokenizerFast(tokenizer_file=str(Path(__file__).resolve().parent.parent / "assets/models/tiny-gpt2/tokenizer.json"))
    clean = tok("When Mary and John went to the store, John gave a drink to")["input_ids"]
    corrupt = tok("When Mary and John went to the store, Mary gave a drink to")["input_ids"]
    assert len(clean) == len(corrupt)
    io_tok, s_tok = tok(" Mary")["input_ids"][0], tok(" John")["input_ids"][0]
    (out / "inputs.json").write_text(json.dumps({"w1": w1, "w2": w2, "w4": {"clean": clean, "corrupt": corrupt, "io": io_tok, "s": s_tok}}))


def w1(d):
    m = hf_model(d)
    ids = torch.tensor(inputs()["w1"], device=DEVICE)
    return {"transformers": timed(lambda: m(ids).logits)}


def w2(d):
    m = hf_model(d)
    seqs = inputs()["w2"]

    def loop():
        for s in seqs:
            m(torch.tensor([s], device=DEVICE), output_hidden_states=True)

    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    ids, mask = ids.to(DEVICE), mask.to(DEVICE)

    def batched():
        m(ids, attention_mask=mask, output_hidden_states=True)

    return {"transformers_loop": timed(loop), "transformers_batched": timed(batched)}


def tl_model(d):
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights

    hf = hf_model(d).cpu()
    c = hf.config
    cfg = HookedTransformerConfig(
        n_layers=c.n_layer, d_model=c.n_embd, d_head=c.n_embd // c.n_head, n_heads=c.n_head,
        d_mlp=4 * c.n_embd, d_vocab=c.vocab_size, n_ctx=c.n_positions, act_fn="gelu_new",
        normalization_type="LN", device=DEVICE,
    )
    model = HookedTransformer(cfg)
    model.load_and_process_state_dict(
        convert_gpt2_weights(hf, cfg), fold_ln=False, center_writing_weights=False,
        center_unembed=False, fold_value_biases=False, refactor_factored_attn_matrices=False,
    )
    return model.eval()


def w3(d):
    m = tl_model(d)
    ids = torch.tensor(inputs()["w1"], device=DEVICE)
    return {"transformer_lens": timed(lambda: m.run_with_cache(ids))}


def w4(d):
    m = hf_model(d)
    inp = inputs()["w4"]
    clean = torch.tensor([inp["clean"]], device=DEVICE)
    corrupt = torch.tensor([inp["corrupt"]], device=DEVICE)
    n_layers, n_heads = m.config.n_layer, m.config.n_head
    dh = m.config.n_embd // n_heads
    # z of the corrupted run: the input of each block's attention output projection.
    z_corrupt = {}
    hooks = [
        blk.attn.c_proj.register_forward_pre_hook(lambda mod, args, l=l: z_corrupt.__setitem__(l, args[0].clone()))
        for l, blk in enumerate(m.transformer.h)
    ]
    m(corrupt)
    for h in hooks:
        h.remove()
    values = []

    def sweep():
        values.clear()
        for l in range(n_layers):
            for h in range(n_heads):
                def patch(mod, args, l=l, h=h):
                    z = args[0].clone()
                    z[..., h * dh:(h + 1) * dh] = z_corrupt[l][..., h * dh:(h + 1) * dh]
                    return (z,)

                handle = m.transformer.h[l].attn.c_proj.register_forward_pre_hook(patch)
                logits = m(clean).logits[0, -1]
                handle.remove()
                values.append((logits[inp["io"]] - logits[inp["s"]]).item())

    res = {"transformers_loop": timed(sweep)}
    return res, list(values)


def w5(d):
    m = hf_model(d)
    ids = torch.tensor(inputs()["w1"], device=DEVICE)

    fwd, unembed = [], []

    def lens():
        t = time.perf_counter()
        out = m(ids, output_hidden_states=True)
        hs = out.hidden_states  # [embeddings, block 0 .. block 10 outputs, ln_f(block 11)]
        if DEVICE.startswith("cuda"):
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        layers = [m.lm_head(m.transformer.ln_f(h)) for h in hs[1:-1]] + [m.lm_head(hs[-1])]
        if DEVICE.startswith("cuda"):
            torch.cuda.synchronize()
        fwd.append(t1 - t)
        unembed.append(time.perf_counter() - t1)
        return layers

    st = timed(lens)
    st["phases_s"] = {
        "forward_with_logits": statistics.median(fwd[1:]),
        "final_norm_and_unembed": statistics.median(unembed[1:]),
    }
    return {"transformers": st}


def w7(d):
    """Project 32's layer-patching sweep, the notebook's way: one forward hook per run that
    replaces the last position of block L's output with the other prompt's."""
    m = hf_model(d)
    prompt = inputs()["prompt"]
    assert prompt[9] == 4995, "not bench/load.py's IOI prompt"
    other = list(prompt)
    other[9] = 18966  # " Emma" for the second " Mike"
    io, s = 4995, 18966
    clean = torch.tensor([prompt], device=DEVICE)
    other = torch.tensor([other], device=DEVICE)
    values = []

    def sweep():
        values.clear()
        m(clean, use_cache=False)  # the clean run (both sides make it)
        caught = {}
        grab = [
            blk.register_forward_hook(lambda mod, args, out, l=l: caught.__setitem__(l, out[0][:, -1].clone()))
            for l, blk in enumerate(m.transformer.h)
        ]
        m(other, use_cache=False)
        for h in grab:
            h.remove()
        for l, blk in enumerate(m.transformer.h):
            def patch(mod, args, out, l=l):
                h = out[0].clone()
                h[:, -1] = caught[l]
                return (h,) + tuple(out[1:])

            handle = blk.register_forward_hook(patch)
            logits = m(clean, use_cache=False).logits[0, -1]
            handle.remove()
            values.append((logits[io] - logits[s]).item())

    res = {"transformers_hooks": timed(sweep)}
    return res, list(values)


def main():
    if sys.argv[1] == "make-model":
        make_model(sys.argv[2])
        return
    work, d, out = sys.argv[2], sys.argv[3], sys.argv[4]
    values = None
    result = {"w1": w1, "w2": w2, "w3": w3, "w4": w4, "w5": w5, "w7": w7}[work](d)
    if isinstance(result, tuple):
        result, values = result
    Path(out).write_text(json.dumps({"workload": work, "variants": result, "values": values}))


if __name__ == "__main__":
    main()
