"""`pip install keras-invariance` without extras imports and trains.

Keras Tuner and TensorBoard (`tuner`), scikit-learn (`digits`) and
matplotlib (`plots`) are extras: `import keras_invariance` works without
them, and a feature that needs one raises an ImportError naming the extra.
Each check runs in a fresh process where those modules cannot be imported
(`sys.modules[name] = None`, as for a package that is not installed).
"""

import ast
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from keras_invariance.utils import extras

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPTIONAL = ("keras_tuner", "kerastuner", "tensorboard", "sklearn", "matplotlib", "scipy")

_BLOCK = f"""
import sys
for name in {OPTIONAL!r}:
    sys.modules[name] = None
"""


def _run(code, block=True):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")]
                                                        if p]))
    source = (_BLOCK if block else "") + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", source], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_the_package_imports_and_trains_without_any_extra():
    out = _run("""
        import warnings
        warnings.simplefilter("error", DeprecationWarning)
        import keras
        import numpy as np
        import keras_invariance as ki

        base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model = ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.1))
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(np.ones((8, 4), "float32"), np.zeros(8, "int32"), epochs=1, verbose=0)
        ki.integrations.callbacks.NoisyValidation
        print("trained", ki.__version__)
    """)
    assert "trained" in out


#: A feature that needs an extra → the extra its ImportError names.
CASES = {
    "tuning": ("import keras_invariance as ki\nki.integrations.tuning", "tuner"),
    "tuning, old path": ("import keras_invariance as ki\nki.tuning", "tuner"),
    "tuning, import": ("import keras_invariance.integrations.tuning", "tuner"),
    "fair mode": ("import keras_invariance.integrations.report.tune", "tuner"),
    "digits": ("import keras_invariance as ki\nki.datasets.load_digits()", "digits"),
    "plots": ("from keras_invariance.evaluation import plots\n"
              "plots.plot_curves({'m': ([0], [1])}, xlabel='s')", "plots"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_missing_extra_is_named_in_the_import_error(case):
    code, extra = CASES[case]
    out = _run(f"""
try:
{textwrap.indent(code, "    ")}
except ImportError as error:
    print("ImportError:", error)
""")
    assert f"pip install 'keras-invariance[{extra}]'" in out, out


def test_the_cli_names_the_extra_in_one_line():
    out = _run("""
        import contextlib, io
        from keras_invariance.integrations import cli
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                cli.run(["tune", "--max-trials", "1"])
            except SystemExit as exit:
                print("status", exit.code)
        print(err.getvalue())
    """)
    assert "status 2" in out and "keras-invariance[tuner]" in out, out


def test_import_loads_no_integration():
    out = _run("""
        import sys
        import keras_invariance
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("keras_tuner", "tensorboard")
                     or m.startswith("keras_invariance.integrations")))
    """, block=False)
    assert out.strip() == "[]", out


def _setup_lists():
    """setup.py's lists of requirements, read without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    lists = {}

    def value(node):
        if isinstance(node, ast.BinOp):
            return value(node.left) + value(node.right)
        return lists[node.id] if isinstance(node, ast.Name) else ast.literal_eval(node)

    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            lists[node.targets[0].id] = value(node.value)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", None) == "setup")
    keywords = {k.arg: k.value for k in call.keywords}
    return lists, ast.literal_eval(keywords["install_requires"])


def test_setup_requires_only_the_core_and_its_extras_match_the_errors():
    lists, install_requires = _setup_lists()
    assert [re.split("[<>=]", r)[0] for r in install_requires] == ["tensorflow", "keras", "numpy"]
    for extra, distributions in extras.EXTRAS.items():
        assert sorted(lists[extra.upper()]) == sorted(distributions), extra
    for name in ("TUNER", "DIGITS", "PLOTS"):
        assert set(lists[name]) <= set(lists["TEST"])


def test_the_readme_commands_install_what_the_main_job_and_the_tests_need():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^```bash\n(python3 -m venv .*)\n```", readme, flags=re.M)
    main_job, tests = commands[:2]
    assert '-e ".[report]"' in main_job and main_job.endswith("keras-invariance report")
    assert '-e ".[test]"' in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == tests
