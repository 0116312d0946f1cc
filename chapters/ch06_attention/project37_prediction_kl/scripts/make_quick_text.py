"""Writes src/quick_text.txt, the text `--quick` uses in place of Alice's Adventures in
Wonderland. Run once (the file is committed):
    .venv/bin/python chapters/ch06_attention/project37_prediction_kl/scripts/make_quick_text.py

The tiny GPT-2 in assets/models/tiny-gpt2 has random weights: on ordinary prose its top-1
prediction is never the next token, so the "correct" group of this project would be
empty. The quick text is therefore a short story written for this project (PROSE below)
into whose middle 64-token window -- the window the program analyses, start =
floor(n / 2) -- some of the tiny model's own greedy predictions are spliced: at a position
where the story's next token starts a new word, with probability 0.45 (seed 37), the
model's argmax given the window so far is inserted instead (only tokens that are a space
plus letters, so that the text re-tokenises to the same ids). The token right after the
window is always such a prediction, so the last window position is "correct" only when
its target is taken from the stream beyond the window (offline check 4). The script
checks that the text re-encodes to the same tokens and that the window starts where the
program will look.
"""

import pathlib
import random

import torch
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
TINY = CRATE.parents[2] / "assets" / "models" / "tiny-gpt2"
WINDOW = 64
START = 80

PROSE = (
    "The lighthouse keeper on Gull Point kept a notebook of every ship that passed. "
    "In the spring she wrote down the fishing boats, small and bright, that left before "
    "dawn and came back heavy with nets. In the summer the ferries crossed twice a day, "
    "and children waved from the upper deck while the gulls followed the wake. When autumn "
    "came the notebook filled with cargo vessels, long and grey, whose names she could read "
    "only through the brass telescope her grandfather had left her. She liked the winter "
    "best, though, because hardly anything moved on the water and she could sit by the lamp "
    "with a cup of tea and read the old pages again. Each line was a little story: a boat "
    "that arrived late, a storm that turned a tanker around, a sailboat with a red sail that "
    "came every year on the same morning and never once stopped at the harbour. She "
    "wondered where it went and who steered it, and one year she decided to row out and "
    "ask. The sea was calm that morning, the oars were light in her hands, and the red sail "
    "grew larger as she pulled towards it across the quiet bay."
)


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
    prose = tok(PROSE)["input_ids"]
    rng = random.Random(37)
    vocab = tok.convert_ids_to_tokens(list(range(len(tok))))

    def ok(t):
        s = vocab[t]
        return s.startswith("\u0120") and len(s) > 1 and s[1:].isalpha() and s[1:].isascii()

    def predict(w):
        with torch.no_grad():
            return int(model(torch.tensor([w])).logits[0, -1].argmax())

    stream = prose[:START]
    p = START  # next prose token
    window = [prose[p]]
    p += 1
    while len(window) < WINDOW + 1:  # the window and the first token after it
        last = len(window) == WINDOW
        pred = predict(window)
        if ok(pred) and ok(prose[p]) and (last or rng.random() < 0.45):
            window.append(pred)
        else:
            assert not last, "the token after the window must be a prediction: change the seed"
            window.append(prose[p])
            p += 1
    stream += window
    # the tail makes start = floor(n / 2): n = 2 * START
    while len(stream) < 2 * START:
        stream.append(prose[p])
        p += 1
    text = tok.decode(stream)
    again = tok(text)["input_ids"]
    assert again == stream, "the text does not re-tokenise to the same ids"
    assert len(again) // 2 == START
    preds = []
    with torch.no_grad():
        lg = model(torch.tensor([stream[START:START + WINDOW]])).logits[0]
    preds = lg.argmax(-1).tolist()
    correct = [preds[t] == stream[START + t + 1] for t in range(WINDOW)]
    print(f"{len(stream)} tokens; window {START}..{START + WINDOW - 1}; "
          f"{sum(correct)} of {WINDOW} correct; last correct: {correct[-1]}")
    (CRATE / "src" / "quick_text.txt").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
