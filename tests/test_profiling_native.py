"""The native profile of a compiled tier (bench.native_profile): py-spy --native over a child that
loops the family's profile workload, folded and drawn as a flame graph beside the pyinstrument
HTML. The folding is checked on made-up py-spy output; the whole path on a real child (skipped,
with py-spy's reason, only where py-spy cannot run or trace its child here)."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import lineup, native_profile, profiling
from bench.native_profile import COMPILED, NATIVE, NOT_UNWOUND, PYTHON, JitCode, fold, render_svg
from impls import registry

REPO = str(Path(native_profile.__file__).resolve().parents[1])  # py-spy gives absolute paths
ROOT = ("0x7f00000001", "/usr/lib/x86_64-linux-gnu/libc.so.6")
MAIN = [ROOT, ("main", f"{REPO}/bench/native_profile.py"), ("sample_workload", f"{REPO}/bench/native_profile.py")]
IMPORT = [ROOT, ("<module>", f"{REPO}/bench/native_profile.py"), ("_find_and_load", "<frozen importlib._bootstrap>")]
GC = [ROOT, ("gc_collect_main", "/usr/lib/libpython3.11.so.1.0")]
DECODE = [("profile_workload", f"{REPO}/bench/cases/serial.py"), ("decode_batch", "native/serial_proto_decode.pxi"),
          ("decode_batch", "native/serial_proto_decode.pxi"), ("_cy__parse_order", "native/serial_proto_decode.pxi")]
NB = f"{REPO}/impls/serial/nb.py"
#: What py-spy --native --function records, in time order (as its speedscope JSON keeps it):
#: start-up, the workload -- Cython frames with their .pxi (a def's wrapper and body both named for
#: it), a mangled Cython name, a Numba kernel's address, an address outside every kernel, a sample
#: that never reached Python -- and the exit's garbage collection.
SAMPLES = ([IMPORT] * 7 + [MAIN + DECODE] * 7
           + [MAIN + [("lookup", "bench/cases/hashring.py"), ("__pyx_tp_vectorcall_5impls_8hashring_3_cy_Ring",
                                                              "native/hashring.pyx")]]
           + [GC] * 2
           + [MAIN + [("_decode", NB), ("0x7f0000001040", "?")]] * 3
           + [MAIN + [("_decode", NB), ("0x7f0000009000", "?")]]
           + [GC] * 4)


def _speedscope(samples: list) -> dict:
    frames, index, stacks = [], {}, []
    for sample in samples:
        for name, file in sample:
            if (name, file) not in index:
                index[name, file] = len(frames)
                frames.append({"name": name, "file": file, "line": 1, "col": None})
        stacks.append([index[frame] for frame in sample])
    return {"shared": {"frames": frames},
            "profiles": [{"type": "sampled", "samples": stacks, "weights": [0.004] * len(stacks)}]}


JIT = JitCode([(0x7F0000001000, 0x7F0000002000, "impls.serial.nb_proto_decode.decode [numba JIT]")])


def test_fold_keeps_the_workload_and_names_compiled_frames():
    stacks, dropped = fold(_speedscope(SAMPLES), JIT)
    assert dropped == 7 + 4  # the import (start-up) and the exit's collection, not the workload
    folded = {tuple(label for label, _ in stack): n for stack, n in stacks.items()}
    # The def's wrapper and body are one box; the line is dropped, so the two lines are one frame.
    assert folded[("profile_workload (bench/cases/serial.py)", "decode_batch (native/serial_proto_decode.pxi)",
                   "_cy._parse_order (native/serial_proto_decode.pxi)")] == 7
    assert folded[("lookup (bench/cases/hashring.py)", "_cy.Ring [tp_vectorcall] (native/hashring.pyx)")] == 1
    assert folded[("_decode (impls/serial/nb.py)", "impls.serial.nb_proto_decode.decode [numba JIT]")] == 3
    assert folded[("_decode (impls/serial/nb.py)", "[code without a symbol]")] == 1  # outside every kernel
    # A collection while the workload ran, which py-spy could not unwind to Python: kept.
    assert folded[(NOT_UNWOUND, "libc.so.6 (no symbol)", "gc_collect_main (libpython3.11.so.1.0)")] == 2
    kinds = {label: kind for stack in stacks for label, kind in stack}
    assert kinds["_cy._parse_order (native/serial_proto_decode.pxi)"] == COMPILED
    assert kinds["impls.serial.nb_proto_decode.decode [numba JIT]"] == COMPILED
    assert kinds["_decode (impls/serial/nb.py)"] == PYTHON
    assert kinds["gc_collect_main (libpython3.11.so.1.0)"] == NATIVE


def test_frames_of_an_extension_without_line_tables_are_still_its_own():
    """An interpreter built without -g compiles the extension without line tables: py-spy then
    names the extension's file instead of the .pyx -- still the tier's code, unlike numpy's."""
    ours = {"name": "__pyx_f_5impls_6serial_3_cy__parse_order", "file": f"{REPO}/impls/serial/_cy.cpython-311.so"}
    numpy = {"name": "__pyx_f_5numpy_6random_7_common_cont", "file": "/x/site-packages/numpy/random/_common.so"}
    assert native_profile.frame_label(ours, JIT)[1] == COMPILED
    assert native_profile.frame_label(numpy, JIT)[1] == NATIVE


