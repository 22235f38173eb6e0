"""SageMaker Clarify online-explainability semantics, as pure functions over bytes, dicts and arrays.

No HTTP, storage or model runtimes live here. The modules, in pipeline order (spec §5.1):

- ``config``: validate and parse ``ExplainerConfig`` (defaults filled in);
- ``records``: request bodies (``text/csv``, ``application/jsonlines``) to records and back, plus batching;
- ``baseline``: the SHAP baseline (inline or the bytes of a ``ShapBaselineUri`` file);
- ``outputs``: model responses to per-record outputs, scores and labels;
- ``enable``: the ``EnableExplanations`` JMESPath gate;
- ``response``: the byte-exact Clarify response body.
"""
