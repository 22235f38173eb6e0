"""``openclarify demo``: the whole product in one command, on embedded defaults.

It starts the server in this process, trains a small model on data bundled with scikit-learn, deploys it with
an ExplainerConfig **through boto3 against that server** (the API users call), invokes it with explanations and
prints, per record, the prediction, the base value and the attributions with their error bars. Then it keeps
serving (console, metrics, API) until Ctrl-C, or exits with ``--exit``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from openclarify.commands.common import EXIT_USAGE, CliError, command_name, console, plural

NAME = "demo-breast-cancer"
TOP = 8  # features shown per record; the rest are summed in one line
BASELINE_ROWS = 10
DATA_ROWS = 569  # scikit-learn's bundled breast-cancer data, load_breast_cancer()
MAX_RECORDS = DATA_ROWS // 2
"""The records explained are held out of training: at most half the rows, so that the model still learns from the
other half (with all of them held out it has nothing to learn from)."""
MAX_SEED = 2**31 - 1
"""ShapConfig's Seed is a 32-bit integer in SageMaker's API; numpy and scikit-learn take no negative seed."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="start the server, deploy a small explained model through boto3, explain a few records, keep serving",
        description="Start a server on a free loopback port, train a classifier on scikit-learn's bundled "
        "breast-cancer data, create the model, an endpoint config with ExplainerConfig and an endpoint through "
        "boto3, invoke it with explanations and print them; then serve until Ctrl-C.",
    )
    parser.add_argument(
        "--records", type=int, default=3, help=f"how many records to explain, 1 to {MAX_RECORDS} (default: 3)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help=f"seed for the model, the records and baseline rows drawn from the data, and the explainer, 0 to "
        f"{MAX_SEED} (default: 0)",
    )
    parser.add_argument("--port", type=int, default=0, help="loopback port to serve on (default: a free one)")
    parser.add_argument(
        "--data-dir", type=Path, help="state and model directory (default: a temporary one, removed on exit)"
    )
    parser.add_argument(
        "--exit", "--no-wait", dest="exit", action="store_true", help="exit after printing instead of serving"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out = console(highlight=False)
    if not 1 <= args.records <= MAX_RECORDS:
        raise CliError(
            f"--records must be 1 to {MAX_RECORDS}: the records explained are held out of training, and the data set "
            f"has {DATA_ROWS} rows.",
            EXIT_USAGE,
        )
    if not 0 <= args.port <= 65535:
        raise CliError("--port must be a TCP port, 0 to 65535 (0: any free port).", EXIT_USAGE)
    if not 0 <= args.seed <= MAX_SEED:
        raise CliError(
            f"--seed must be 0 to {MAX_SEED}: it seeds numpy and scikit-learn, and is the explainer's Seed, a 32-bit "
            "integer in SageMaker's API.",
            EXIT_USAGE,
        )
    try:
        import skops.io  # noqa: F401
        from sklearn.datasets import load_breast_cancer  # noqa: F401
    except ImportError:
        raise CliError(
            "the demo needs scikit-learn and skops: pip install 'openclarify[sklearn]' (make demo does this).",
            EXIT_USAGE,
        ) from None
    with contextlib.ExitStack() as stack:
        if args.data_dir is None:
            data_dir = Path(tempfile.mkdtemp(prefix="openclarify-demo-"))
            stack.callback(shutil.rmtree, data_dir, True)
        else:
            data_dir = args.data_dir.expanduser().resolve()
        return Demo(out, data_dir, args).run(stack)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    def __init__(self, console: Any, data_dir: Path, args: argparse.Namespace) -> None:
        self.console = console
        self.data_dir = data_dir
        self.args = args

    def step(self, n: int, text: str) -> None:
        self.console.print(f"[bold cyan]{n}.[/] {text}")

    def run(self, stack: contextlib.ExitStack) -> int:
        from rich.markup import escape

        from openclarify.app import BackgroundServer, build_app
        from openclarify.commands.common import client, translated_errors
        from openclarify.commands.serve import sole_server
        from openclarify.process import tune_for_serving
        from openclarify.settings import Settings

        c, args = self.console, self.args
        models = self.data_dir / "models"
        fix = "Pass --data-dir a directory you can write."
        try:
            models.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot create the data directory {self.data_dir}: {exc.strerror}. {fix}") from None
        if not os.access(models, os.W_OK) or not os.access(self.data_dir, os.W_OK):
            raise CliError(f"cannot write the data directory {self.data_dir}: permission denied. {fix}")
        c.print(
            "[bold]openclarify demo[/]: a model that explains each of its predictions, served through the same "
            "API as Amazon SageMaker Clarify.\n"
        )
        settings = Settings(
            host="127.0.0.1", port=args.port or _free_port(), data_dir=self.data_dir, model_roots=(models,)
        )
        tune_for_serving()  # as `openclarify serve` runs
        stack.enter_context(sole_server(settings))  # --data-dir may name a running server's
        try:
            server = BackgroundServer(build_app(settings), settings.host, settings.port).start()
        except (OSError, RuntimeError) as exc:
            raise CliError(f"cannot start the server on port {settings.port} ({exc}); try another --port.") from None
        stack.callback(server.stop)
        url = server.url
        self.step(1, f"Started the server at [link={url}/]{url}[/link] (state in {self.data_dir}).")

        data, model_path, test, baseline = self.train(models)
        self.step(
            2,
            f"Trained a gradient-boosted classifier on scikit-learn's breast-cancer data ({len(data.target)} "
            f"tumours, {len(data.feature_names)} measurements each) to predict P(benign); saved it with skops to "
            f"{model_path}.",
        )
        sm = client("sagemaker", url)
        runtime = client("sagemaker-runtime", url)
        with translated_errors(url):
            elapsed = self.deploy(sm, model_path, list(data.feature_names), baseline)
            self.step(
                3,
                f"Through boto3, as against SageMaker: create_model, create_endpoint_config (ExplainerConfig: Kernel "
                f"SHAP against {len(baseline)} baseline rows) and create_endpoint [bold]{NAME}[/]: InService after "
                f"{elapsed:.1f} s.",
            )
            body = "\n".join(",".join(repr(float(v)) for v in row) for row in data.data[test])
            (self.data_dir / "records.csv").write_text(body + "\n")
            started = time.perf_counter()
            response = runtime.invoke_endpoint(
                EndpointName=NAME,
                Body=body,
                ContentType="text/csv",
                Accept="text/csv",
                CustomAttributes="openclarify-extended=true",
            )
            answer = json.loads(response["Body"].read())
            took = (time.perf_counter() - started) * 1e3
        self.step(
            4,
            f"invoke_endpoint with {plural(len(test), 'record')} and explanations on: answered in {took:.0f} ms (the "
            "CustomAttributes 'openclarify-extended=true' adds base values and error bars to Clarify's JSON).\n",
        )
        c.print(
            "[bold]How to read it.[/] Kernel SHAP splits each prediction into the [bold]base value[/] (the model's "
            "average prediction over the baseline rows) plus one [bold]contribution[/] per feature; the "
            "contributions add up exactly to the prediction. [green]Green[/] pushes towards benign, [red]red[/] "
            "towards malignant; ± is the standard error of the sampled estimate (0 when exact).\n"
        )
        names = list(data.feature_names)
        for i, idx in enumerate(test):
            self.show(i, answer, names, data.data[idx], str(data.target_names[data.target[idx]]))
        c.print(f"[bold]Web console[/]: {url}/", soft_wrap=True)
        c.print(f"  the playground, with charts: {url}/endpoints/{NAME}/playground", soft_wrap=True)
        c.print(f"[bold]Metrics[/]: {url}/metrics", soft_wrap=True)
        command = command_name()  # as it can be run from here: `make demo` runs .venv/bin/openclarify, not on PATH
        if args.exit:  # the server stops now (and a temporary data dir goes with it): nothing to try against
            c.print(
                f"[bold]Try it yourself[/]: run [bold]{escape(command)} demo[/] without --exit; it keeps serving and "
                "shows the commands to run against it.",
                soft_wrap=True,
            )
            return 0
        c.print("[bold]Try it yourself[/], from another terminal while this one serves:")
        c.print(f"  export AWS_ENDPOINT_URL_SAGEMAKER={url}", soft_wrap=True)
        c.print(f"  export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={url}", soft_wrap=True)
        records = shlex.quote(str(self.data_dir / "records.csv"))
        c.print(escape(f"  {command} endpoints\n  {command} invoke {NAME} {records}"), soft_wrap=True)
        c.print("\nServing until Ctrl-C.")
        try:
            while server.thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            c.print("Stopped.")
        return 0

    def train(self, models: Path) -> tuple[Any, Path, Any, Any]:
        import numpy as np
        import skops.io
        from sklearn.datasets import load_breast_cancer
        from sklearn.ensemble import GradientBoostingClassifier

        seed = self.args.seed
        data = load_breast_cancer()
        rng = np.random.default_rng(seed)
        test = rng.choice(len(data.data), size=min(self.args.records, len(data.data)), replace=False)
        train = np.setdiff1d(np.arange(len(data.data)), test)
        model = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=seed)
        model.fit(data.data[train], data.target[train])
        path = models / "breast-cancer.skops"
        skops.io.dump(model, path)
        baseline = data.data[rng.choice(train, size=BASELINE_ROWS, replace=False)]
        return data, path, test, baseline

    def deploy(self, sm: Any, model_path: Path, names: list[str], baseline: Any) -> float:
        started = time.perf_counter()
        existing = {e["EndpointName"] for e in sm.list_endpoints().get("Endpoints", [])}
        if NAME in existing:  # a --data-dir from an earlier run: redeploy with this run's model
            sm.delete_endpoint(EndpointName=NAME)
            sm.get_waiter("endpoint_deleted").wait(EndpointName=NAME, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
        with contextlib.suppress(sm.exceptions.ClientError):
            sm.delete_endpoint_config(EndpointConfigName=NAME)
        with contextlib.suppress(sm.exceptions.ClientError):
            sm.delete_model(ModelName=NAME)
        sm.create_model(
            ModelName=NAME, PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": str(model_path)}
        )
        csv = "\n".join(",".join(repr(float(v)) for v in row) for row in baseline)
        sm.create_endpoint_config(
            EndpointConfigName=NAME,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": NAME,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
            ExplainerConfig={
                "ClarifyExplainerConfig": {
                    "EnableExplanations": "`true`",
                    "InferenceConfig": {"FeatureHeaders": names},
                    "ShapConfig": {
                        "ShapBaselineConfig": {"MimeType": "text/csv", "ShapBaseline": csv},
                        "Seed": self.args.seed,
                    },
                }
            },
        )
        sm.create_endpoint(EndpointName=NAME, EndpointConfigName=NAME)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=NAME, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
        return time.perf_counter() - started

    def show(self, i: int, answer: dict[str, Any], names: list[str], row: Any, actual: str) -> None:
        from rich.table import Table

        explanation = answer["explanations"]["kernel_shap"][i]
        extra = answer["openclarify"]["kernel_shap"][i]
        prediction = answer["predictions"]["data"].splitlines()[i]
        phi = [feature["attributions"][0]["attribution"][0] for feature in explanation]
        se = [row_se[0] for row_se in extra["standard_errors"]]
        order = sorted(range(len(phi)), key=lambda j: -abs(phi[j]))
        biggest = max(abs(p) for p in phi) or 1.0
        table = Table(
            title=f"Record {i + 1}: the model predicts P(benign) = {float(prediction):.4f}   (actually {actual})",
            title_justify="left",
            show_edge=False,
        )
        table.add_column("feature", no_wrap=True)
        table.add_column("value", justify="right")
        table.add_column("contribution", justify="right")
        table.add_column("± std. error", justify="right")
        table.add_column("", no_wrap=True)
        for j in order[:TOP]:
            colour = "green" if phi[j] > 0 else "red"
            bar = "█" * max(1, round(12 * abs(phi[j]) / biggest))
            table.add_row(
                names[j], f"{row[j]:.4g}", f"[{colour}]{phi[j]:+.4f}[/]", f"{se[j]:.4f}", f"[{colour}]{bar}[/]"
            )
        rest = order[TOP:]
        table.add_row(plural(len(rest), "other feature"), "", f"{sum(phi[j] for j in rest):+.4f}", "", "")
        self.console.print(table)
        base, fx = extra["expected_value"][0], extra["f_x"][0]
        how = "exact Shapley values" if extra["exact"] else "sampled"
        self.console.print(
            f"  base value E\\[f] = {base:.4f}   +  Σ attributions = {sum(phi):+.4f}   =  f(x) = {fx:.4f}"
            f"   ({how}, {extra['model_rows']} model rows, seed {extra['seed']})\n",
            soft_wrap=True,
        )