def test_the_flame_graph_is_standalone_svg():
    stacks, _ = fold(_speedscope(SAMPLES), JIT)
    text = render_svg(stacks, "serial / cython <test>", ["a note"])
    root = ET.fromstring(text.encode())  # well-formed XML, names escaped
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("_cy._parse_order (native/serial_proto_decode.pxi): 7 samples") for t in titles)
    # Opens offline: no script, nothing fetched (the xmlns is a name, never loaded).
    assert "<script" not in text and not re.search(r"(?:href|src)\s*=|url\(|@import", text)


@pytest.fixture(scope="module")
def serial_cython(tmp_path_factory):
    """The native profile of serial's Cython tier, one second of the quick workload."""
    if "cython" not in registry.names("serial"):
        pytest.skip(f"serial/cython is not built: {registry.unavailable('serial').get('cython')}")
    out = tmp_path_factory.mktemp("profiles")
    try:
        svg = native_profile.native_profile(lineup.get("serial", "cython"), out, quick=True, seconds=1.0)
    except profiling.ThreadProfileUnavailable as exc:
        pytest.skip(f"py-spy cannot profile here: {exc}")
    return out, svg


def test_a_compiled_tier_gets_a_native_profile_with_the_extensions_frames(serial_cython):
    out, svg = serial_cython
    assert svg == out / "serial-cython.native.svg"
    ET.fromstring(svg.read_bytes())
    folded = (out / "serial-cython.native.folded.txt").read_text().splitlines()
    frames = {frame for line in folded for frame in line.rpartition(" ")[0].split(";")}
    # Frames of the extension impls.serial._cy, named with their Cython source: more than the
    # one opaque call pyinstrument sees.
    # (Or by the extension's file, where the interpreter's build flags had no -g: no line tables.)
    extension = {f for f in frames if re.search(r"(serial\w*\.(pyx|pxi)|impls/serial/_cy\.[^/)]*\.so)\)$", f)}
    assert len(extension) >= 2, sorted(frames)
    assert any(f in svg.read_text() for f in extension)
    assert not any("_find_and_load" in f for f in frames)  # start-up is left out


def test_a_numba_tier_names_its_kernels(tmp_path):
    """py-spy shows JIT code as bare addresses; the child's code map names them. The worker pool's
    kernel spends most of its time in JIT code, so a short run samples it for sure."""
    if "numba" not in registry.names("workerpool"):
        pytest.skip(f"workerpool/numba is unavailable: {registry.unavailable('workerpool').get('numba')}")
    try:
        svg = native_profile.native_profile(lineup.get("workerpool", "numba"), tmp_path, quick=True, seconds=1.0)
    except profiling.ThreadProfileUnavailable as exc:
        pytest.skip(f"py-spy cannot profile here: {exc}")
    folded = (tmp_path / "workerpool-numba.native.folded.txt").read_text()
    assert re.search(r"impls\.workerpool\.nb_kernel\.\w+ \[numba JIT\]", folded), folded[:3000]
    assert svg.exists()


def test_only_compiled_tiers_get_one():
    assert not native_profile.applies(lineup.get("serial", "pure"))
    if "cython" in registry.names("serial"):
        assert native_profile.applies(lineup.get("serial", "cython"))


def test_child_report_lists_numba_code():
    """The child's code map (without py-spy): every compiled kernel's code, in this process."""
    if "numba" not in registry.names("workerpool"):
        pytest.skip("workerpool/numba is unavailable")
    lineup.get("workerpool", "numba").warmup()
    code = json.loads(json.dumps(native_profile.jit_code()))
    labels = {label for _, _, label in code}
    assert any(label.startswith("impls.workerpool.nb_kernel.") for label in labels), sorted(labels)
    assert all(start < end for start, end, _ in code)


def test_without_py_spy_the_pyinstrument_profile_stands_alone(tmp_path, monkeypatch, capsys):
    if "cython" not in registry.names("serial"):
        pytest.skip("serial/cython is not built")

    def unavailable(*args, **kwargs):
        raise profiling.ThreadProfileUnavailable("py-spy is not installed")

    monkeypatch.setattr(native_profile, "run_py_spy", unavailable)
    html = profiling.profile(lineup.get("serial", "cython"), tmp_path, quick=True)
    assert html.exists() and not list(tmp_path.glob("*.native.*"))
    assert "no native profile (py-spy)" in capsys.readouterr().err
