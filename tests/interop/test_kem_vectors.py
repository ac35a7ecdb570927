"""whelk's ML-KEM-768 and sntrup761 against independent implementations,
byte for byte: @noble/post-quantum (ML-KEM) and @oqs/liboqs-js (liboqs's
sntrup761 compiled to WebAssembly), both pinned by tests/node's lockfile.
Both sides read the same keystream (tests/tools/kemvec.c describes it);
each line holds every key, ciphertext and shared secret of one seed,
including the key for a rejected (random or corrupted) ciphertext."""

import os
import subprocess

import pytest

from conftest import BUILD

FIELDS = {"mlkem": ["ek", "dk", "ct", "K", "K_reject"],
          "sntrup": ["pk", "sk", "ct", "K", "K_corrupted"]}


@pytest.mark.parametrize("kem,count", [("mlkem", 1000), ("sntrup", 200)])
def test_agrees_with_javascript(node_deps, kem, count):
    ours = subprocess.run([os.path.join(BUILD, "tests", "kemvec"), kem,
                           str(count)], capture_output=True, text=True,
                          timeout=300, check=True).stdout.splitlines()
    theirs = subprocess.run(["node", "kem_vectors.mjs", kem, str(count)],
                            cwd=node_deps, capture_output=True, text=True,
                            timeout=600)
    assert theirs.returncode == 0, theirs.stderr
    theirs = theirs.stdout.splitlines()
    assert len(ours) == len(theirs) == count
    for a, b in zip(ours, theirs):
        if a != b:
            fa, fb = a.split(), b.split()
            wrong = [name for name, x, y in
                     zip(["index"] + FIELDS[kem], fa, fb) if x != y]
            pytest.fail(f"{kem} seed {fa[0]}: {', '.join(wrong)} differ")
    # The rejection keys are not the real ones: the comparison covered
    # implicit rejection, not a second copy of K.
    assert all(line.split()[4] != line.split()[5] for line in ours)
