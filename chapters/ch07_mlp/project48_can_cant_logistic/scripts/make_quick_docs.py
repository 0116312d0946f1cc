"""Writes data/quick_docs.txt, the short documents (one per line) that project 48's
--quick run reads in place of C4. Deterministic (seed 48); run once, the file is committed:
    .venv/bin/python chapters/ch07_mlp/project48_can_cant_logistic/scripts/make_quick_docs.py
Each document is a few sentences written for the project; some contain " can't" (the ASCII
apostrophe), " can" followed by a word, the excluded followers (" can of", " can not",
" can in", ...), curly-apostrophe forms that must not count, and a " can" within the first
ten tokens that must be skipped.
"""

import pathlib
import random

rng = random.Random(48)
subjects = ["The old farmer", "My younger sister", "Every student in the class", "The new manager",
            "Our neighbour across the street", "A small child", "The tired doctor", "This machine",
            "The local council", "His best friend", "The football team", "That strange little dog"]
middles = ["said yesterday that she", "told everyone at the meeting that he", "believes that it",
           "explained on the radio that they", "wrote in the letter that we", "admitted quietly that I",
           "has made it very clear that you", "insisted during the long dinner that one"]
verbs = ["do", "help", "see", "find", "make", "read", "finish", "remember", "imagine", "wait"]
objs = ["the work on time.", "the answer to that question.", "much more than that.",
        "the house from the hill.", "a better way forward.", "it without any help."]
fillers = ["It was a cold morning in the valley and the river was high after the rain.",
           "Nobody in the village had expected the storm to arrive so early this year.",
           "The train was late again, and the platform was crowded with people going home.",
           "Prices at the market have gone up for the third month in a row."]
excluded = ["a can of beans", "a can with a dent", "the can from the shop", "the can in the fridge",
            "a can on the shelf", "a can for the paint"]


def sentence(kind):
    s = f"{rng.choice(subjects)} {rng.choice(middles)}"
    if kind == "cant":
        return f"{s} can't {rng.choice(verbs)} {rng.choice(objs)}"
    if kind == "can":
        return f"{s} can {rng.choice(verbs)} {rng.choice(objs)}"
    if kind == "curly":
        return f"{s} can\u2019t {rng.choice(verbs)} {rng.choice(objs)}"
    if kind == "not":
        return f"{s} can not {rng.choice(verbs)} {rng.choice(objs)}"
    return f"{s} bought {rng.choice(excluded)} and went home."


docs = []
for i in range(70):
    parts = [rng.choice(fillers)]
    kinds = ["cant", "can", "can"] + rng.sample(["curly", "not", "noun", "can", "cant"], 2)
    rng.shuffle(kinds)
    parts += [sentence(k) for k in kinds]
    docs.append(" ".join(parts))
# a " can" in the first ten tokens (skipped) and a document with no "can" at all
docs.insert(3, "We can't stop now, said the captain. " + fillers[0])
docs.insert(5, fillers[1] + " " + fillers[2])
out = pathlib.Path(__file__).resolve().parents[1] / "data" / "quick_docs.txt"
out.write_text("\n".join(docs) + "\n")
print(f"wrote {len(docs)} documents to {out}")
