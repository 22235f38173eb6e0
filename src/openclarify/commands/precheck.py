"""``openclarify precheck``: check a model container before turning on explanations, and print the
``ExplainerConfig`` that fits it (docs/precheck.md).

The check runs here, against the container itself: a URL (``--url``), a built-in runtime with a model file
(``--image`` + ``--model-data``), or a model registered on a server (``--model``, looked up with DescribeModel).
``--create NAME`` then creates the model, endpoint config and endpoint through boto3 and waits for InService.

Exit codes: 0 the container can be explained with the printed config; 1 it cannot as is (the findings say why);
2 usage or input error; 3 server unreachable; 4 the server refused a request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from openclarify.commands.common import (
    EXIT_REFUSED,
    CliError,
    add_server_arguments,
    client,
    endpoint_url,
    translated_errors,
)

EXIT_NOT_EXPLAINABLE = 1
WAIT = {"Delay": 1, "MaxAttempts": 300}
# ModelName, EndpointConfigName and EndpointName share this shape in SageMaker's API model (63 characters at most).
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "precheck",
        help="check a model container and print the ExplainerConfig that fits it",
        description="Send sample records to a model container one at a time, two at a time and in batches; "
        "recognise its output layout; check batching, agreement and determinism; measure its per-record cost; "
        "and print a ready-to-use ExplainerConfig.",
        epilog="Exit codes: 0 explainable with the printed config, 1 not explainable as is (see the errors), "
        "2 usage or input error, 3 server unreachable, 4 the server refused. See docs/precheck.md.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="base URL of a running model container (it serves /ping and /invocations)")
    target.add_argument("--image", help="a built-in runtime image, e.g. openclarify/xgboost (with --model-data)")
    target.add_argument("--model", metavar="NAME", help="a model registered on the server (see --endpoint-url)")
    parser.add_argument("--model-data", metavar="PATH", help="the model file for --image")
    parser.add_argument(
        "--records", metavar="FILE", type=Path, help="sample records, CSV or JSON Lines (default: stdin)"
    )
    parser.add_argument(
        "--content-type",
        action="append",
        dest="content_types",
        metavar="TYPE",
        help="content type to send: text/csv or application/jsonlines; repeatable (default: the records' format)",
    )
    parser.add_argument(
        "--accept", action="append", dest="accepts", metavar="TYPE", help="Accept to send; repeatable (default: none)"
    )
    parser.add_argument("--features-attribute", metavar="JMESPATH", help="where JSON Lines records hold features")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument(
        "--create",
        metavar="NAME",
        help="when the check passes, create model, endpoint config and endpoint NAME on the server; wait InService",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="upper bound for the whole check in seconds (default: 120)"
    )
    add_server_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from openclarify.errors import ValidationException
    from openclarify.runtimes.registry import BUILTIN_IMAGES, is_remote
    from openclarify.services.precheck import HostPolicy, PrecheckLimits, PrecheckRequest, PrecheckService, Target

    if args.image and not is_remote(args.image) and args.image not in BUILTIN_IMAGES:
        raise CliError(
            f"--image {args.image!r} is neither a built-in runtime ({', '.join(BUILTIN_IMAGES)}) nor the http(s) URL "
            "of a running model container."
        )
    if args.image and not args.model_data and not is_remote(args.image):
        raise CliError("--image needs --model-data PATH (the model file the runtime loads).")
    if args.model_data and not args.image:
        raise CliError("--model-data goes with --image.")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise CliError(f"--timeout must be a positive number of seconds, not {args.timeout:g}.")
    if args.create is not None and not NAME.fullmatch(args.create):
        # Checked before the check runs: a name SageMaker refuses would otherwise fail only after it.
        raise CliError(
            f"--create {args.create!r} is not a valid SageMaker name: 1 to 63 letters, digits and hyphens, starting "
            "and ending with a letter or digit."
        )
    limits = PrecheckLimits(
        total_seconds=args.timeout, request_timeout_seconds=min(args.timeout, 60.0), timeout_hint="--timeout"
    )
    records = _read_records(args.records, limits.max_sample_bytes)
    url = endpoint_url(args)
    if args.create is not None:
        # Before the check, which takes a while, and before anything is created: a name in use would otherwise
        # fail at CreateEndpoint, after CreateModel and CreateEndpointConfig.
        _check_free(args, url)
    if args.model:
        container = _describe_model(args.model, url, args.region)
        image = container.get("Image", "")
        if image.startswith(("http://", "https://")):
            target = Target(url=image)
        else:
            target = Target(image=image, model_data=container.get("ModelDataUrl"))
    elif args.url:
        target = Target(url=args.url)
    else:
        model_data = str(_local_path(args.model_data)) if args.model_data else None
        target = Target(image=args.image, model_data=model_data)

    roots = (_local_path(target.model_data).parent,) if target.model_data else ()
    service = PrecheckService(
        model_roots=roots,
        hosts=HostPolicy(("*",)),  # the user's own machine: any container they can reach
        limits=limits,
    )
    request = PrecheckRequest(
        target=target,
        records=records,
        content_types=tuple(args.content_types or ()),
        accepts=tuple(args.accepts or ()),
        features_attribute=args.features_attribute,
    )
    try:
        report = asyncio.run(service.run(request))
    except ValidationException as exc:
        raise CliError(exc.message) from None

    created, failure = None, None
    if args.create and report.ok:
        try:
            created = _create(args, report, url)
        except CliError as exc:  # shown after the report: its findings and config are what the user ran this for
            failure = exc
    if args.format == "json":
        payload = report.as_dict()
        if created:
            payload["endpoint"] = created
        print(json.dumps(payload, indent=2))
    else:
        _print_text(target.describe(), report, args, created, failure is not None)
    if failure is not None:
        sys.stdout.flush()  # the report before the error, when both go to one terminal or file
        raise failure
    if not report.ok:
        if args.create:
            print(f"openclarify: not creating {args.create}: the container cannot be explained as is.", file=sys.stderr)
        return EXIT_NOT_EXPLAINABLE
    return 0


def _read_records(path: Path | None, limit: int) -> bytes:
    """At most ``limit`` bytes, the most the check takes, plus one to tell a larger input: /dev/zero, or a big
    file given by mistake, is refused without being read into memory."""
    if path is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise CliError("give sample records with --records FILE or on stdin (a few CSV or JSON Lines records).")
        name = "stdin"
        read = sys.stdin.buffer.read
    else:
        name = str(path)
    try:
        if path is None:
            records = read(limit + 1)
        else:
            with path.open("rb") as stream:
                records = stream.read(limit + 1)
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}.") from None
    if len(records) > limit:
        raise CliError(
            f"{name} holds more than {limit} bytes (1 MiB), the most the pre-check takes: a few dozen records are "
            "enough."
        )
    return records


def _local_path(model_data: str) -> Path:
    parsed = urlparse(model_data)
    raw = unquote(parsed.path) if parsed.scheme == "file" else model_data
    path = Path(raw).expanduser().resolve()
    if not path.exists():
        raise CliError(f"the model file {model_data} does not exist.")
    return path


def _describe_model(name: str, url: str, region: str | None) -> dict[str, Any]:
    sm = client("sagemaker", url, region)
    with translated_errors(url):
        described = sm.describe_model(ModelName=name)
    if described.get("PrimaryContainer"):
        return dict(described["PrimaryContainer"])
    containers = described.get("Containers") or [{}]
    return dict(containers[0])


def _check_free(args: argparse.Namespace, url: str) -> None:
    """Refuse ``--create NAME`` when a model (unless ``--model`` names it), endpoint config or endpoint NAME
    exists: SageMaker refuses to create one twice."""
    name = args.create
    sm = client("sagemaker", url, args.region)
    kinds = [] if args.model else [("model", sm.describe_model, "ModelName")]
    kinds.append(("endpoint config", sm.describe_endpoint_config, "EndpointConfigName"))
    kinds.append(("endpoint", sm.describe_endpoint, "EndpointName"))
    taken = [kind for kind, describe, parameter in kinds if _exists(describe, parameter, name, url)]
    if taken:
        raise CliError(
            f"--create {name}: {_listed(taken)} {name} already {'exists' if len(taken) == 1 else 'exist'} on {url}. "
            "Pick another NAME, or delete what is there first.",
            EXIT_REFUSED,
        )


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _exists(describe: Any, parameter: str, name: str, url: str) -> bool:
    from botocore.exceptions import ClientError

    with translated_errors(url):
        try:
            describe(**{parameter: name})
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ValidationException" and "could not find" in error.get("Message", "").lower():
                return False
            raise
    return True


def _create(args: argparse.Namespace, report: Any, url: str) -> str:
    """Model (unless ``--model``), endpoint config and endpoint NAME, InService. When a create call fails (a name
    taken since :func:`_check_free`, a refused config), what this run created before it is deleted again, so that
    running it once more does not fail on its own leftovers."""
    from botocore.exceptions import WaiterError

    name = args.create
    sm = client("sagemaker", url, args.region)
    created: list[tuple[str, Any, str]] = []  # (what, delete call, its name parameter), in the order made
    try:
        with translated_errors(url):
            model = args.model
            if model is None:
                sm.create_model(ModelName=name, PrimaryContainer=report.container)
                created.append(("model", sm.delete_model, "ModelName"))
                model = name
            variant = {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1}
            sm.create_endpoint_config(
                EndpointConfigName=name,
                ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}],
                ExplainerConfig=report.explainer_config,
            )
            created.append(("endpoint config", sm.delete_endpoint_config, "EndpointConfigName"))
            sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    except CliError as exc:
        raise CliError(f"endpoint {name} not created: {exc.message}{_undo(created, name, url)}", exc.code) from None
    with translated_errors(url):
        try:
            sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=WAIT)
        except WaiterError:
            # Kept, as SageMaker keeps a Failed endpoint: DescribeEndpoint's FailureReason stays readable.
            reason = sm.describe_endpoint(EndpointName=name).get("FailureReason", "no reason given")
            raise CliError(f"endpoint {name} did not reach InService: {reason}", EXIT_NOT_EXPLAINABLE) from None
    return name


def _undo(created: list[tuple[str, Any, str]], name: str, url: str) -> str:
    """Delete what a failed ``--create`` made, newest first; what it says about that, to end the error with."""
    left = []
    for what, delete, parameter in reversed(created):
        try:
            with translated_errors(url):
                delete(**{parameter: name})
        except CliError:
            left.append(what)
    if not created:
        return ""
    if left:
        them = "it" if len(left) == 1 else "them"
        return f" The {_listed(left[::-1])} {name} this run created could not be deleted: delete {them} before a rerun."
    made = [what for what, _, _ in created]
    return f" The {_listed(made)} {name} this run created {'was' if len(made) == 1 else 'were'} deleted again."


MARKS = {"ok": "ok   ", "warn": "warn ", "error": "error"}


def _print_text(target: str, report: Any, args: argparse.Namespace, created: str | None, failed: bool) -> None:
    print(f"Pre-check of {target}")
    for finding in report.findings:
        print(f"  {MARKS.get(finding.level, finding.level)} {finding.message}")
    print()
    if not report.ok:
        errors = sum(1 for f in report.findings if f.level == "error")
        print(f"Not explainable as is: {errors} error{'s' if errors != 1 else ''} above. Fix them and run again.")
        return
    config = json.dumps(report.explainer_config, indent=2)
    print("ExplainerConfig:")
    print(config)
    print()
    name = args.create or "my-endpoint"
    model = args.model or name
    print("With boto3:")
    print(
        f'sm.create_endpoint_config(\n    EndpointConfigName="{name}",\n    ProductionVariants=[{{"VariantName": '
        f'"AllTraffic", "ModelName": "{model}", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}}],\n'
        f"    ExplainerConfig={_indent(config)},\n)"
    )
    invoke = f'EndpointName="{name}", ContentType="{report.content_type}"'
    if report.accept:
        invoke += f', Accept="{report.accept}"'
    print(f"runtime.invoke_endpoint({invoke}, Body=record)")
    print()
    # The verdict is the exit code's and --format json's "ok": this config explains requests sent with its
    # Content-Type and Accept; combinations that failed are named, not held against it.
    accept = f"Accept {report.accept}" if report.accept else "no Accept"
    print(f"Explainable with this config, for requests with Content-Type {report.content_type} and {accept}.")
    if report.not_explainable:
        print(f"Not explainable: {'; '.join(report.not_explainable)} (the errors above say why).")
    if created:
        print(f"Created model, endpoint config and endpoint {created}: InService.")
    elif not failed:  # the error on stderr says what became of --create
        print("Pass --create NAME to deploy it.")


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")
