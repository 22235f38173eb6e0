"""openclarify: online Kernel SHAP explanations behind a SageMaker-Clarify-compatible API."""

__version__ = "0.1.0"
