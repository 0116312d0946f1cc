"""Per-token losses of the tiny GPT-2 on the --quick contexts, from transformers.

Each context's first 6 GPT-2 tokens form one row (as the project builds its batches from
HellaSwag's ctx_a). For every row this records
  - ids: the 6 token ids (tokenizer.json of assets/models/tiny-gpt2, no special tokens);
  - builtin_loss: model(ids, labels=ids).loss, transformers' own shifted mean loss;
  - token_losses: the 5 per-token terms of that loss, F.cross_entropy(reduction="none")
    of logits[:, :-1] against ids[:, 1:] (target = token t+1);
  - same_token_nll: -log softmax(logits[t])[ids[t]] (the wrong target, token t), so the
    test can tell the two apart.
Pinned: torch 2.13.0, transformers 4.57.6 (the workspace's .venv).
"""
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

root = Path(sys.argv[1])
out = Path(sys.argv[2])
model_dir = root / "assets/models/tiny-gpt2"
crate = root / "chapters/ch04_output_logits/project21_position_regression"
texts = [l for l in (crate / "src/quick_contexts.txt").read_text().splitlines() if l.strip()]
SEQLEN = 6

tok = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
model = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32).eval()

rows = []
with torch.no_grad():
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False)
        assert len(ids) >= SEQLEN, (text, ids)
        ids = torch.tensor([ids[:SEQLEN]])
        res = model(ids, labels=ids)
        logits = res.logits[0]
        per_token = F.cross_entropy(logits[:-1], ids[0, 1:], reduction="none")
        same = -torch.log_softmax(logits[:-1], -1).gather(1, ids[0, :-1, None])[:, 0]
        assert abs(per_token.mean().item() - res.loss.item()) < 1e-5
        rows.append(
            {
                "text": text,
                "ids": ids[0].tolist(),
                "builtin_loss": res.loss.item(),
                "token_losses": per_token.tolist(),
                "same_token_nll": same.tolist(),
            }
        )

out.write_text(
    json.dumps(
        {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "seqlen": SEQLEN,
            "rows": rows,
        },
        indent=1,
    )
    + "\n"
)
print(f"wrote {out} ({len(rows)} rows)")
