"""``openclarify serve --ray``: the server as a Ray Serve application (docs/scaling.md).

- The ASGI app (control plane, runtime API, console) is one ingress deployment on Ray's HTTP proxy.
- Each endpoint variant's model is its own Serve application with one deployment whose ``num_replicas`` is
  InitialInstanceCount; UpdateEndpoint redeploys it under the same name, so Serve scales or rolls it in place
  while requests in flight finish.
- One big explanation fans its batches of synthetic rows out across the variant's replicas and gathers them in
  order (:class:`~openclarify.serving.ray.runtime.RayRuntime`), so the result is bitwise the single-process one.
- State lives in PostgreSQL (``--database-url``), not in any replica.

Ray is the ``ray`` extra, imported only here and only when ``--ray`` is given.
"""

from openclarify.serving.ray.driver import RaySetupError, run

__all__ = ["RaySetupError", "run"]
